package routewatch

import (
	"net/netip"
	"slices"
	"testing"
)

// TestReplaceReportsOnlyDifferences covers the resync after a subscription
// error: the fresh listing replaces the view, and only IPs whose liveness
// changed while the watcher was not listening are reported.
func TestReplaceReportsOnlyDifferences(t *testing.T) {
	a, b, c, d := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"),
		netip.MustParseAddr("10.0.0.3"), netip.MustParseAddr("fd00::4")
	rec := newRecorder()
	w, err := New(Config{Sink: rec})
	if err != nil {
		t.Fatal(err)
	}
	old := newState()
	old.addRoute(a, routeKey{link: 5, table: 254}) // stays
	old.addRoute(b, routeKey{link: 6, table: 254}) // vanished while away
	old.addNeigh(c, 7)                             // gains a route
	w.replace(old)
	rec.events = nil

	fresh := newState()
	fresh.addRoute(a, routeKey{link: 5, table: 254})
	fresh.addNeigh(c, 7)
	fresh.addRoute(c, routeKey{link: 7, table: 254})
	fresh.addRoute(d, routeKey{link: 8, table: 254}) // appeared while away
	w.replace(fresh)

	got := slices.Clone(rec.events)
	slices.Sort(got)
	want := []string{
		"10.0.0.2 {Route:false Neighbour:false}",
		"10.0.0.3 {Route:true Neighbour:true}",
		"fd00::4 {Route:true Neighbour:false}",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}

func TestStateLinkDrop(t *testing.T) {
	s := newState()
	ip := netip.MustParseAddr("10.0.0.1")
	s.addRoute(ip, routeKey{link: 5, table: 254})
	s.addRoute(ip, routeKey{link: 6, table: 100})
	s.addNeigh(ip, 5)
	if got := s.ipsOnLink(5); len(got) != 1 || got[0] != ip {
		t.Fatalf("ipsOnLink(5) = %v", got)
	}
	s.dropLink(ip, 5)
	if l := s.liveness(ip); l != (Liveness{Route: true}) {
		t.Fatalf("after dropping link 5: %+v, want the table-100 route only", l)
	}
	s.delTable(ip, 100)
	if _, ok := s.ips[ip]; ok {
		t.Fatal("entry kept after its last route went")
	}
}
