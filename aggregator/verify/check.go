package verify

import (
	"maps"
	"slices"

	"github.com/kubedag/kubedag/aggregator/podview"
	"github.com/kubedag/kubedag/tags"
)

// Reason says why a claim is not confirmed. The set is fixed (a metric
// label).
type Reason string

const (
	// ReasonKind: agents may only claim pod IPs, and a pod has no Service
	// selector (the aks and custom presets would tag one).
	ReasonKind Reason = "kind"
	// ReasonUnknownIP: no pod holds the IP.
	ReasonUnknownIP Reason = "unknown-ip"
	// ReasonOtherNode: the pods holding the IP run on other nodes.
	ReasonOtherNode Reason = "other-node"
	// ReasonHostNetwork: the IP is a node IP (hostNetwork pods), and those
	// are not tagged.
	ReasonHostNetwork Reason = "host-network"
	// ReasonNamespace, ReasonName, ReasonUID: the IP is held by another pod.
	ReasonNamespace Reason = "namespace"
	ReasonName      Reason = "name"
	ReasonUID       Reason = "uid"
	// The pod is the claimed one but its identity differs. (Services are
	// not compared: a claim's Services are the view's, see Core.)
	ReasonOwner           Reason = "owner"
	ReasonLabels          Reason = "labels"
	ReasonNamespaceLabels Reason = "namespace-labels"
	// ReasonNetwork: the IP is the pod's, but not on the claimed network:
	// a secondary (Multus) interface's IP claimed as the pod's own or with
	// another network, or the pod's own IP claimed with a network (or the
	// aggregator runs without --multus).
	ReasonNetwork Reason = "network"
)

// Reasons is every Reason, so metrics can start each series at zero.
var Reasons = []Reason{ReasonKind, ReasonUnknownIP, ReasonOtherNode, ReasonHostNetwork, ReasonNamespace, ReasonName,
	ReasonUID, ReasonOwner, ReasonLabels, ReasonNamespaceLabels, ReasonNetwork}

// moved reports whether r means the IP is not (or no longer) the claimed
// pod's on this node, as opposed to the pod's identity having changed.
func (r Reason) moved() bool {
	switch r {
	case "", ReasonOwner, ReasonLabels, ReasonNamespaceLabels, ReasonNetwork:
		return false
	}
	return true
}

// Check decides whether node may claim an IP for id, given the pods the API
// server says hold that IP. It returns "" if the claim is confirmed, else
// why not. id's Services play no part: which Services a pod backs is the
// view's to say, not the node's (Core tags a confirmed claim with the
// view's Services).
func Check(node string, id tags.Identity, holders []podview.Pod, allowHostNetwork bool) Reason {
	r, _ := check(node, id, holders, allowHostNetwork)
	return r
}

// check is Check that also returns the holder the claim is about: nil
// unless a pod on node holds the IP.
func check(node string, id tags.Identity, holders []podview.Pod, allowHostNetwork bool) (Reason, *podview.Pod) {
	if id.Kind != tags.KindPod || len(id.Selector) > 0 {
		return ReasonKind, nil
	}
	mine := onNode(node, holders)
	switch {
	case len(holders) == 0:
		return ReasonUnknownIP, nil
	case len(mine) == 0:
		return ReasonOtherNode, nil
	}
	h := closest(id, mine)
	if h.HostNetwork && !allowHostNetwork {
		return ReasonHostNetwork, &h
	}
	api := h.Identity
	switch {
	case api.Namespace != id.Namespace:
		return ReasonNamespace, &h
	case api.Name != id.Name:
		return ReasonName, &h
	case api.UID != id.UID:
		return ReasonUID, &h
	case api.OwnerKind != id.OwnerKind || api.OwnerName != id.OwnerName:
		return ReasonOwner, &h
	case !maps.Equal(api.Labels, id.Labels):
		return ReasonLabels, &h
	case !maps.Equal(api.NamespaceLabels, id.NamespaceLabels):
		return ReasonNamespaceLabels, &h
	case api.Network != id.Network:
		return ReasonNetwork, &h
	}
	return "", &h
}

// Orphan decides the fate of a confirmed claim (node, IP, id) once node's
// agent has been gone past the grace period, so only the API server still
// vouches for it. It returns the identity to keep for the IP and true while
// the IP is still the same pod's on node: the view's identity of that pod,
// which is id with the view's Services unless its identity changed (a
// relabel the agent can no longer report, so its tags follow the API). It
// returns false once the view moved the IP to another pod or node, or the
// pod is gone or terminating: the claim goes at once, which keeps a reused
// IP clean. It also returns false while a pod on another node holds the IP
// too: with the VPC CNI a dead node's IPs go to other nodes before the API
// evicts its pods, and the new holder's agent vouches for it; kept, the
// claim would leave the new owner only the tags both pods share.
//
// Keeping such claims is what lets a replica that lost its agents but not
// the API server (a leader partitioned from the agents, which keeps its
// Lease) unregister no live tag: the pods are still running, only this
// replica cannot hear their agents.
func Orphan(node string, id tags.Identity, holders []podview.Pod, allowHostNetwork bool) (tags.Identity, bool) {
	if slices.ContainsFunc(holders, func(h podview.Pod) bool { return h.Node != node }) {
		return tags.Identity{}, false
	}
	r, h := check(node, id, holders, allowHostNetwork)
	if r.moved() {
		return tags.Identity{}, false
	}
	// Not moved: the pod with id's UID holds the IP on node.
	return h.Identity, true
}

// onNode returns the holders running on node.
func onNode(node string, holders []podview.Pod) []podview.Pod {
	var mine []podview.Pod
	for _, h := range holders {
		if h.Node == node {
			mine = append(mine, h)
		}
	}
	return mine
}

// closest picks the holder the claim is about: the same UID, else the same
// namespace and name, else the same namespace, else the first.
func closest(id tags.Identity, hs []podview.Pod) podview.Pod {
	for _, match := range []func(tags.Identity) bool{
		func(a tags.Identity) bool { return a.UID == id.UID && a.Namespace == id.Namespace && a.Name == id.Name },
		func(a tags.Identity) bool { return a.Namespace == id.Namespace && a.Name == id.Name },
		func(a tags.Identity) bool { return a.Namespace == id.Namespace },
	} {
		for _, h := range hs {
			if match(h.Identity) {
				return h
			}
		}
	}
	return hs[0]
}
