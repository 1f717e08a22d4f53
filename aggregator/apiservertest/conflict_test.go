package apiservertest

import (
	"net/netip"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/tags"
)

// TestConflictTraced: an IP-reuse conflict (two owners claim one IP) starts
// and ends with a kubedag.ip.conflict span naming the IP.
func TestConflictTraced(t *testing.T) {
	e := newEnv(t, "conflict", 1)
	r := e.startAggregator("conflict", e.config("fw", ""), nil)
	defer r.kill(t)

	ip := netip.MustParseAddr("10.250.0.7")
	st := r.agg.Store()
	st.Upsert("node/old", ip, store.Claim{Tags: tags.NewSet("k8s.cl_it.a"), Owner: "uid-old"})
	st.Upsert("node/new", ip, store.Claim{Tags: tags.NewSet("k8s.cl_it.b"), Owner: "uid-new"})
	st.Delete("node/old", ip)

	want := map[bool]bool{true: false, false: false} // started -> seen
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && !(want[true] && want[false]) {
		for _, s := range spans.GetSpans() {
			if s.Name != "kubedag.ip.conflict" {
				continue
			}
			var ipOK, started bool
			for _, a := range s.Attributes {
				switch string(a.Key) {
				case "kubedag.ip":
					ipOK = a.Value.AsString() == ip.String()
				case "kubedag.conflict.started":
					started = a.Value.AsBool()
				}
			}
			if ipOK {
				want[started] = true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !want[true] || !want[false] {
		t.Fatalf("conflict spans seen (started -> seen): %v", want)
	}
}
