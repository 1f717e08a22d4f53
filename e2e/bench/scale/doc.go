// Package scale measures kubedag at cluster scale on a real API server
// (e2e/cluster: kube-apiserver, etcd, controller-manager, kwok playing
// every node's kubelet): Config.Nodes kwok nodes, each with its own agent
// (in this process, each with its own node identity, its own node-scoped
// informers through agent/kubeapi and its own streams, as in production),
// Config.Replicas aggregators, each its own process (./aggregator: the
// production core and stream server, so its CPU time and memory are its
// own) campaigning for one Lease: the holder pushes, the others are hot
// standbys. Every agent streams to every replica, resolving one DNS name
// (e2e/dnstest standing in for the headless Service) as in production. A
// PAN-OS emulator answers after Config.FirewallLatency.
//
// The load: Config.Pods pods created at Config.Rate API writes per second,
// then for Config.Churn a steady mix at the same rate (per four writes: two
// relabels, one delete, one create). Every write gives the pod a new value
// of its label "rev", so each change has a tag of its own at the firewall.
//
// What it reports:
//
//   - Tag latency from the API write to the firewall's acknowledgement (the
//     pusher's Applied and Removed hooks), p50/p99/max, per kind of change.
//     A relabel's or delete's clock starts when the bench sends the write;
//     a create's when the pod, Running with its IP (kwok's status write), is
//     seen by a cluster-wide watch in this process (the write's own time is
//     not observable; a watch sees it within milliseconds).
//   - Each aggregator process's CPU (ms per second, during churn) and
//     memory (VmRSS, VmHWM) read from /proc, side by side with its role
//     (leader or standby), the size of its desired state (GET /status)
//     and the firewall calls it made: a standby holds the leader's state
//     and makes none.
//   - The API server's watch load caused by the agents (every agent's pods of
//     its node, plus all Namespaces; not EndpointSlices, whose Services the
//     aggregator derives) compared, in the same run, with one cluster-wide informer
//     of pods, EndpointSlices and Namespaces (the Panorama plugins' model):
//     watch requests opened, objects and events delivered, bytes received,
//     all counted on the client side (protobuf for both).
//
// The run needs root for nothing and the control-plane tools of `make
// tools`. It is a benchmark: TestScale (scale_test.go) runs it on a small
// size by default and checks only that every change was acknowledged, the
// figures are sane, one replica led throughout and every standby held the
// same claims and made no firewall call; `make bench` runs it at 50 nodes
// and 2,500 pods, BENCH_LONG=1 at 200 nodes and 10,000 pods (flags
// -scale.*).
package scale
