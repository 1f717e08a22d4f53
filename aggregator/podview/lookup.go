package podview

import (
	"net/netip"
	"slices"
)

// Named is a pod looked up by name (for `kubedag explain`).
type Named struct {
	Pod
	// IPs are the IPs the pod holds: none while it has none yet, or when
	// it is terminating or finished (its IPs may be another pod's).
	IPs []netip.Addr
	// Reported are the IPs its status reports, held or not.
	Reported []netip.Addr
}

// ByName returns the pod namespace/name as the view has it.
func (v *View) ByName(namespace, name string) (Named, bool) {
	obj, ok, err := v.pods.GetIndexer().GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return Named{}, false
	}
	p, ok := obj.(*Facts)
	if !ok {
		return Named{}, false
	}
	n := Named{Pod: Pod{Node: p.Node, HostNetwork: p.HostNetwork, Identity: v.identity(p)}, Reported: slices.Clone(p.IPs)}
	if holdsIPs(p) {
		n.IPs = slices.Clone(p.IPs)
	}
	return n, true
}
