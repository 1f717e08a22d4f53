// Package podwatch derives the identities of the pod IPs on one node from the
// Kubernetes API: its pods (field selector spec.nodeName) and their
// Namespaces' labels. Which Services a pod backs is not in its claims: the
// aggregator derives that from its own cluster-wide view of the
// EndpointSlices (aggregator/verify), so no agent watches them (each would
// receive every EndpointSlice change of the cluster).
//
// # Usage
//
// Build a Watcher with New (no goroutines are started), then call Run, which
// starts the informers, waits for them to sync and then reconciles until its
// context is done. Results go to a Sink as per-IP Upsert and Remove calls.
//
// The watcher is level-triggered: event handlers only mark pod keys dirty and
// poke the reconcile loop, which recomputes the claims of the dirty pods from
// the informer caches and tells the Sink only about IPs whose identity
// actually changed. Nothing depends on replaying a particular event, and
// nothing is written to the Sink before all informers have synced.
//
// # Rules
//
//   - Every IP of status.podIPs (IPv4 and IPv6) is claimed with the pod's
//     tags.Identity; pods without IPs claim nothing.
//   - With Config.Multus, the IPs of the pod's secondary interfaces (the
//     non-default entries of its k8s.v1.cni.cncf.io/network-status
//     annotation, podidentity.SecondaryIPs) are claimed too, with the
//     identity plus Identity.Network; a malformed annotation is logged and
//     adds nothing.
//   - Pods that are terminating (deletionTimestamp set), Failed or Succeeded
//     release their IPs.
//   - hostNetwork pods share the node's IPs and claim nothing unless
//     Config.AllowHostNetwork is set.
//   - When two local pods report the same IP, one wins deterministically
//     (a Running pod over a Pending one, then the newest, then the larger
//     UID); the conflict is logged and counted, never fatal.
//
// Informer caches hold trimmed objects (only the fields used here), so the
// agent's memory stays small. The maps
// in the Identities handed to the Sink are shared with those caches: they
// must be treated as read-only.
package podwatch
