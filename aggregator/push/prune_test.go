package push

import (
	"net/netip"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/tags"
)

// TestPruningLatencyCountsFromFilterChange: a tag a new DAG brings waited
// on the filter, not on the claim: its tag latency counts from the filter
// change, while a claim made after that counts from its own first sight.
func TestPruningLatencyCountsFromFilterChange(t *testing.T) {
	clk := newFakeClock()
	st := store.New(store.Options{})
	filter := NewFilterVar(keepOnly{"k8s.a"})
	type applied struct {
		ip        netip.Addr
		firstSeen time.Time
		added     []string
	}
	var got []applied
	opts := quietOptions()
	opts.Now, opts.Filter = clk.Now, filter
	opts.Hooks.Applied = func(_ string, ip netip.Addr, firstSeen time.Time, _ trace.SpanContext, added []string) {
		got = append(got, applied{ip, firstSeen, added})
	}
	p, err := New(newFakeFirewall(clk), st, opts)
	if err != nil {
		t.Fatal(err)
	}
	d := newDriver(t, p, clk)
	defer d.Close()
	d.step()
	ip1, ip2 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	claimed := clk.Now()
	st.Upsert("n", ip1, store.Claim{Owner: "u1", Tags: tags.NewSet("k8s.a", "k8s.b"), FirstSeen: claimed})
	d.flush()
	clk.Advance(10 * time.Minute)
	changed := clk.Now()
	filter.Set(keepOnly{"k8s.a", "k8s.b"})
	d.flush()
	clk.Advance(time.Minute)
	later := clk.Now()
	st.Upsert("n", ip2, store.Claim{Owner: "u2", Tags: tags.NewSet("k8s.b"), FirstSeen: later})
	d.flush()
	want := []applied{{ip1, claimed, []string{"k8s.a"}}, {ip1, changed, []string{"k8s.b"}}, {ip2, later, []string{"k8s.b"}}}
	if len(got) != len(want) {
		t.Fatalf("Applied calls %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].ip != want[i].ip || !got[i].firstSeen.Equal(want[i].firstSeen) || len(got[i].added) != 1 || got[i].added[0] != want[i].added[0] {
			t.Errorf("Applied[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}
