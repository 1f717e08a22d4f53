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
type podView struct {
	synced chan struct{}

	mu   sync.RWMutex
	pods map[netip.Addr]podview.Pod
	// onChange is the gate's Changed, called after the view changed, as
	// the informer-backed view calls its OnChange.
	onChange func([]netip.Addr)
}

func newPodView() *podView {
	v := &podView{synced: make(chan struct{}), pods: map[netip.Addr]podview.Pod{}, onChange: func([]netip.Addr) {}}
	close(v.synced) // the bench fills the view before any agent connects
	return v
}

// set records that the pod id on node holds ip.
func (v *podView) set(ip netip.Addr, node string, id tags.Identity) {
	v.mu.Lock()
	v.pods[ip] = podview.Pod{Node: node, Identity: id}
	v.mu.Unlock()
	v.onChange([]netip.Addr{ip})
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
