package scale

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestTrackerOutstanding: a change still due at the end is described with
// what the firewall holds for its IP; acked and superseded ones are not.
func TestTrackerOutstanding(t *testing.T) {
	tr := newTracker()
	ip1, ip2 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	now := time.Now()
	tr.expect(key{ip: ip1, tag: "rev.2"}, KindRelabel, now, time.Time{})
	tr.expect(key{ip: ip2, tag: "rev.3"}, KindRelabel, now, time.Time{})
	tr.expect(key{ip: ip2, tag: "rev.1", removed: true}, KindDelete, now, time.Time{})
	tr.ack(key{ip: ip2, tag: "rev.3"}, now)
	if !tr.supersede(key{ip: ip2, tag: "rev.1", removed: true}) {
		t.Fatal("due change not superseded")
	}
	got := tr.describeOutstanding(map[netip.Addr][]string{ip1: {"rev.1"}})
	want := []string{"relabel: add rev.2 on 10.0.0.1; the firewall holds [rev.1]"}
	if !slices.Equal(got, want) {
		t.Fatalf("outstanding = %q, want %q", got, want)
	}
}
