// Package ipsource combines the two sources of pod IP knowledge, the
// Kubernetes API (package podwatch) and the node's routing table (package
// routewatch), into the claims the agent publishes in its nodestate, as
// chosen by --ip-source=api|netlink|both.
//
// # Modes
//
//   - api: an IP is claimed exactly while the API says a local pod holds it.
//     Netlink is not used at all (the agent does not even start routewatch).
//   - netlink: an IP is claimed while the API names its pod AND a host route
//     to it exists. A pod whose route has not appeared yet is not claimed;
//     a vanished route withdraws the claim at once.
//   - both (default): the API alone suffices to claim. A route only makes
//     things faster: its appearance timestamps the claim, and once a route
//     was seen for the current pod (same UID), the route vanishing withdraws
//     the claim at once, before the API reports the pod gone, until the
//     route comes back or the API names another pod for the IP. CNIs
//     without per-pod host routes therefore behave exactly as in api mode.
//
// Neighbour entries only ever timestamp (they are garbage-collected while
// pods live, so their absence proves nothing).
//
// # Latency clock
//
// Every claim handed to the nodestate carries FirstSeen, the earliest moment
// the node saw the change (route or neighbour appearance, or the informer
// event), and the SpanContext of an OpenTelemetry span (tracer
// "kubedag/agent") started at FirstSeen. The local span ends as the claim is
// handed over; the aggregator continues the trace until the firewall acks.
//
// A Combiner holds no goroutine: podwatch and routewatch call it from
// their own, under its lock.
package ipsource
