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
	// The pod is the claimed one but its identity differs.
	ReasonOwner           Reason = "owner"
	ReasonLabels          Reason = "labels"
	ReasonServices        Reason = "services"
	ReasonNamespaceLabels Reason = "namespace-labels"
	// ReasonNetwork: the IP is the pod's, but not on the claimed network:
	// a secondary (Multus) interface's IP claimed as the pod's own or with
	// another network, or the pod's own IP claimed with a network (or the
	// aggregator runs without --multus).
	ReasonNetwork Reason = "network"
)

// Reasons is every Reason, so metrics can start each series at zero.
var Reasons = []Reason{ReasonKind, ReasonUnknownIP, ReasonOtherNode, ReasonHostNetwork, ReasonNamespace, ReasonName,
	ReasonUID, ReasonOwner, ReasonLabels, ReasonServices, ReasonNamespaceLabels, ReasonNetwork}

// moved reports whether r means the IP is not (or no longer) the claimed
// pod's on this node, as opposed to the pod's identity having changed.
func (r Reason) moved() bool {
	switch r {
	case "", ReasonOwner, ReasonLabels, ReasonServices, ReasonNamespaceLabels, ReasonNetwork:
		return false
	}
	return true
}

// Check decides whether node may claim an IP for id, given the pods the API
// server says hold that IP. It returns "" if the claim is confirmed, else
// why not.
func Check(node string, id tags.Identity, holders []podview.Pod, allowHostNetwork bool) Reason {
	if id.Kind != tags.KindPod || len(id.Selector) > 0 {
		return ReasonKind
	}
	mine := onNode(node, holders)
	switch {
	case len(holders) == 0:
		return ReasonUnknownIP
	case len(mine) == 0:
		return ReasonOtherNode
	}
	h := closest(id, mine)
	if h.HostNetwork && !allowHostNetwork {
		return ReasonHostNetwork
	}
	api := h.Identity
	switch {
	case api.Namespace != id.Namespace:
		return ReasonNamespace
	case api.Name != id.Name:
		return ReasonName
	case api.UID != id.UID:
		return ReasonUID
	case api.OwnerKind != id.OwnerKind || api.OwnerName != id.OwnerName:
		return ReasonOwner
	case !maps.Equal(api.Labels, id.Labels):
		return ReasonLabels
	case !slices.Equal(api.Services, id.Services):
		return ReasonServices
	case !maps.Equal(api.NamespaceLabels, id.NamespaceLabels):
		return ReasonNamespaceLabels
	case api.Network != id.Network:
		return ReasonNetwork
	}
	return ""
}

// Orphan decides the fate of a confirmed claim (node, IP, id) once node's
// agent has been gone past the grace period, so only the API server still
// vouches for it. It returns the identity to keep for the IP and true while
// the IP is still the same pod's on node: id itself, or the view's identity
// of that pod when only its identity changed (a relabel the agent can no
// longer report, so its tags follow the API). It returns false once the
// view moved the IP to another pod or node, or the pod is gone or
// terminating: the claim goes at once, which keeps a reused IP clean.
//
// Keeping such claims is what lets a replica that lost its agents but not
// the API server (a leader partitioned from the agents, which keeps its
// Lease) unregister no live tag: the pods are still running, only this
// replica cannot hear their agents.
func Orphan(node string, id tags.Identity, holders []podview.Pod, allowHostNetwork bool) (tags.Identity, bool) {
	switch r := Check(node, id, holders, allowHostNetwork); {
	case r == "":
		return id, true
	case r.moved():
		return tags.Identity{}, false
	}
	// Not moved: the pod with id's UID holds the IP on node.
	return closest(id, onNode(node, holders)).Identity, true
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
