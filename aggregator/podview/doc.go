// Package podview is the aggregator's own, trimmed, cluster-wide view of
// pods, of the EndpointSlices that list them and of their Namespaces: from
// it, which pods hold an IP, on which node, and the identity (namespace,
// name, UID, labels, owner, Services, namespace labels) the API gives them.
// Agent claims are checked against this view (aggregator/verify), so the
// API, not a node, decides who an IP is.
//
// Informer caches hold trimmed objects (only the fields identity needs) and
// pods are indexed by IP, so a lookup is a map read and memory stays small
// at cluster scale. Identities are derived the way the agent's podwatch
// derives them, so an honest agent's claim equals the view's identity,
// except for the Services, which only the view derives (agents do not
// watch EndpointSlices; aggregator/verify adds them to confirmed claims).
//
// With Options.Multus, a pod also holds the IPs of its secondary (Multus)
// interfaces, from its network-status annotation; their holder's identity
// carries the network (tags.Identity.Network), as the agent's claims do.
//
// Pods that are terminating, Failed or Succeeded hold no IPs (the agent
// releases them too): their IPs may already belong to another pod.
package podview
