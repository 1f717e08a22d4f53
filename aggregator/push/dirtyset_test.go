package push

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator/ipmap"
	"github.com/kubedag/kubedag/aggregator/store"
)

// TestDirtySet: the subscription's set becomes the pending set when
// nothing is pending and is merged otherwise; the canary and floor marker
// IPs never become pending either way, as with Dirty.
func TestDirtySet(t *testing.T) {
	canary, floor := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("203.0.113.254")
	a, b, c := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fd00::3")
	set := func(ips ...netip.Addr) ipmap.Set {
		var s ipmap.Set
		for _, ip := range ips {
			s.Add(ip)
		}
		return s
	}
	tests := []struct {
		name    string
		pending []netip.Addr // Dirty before
		dirty   []netip.Addr // DirtySet
		want    []netip.Addr
	}{
		{"adopt", nil, []netip.Addr{a, b}, []netip.Addr{a, b}},
		{"adopt without reserved", nil, []netip.Addr{canary, a, floor, c}, []netip.Addr{a, c}},
		{"merge", []netip.Addr{a}, []netip.Addr{b, c}, []netip.Addr{a, b, c}},
		{"merge without reserved", []netip.Addr{a}, []netip.Addr{canary, floor, b}, []netip.Addr{a, b}},
		{"empty", []netip.Addr{a}, nil, []netip.Addr{a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := quietOptions()
			opts.Canary = Canary{IP: canary, Tag: "k8s.canary", FloorIP: floor}
			e := newEngine(store.New(store.Options{}), opts)
			now := time.Unix(1700000000, 0)
			e.Dirty(now, tt.pending)
			e.DirtySet(now, set(tt.dirty...))
			got := e.pending.AppendTo(nil)
			slices.SortFunc(got, netip.Addr.Compare)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("pending = %v, want %v", got, tt.want)
			}
		})
	}
}
