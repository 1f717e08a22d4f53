// Package verify accepts an agent's claims only as far as the API server
// confirms them: a node can only ever assert the truth about its own pods,
// only sooner.
//
// A claim (node, IP, identity) is confirmed when the aggregator's own pod
// view (aggregator/podview) has a pod that holds the IP, runs on that node,
// and has exactly the claimed identity: namespace, name, UID, labels, owner,
// namespace labels and (Multus) network. PodCIDRs play no part, so the rule
// is the same whatever the CNI. The node's own IPs (hostNetwork pods) are
// refused unless allowed.
//
// Services are not the agent's to claim: agents do not watch EndpointSlices
// (every agent watching all of them cost the API server more than the rest
// of kubedag together). A forwarded claim carries the Services the view
// gives its pod, and when those change (an EndpointSlice starts or stops
// listing the pod) the view's change notification re-checks that IP and
// the Sink gets the claim with its new Services: no agent message is
// needed. Services in an agent's claim (agents before this change sent
// them) are ignored, not compared: the view's are the truth either way,
// and an older agent's view of them, from its own EndpointSlice watch, is
// only ever the same or behind.
//
// Check is the pure decision. Core keeps every node's claims as asserted and
// forwards to its Sink only the confirmed ones: a claim the view does not
// confirm yet waits (up to Wait, counted from the view's first sync) and is
// re-checked whenever the view changes for its IP, then refused with a
// Reason. A refused claim is still re-checked and accepted if the view
// later confirms it (level-triggered). When the view moves an IP to another
// pod or node, or the pod is gone, a forwarded claim is withdrawn at once,
// whatever the agent says; when only the pod's identity changed (a relabel
// the agent has not reported yet) it is kept for at most Wait.
//
// While a node's agent has no open stream (Options.Streaming), no update
// can come from it, so a forwarded claim whose pod's identity changed
// follows the view's identity (a relabel) instead of being refused for
// want of the agent's update. When the agent has been gone past the
// stream's grace period (NodeGone), its forwarded claims that the view
// still confirms are not withdrawn either: they stay as orphans, vouched
// for by the API server alone, until the view stops confirming them (the
// pod is deleted, terminating or its IP moves, or a pod on another node
// holds the IP too: withdrawn at once) or the node streams again (its
// snapshot replaces them). Orphan is the decision.
// So a replica cut off from the agents but not from the API server, which
// may hold the Lease, never unregisters the tags of pods that are alive,
// and a freed IP still loses its tags as soon as the API frees it.
//
// Gate wraps a Core for the stream server (it implements stream.Sink) with a
// mutex and a Run loop fed by the view's change notifications (a dirty set,
// not a queue) and a timer for the earliest deadline.
//
// Agents keep what only they can know: the earliest moment an IP is live or
// dead on the node (netlink) and the start of the tag-latency clock. A
// change of Services alone starts its clock when the gate sees it.
package verify
