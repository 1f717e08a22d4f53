package bench

import (
	"net/netip"
	"sync"

	"github.com/kubedag/kubedag/aggregator/podview"
	"github.com/kubedag/kubedag/tags"
)

// podView stands in for the aggregator's pod view (an informer on the API
// server): the bench plays the API server, recording each pod before its
// agent claims it, so the production claim gate (verify.Gate) checks every
// streamed claim as it would in a cluster. It implements verify.View.
//
// Unlike the informer-backed view it does not tell the gate of changes
// (Gate.Changed): as every pod is recorded before its claim, each claim is
// confirmed on arrival and none waits. A bench change replaces the pod on
// an IP at once, which a cluster never does (the old pod is deleted, then
// a new one gets the IP); a recheck would withdraw the old pod's claim
// ahead of the agent's update and split one change into two firewall
// updates, an artifact of the bench rather than what a cluster sees.
type podView struct {
	synced chan struct{}

	mu   sync.RWMutex
	pods map[netip.Addr]podview.Pod
}

func newPodView() *podView {
	v := &podView{synced: make(chan struct{}), pods: map[netip.Addr]podview.Pod{}}
	close(v.synced) // the bench fills the view before any agent connects
	return v
}

// set records that the pod id on node holds ip.
func (v *podView) set(ip netip.Addr, node string, id tags.Identity) {
	v.mu.Lock()
	v.pods[ip] = podview.Pod{Node: node, Identity: id}
	v.mu.Unlock()
}

func (v *podView) Holders(ip netip.Addr) []podview.Pod {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if p, ok := v.pods[ip]; ok {
		return []podview.Pod{p}
	}
	return nil
}

func (v *podView) Synced() <-chan struct{} { return v.synced }
