// Package routewatch reports pod IP liveness from the node's routing table:
// it subscribes (netlink) to route, neighbour and link updates in the host
// network namespace and tells a Sink, per IP, whether a host route and/or a
// neighbour entry for it exists on a pod interface.
//
// Most CNIs (AWS VPC CNI, Calico, Cilium in routing mode, ptp) install one
// host route per pod IP (a /32 or /128 through the pod's host-side
// interface). The route appearing is the earliest moment the IP is live on
// the node, its disappearing the earliest moment it is dead.
//
// # What counts
//
//   - Routes: host routes (/32, /128) of type unicast in any table whose
//     output interface name starts with one of Config.LinkPrefixes (default
//     veth, eni, cali, lxc, azv, gke), or, with Config.AnyScopeLink, any
//     scope-link host route whatever its interface. Link-local and
//     multicast destinations are ignored.
//   - Neighbours (secondary signal, Config.Neighbours): neighbour entries on
//     such interfaces in a usable state (not INCOMPLETE, FAILED or NOARP).
//     They help with CNIs that bridge pods instead of routing them, but the
//     kernel garbage-collects them while a pod lives, so consumers should
//     treat a vanishing neighbour as "no longer seen", not as "dead".
//   - Links: the kernel flushes IPv4 routes silently when their interface is
//     deleted or set down (no RTM_DELROUTE), as happens when a pod's network
//     namespace is destroyed, so link removal and admin-down drop every
//     route and neighbour through that link.
//
// # Consistency
//
// The watcher subscribes first, then lists links, routes and neighbours,
// replaces its view with the listing (reporting only the differences) and
// then applies the subscribed updates. Any subscription error (for example
// ENOBUFS when the socket overflowed) ends the session; after a backoff the
// watcher subscribes and lists again, so a lost update is repaired by the
// next listing. (The netlink library's ListExisting option is not used: it
// does not mark the end of the dump, so it cannot reveal routes deleted
// while the watcher was not listening.)
//
// The watcher only listens; it needs no NET_ADMIN. Run stops every netlink
// subscription (through its done channel) and waits for the library's
// goroutines before it returns.
package routewatch
