package store

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kubedag/kubedag/tags"
)

var (
	ip1 = netip.MustParseAddr("10.0.0.1")
	ip2 = netip.MustParseAddr("10.0.0.2")
	ip3 = netip.MustParseAddr("10.0.0.3")
)

func claim(owner string, ts ...string) Claim { return Claim{Owner: owner, Tags: tags.NewSet(ts...)} }

type op func(s *Store)

func up(src string, ip netip.Addr, c Claim) op { return func(s *Store) { s.Upsert(src, ip, c) } }
func del(src string, ip netip.Addr) op         { return func(s *Store) { s.Delete(src, ip) } }
func rm(src string) op                         { return func(s *Store) { s.RemoveSource(src) } }
func repl(src string, m map[netip.Addr]Claim) op {
	return func(s *Store) { s.Replace(src, m) }
}

func TestDesired(t *testing.T) {
	tests := []struct {
		name          string
		ops           []op
		want          map[netip.Addr][]string // absent key = unclaimed
		conflicts     int
		conflictTotal uint64
	}{
		{"single claim", []op{up("n1", ip1, claim("a", "x", "y"))},
			map[netip.Addr][]string{ip1: {"x", "y"}}, 0, 0},
		{"update replaces", []op{up("n1", ip1, claim("a", "x")), up("n1", ip1, claim("a", "z"))},
			map[netip.Addr][]string{ip1: {"z"}}, 0, 0},
		{"ip reuse intersects", []op{up("n1", ip1, claim("a", "ns", "old")), up("n2", ip1, claim("b", "ns", "new"))},
			map[netip.Addr][]string{ip1: {"ns"}}, 1, 1},
		{"conflict resolves when old claim goes", []op{
			up("n1", ip1, claim("a", "ns", "old")), up("n2", ip1, claim("b", "ns", "new")), del("n1", ip1)},
			map[netip.Addr][]string{ip1: {"new", "ns"}}, 0, 1},
		{"conflict resolves when new claim goes", []op{
			up("n1", ip1, claim("a", "ns", "old")), up("n2", ip1, claim("b", "ns", "new")), del("n2", ip1)},
			map[netip.Addr][]string{ip1: {"ns", "old"}}, 0, 1},
		{"three claims", []op{
			up("n1", ip1, claim("a", "p", "q", "r")), up("n2", ip1, claim("b", "p", "q")), up("n3", ip1, claim("c", "q", "r")), del("n2", ip1)},
			map[netip.Addr][]string{ip1: {"q", "r"}}, 1, 1},
		{"same owner two sources is not a conflict", []op{up("n1", ip1, claim("a", "x", "y")), up("svc", ip1, claim("a", "x"))},
			map[netip.Addr][]string{ip1: {"x"}}, 0, 0},
		{"delete last claim", []op{up("n1", ip1, claim("a", "x")), del("n1", ip1)}, map[netip.Addr][]string{}, 0, 0},
		{"delete by other source ignored", []op{up("n1", ip1, claim("a", "x")), del("n2", ip1)},
			map[netip.Addr][]string{ip1: {"x"}}, 0, 0},
		{"replace withdraws missing", []op{
			up("n1", ip1, claim("a", "x")), up("n1", ip2, claim("b", "y")),
			repl("n1", map[netip.Addr]Claim{ip2: claim("b", "y2"), ip3: claim("c", "z")})},
			map[netip.Addr][]string{ip2: {"y2"}, ip3: {"z"}}, 0, 0},
		{"remove source", []op{
			up("n1", ip1, claim("a", "x")), up("n2", ip1, claim("b", "x", "w")), up("n1", ip2, claim("c", "y")), rm("n1")},
			map[netip.Addr][]string{ip1: {"w", "x"}}, 0, 1},
		{"empty claim", []op{up("n1", ip1, claim("a"))}, map[netip.Addr][]string{ip1: nil}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{})
			for _, o := range tt.ops {
				o(s)
			}
			for _, ip := range []netip.Addr{ip1, ip2, ip3} {
				d := s.Desired(ip)
				want, claimed := tt.want[ip]
				if d.Claimed != claimed || !slices.Equal(d.Tags.Slice(), want) {
					t.Errorf("Desired(%v) = %v claimed=%v, want %v claimed=%v", ip, d.Tags.Slice(), d.Claimed, want, claimed)
				}
			}
			st := s.Stats()
			if st.IPs != len(tt.want) || st.Conflicts != tt.conflicts || st.ConflictsTotal != tt.conflictTotal {
				t.Errorf("Stats = %+v, want IPs %d conflicts %d total %d", st, len(tt.want), tt.conflicts, tt.conflictTotal)
			}
		})
	}
}

func TestInterning(t *testing.T) {
	s := New(Options{})
	s.Upsert("n1", ip1, claim("a", "x", "y"))
	s.Upsert("n1", ip2, claim("b", "y", "x"))
	if s.Stats().InternedSets != 1 {
		t.Fatalf("InternedSets = %d, want 1", s.Stats().InternedSets)
	}
	a, b := s.Desired(ip1).Tags, s.Desired(ip2).Tags
	if &a.Slice()[0] != &b.Slice()[0] {
		t.Fatal("equal tag sets not shared")
	}
	s.Delete("n1", ip1)
	s.Delete("n1", ip2)
	if s.Stats().InternedSets != 0 {
		t.Fatalf("InternedSets after deletes = %d, want 0", s.Stats().InternedSets)
	}
}

func TestSubscription(t *testing.T) {
	s := New(Options{})
	s.Upsert("n1", ip1, claim("a", "x"))
	sub := s.Subscribe()
	defer sub.Close()
	select {
	case <-sub.C():
	default:
		t.Fatal("new subscription with state not poked")
	}
	if got := sub.Take(nil); !slices.Equal(got, []netip.Addr{ip1}) {
		t.Fatalf("initial Take = %v", got)
	}
	// Many changes to one IP merge into one dirty entry.
	for range 100 {
		s.Upsert("n1", ip2, claim("b", "y"))
		s.Upsert("n1", ip2, claim("b", "z"))
	}
	// A change that leaves desired equal does not dirty.
	s.Upsert("n1", ip1, claim("a", "x"))
	<-sub.C()
	select {
	case <-sub.C():
		t.Fatal("poke channel holds more than one")
	default:
	}
	if got := sub.Take(nil); !slices.Equal(got, []netip.Addr{ip2}) {
		t.Fatalf("Take = %v, want [%v]", got, ip2)
	}
	if sub.Len() != 0 {
		t.Fatal("Take did not clear")
	}
	sub.Close()
	s.Upsert("n1", ip3, claim("c", "z"))
	if got := sub.Take(nil); len(got) != 0 {
		t.Fatalf("closed subscription got %v", got)
	}
	sub.Close()
}

func TestOnConflict(t *testing.T) {
	var events []bool
	s := New(Options{OnConflict: func(ip netip.Addr, started bool) { events = append(events, started) }})
	s.Upsert("n1", ip1, claim("a", "x"))
	s.Upsert("n2", ip1, claim("b", "x"))
	s.Upsert("n3", ip1, claim("c", "x"))
	s.RemoveSource("n1")
	s.RemoveSource("n2")
	if !slices.Equal(events, []bool{true, false}) {
		t.Fatalf("conflict events = %v, want [true false]", events)
	}
}

func TestClaimRoundTrip(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("0102030405060708090a0b0c0d0e0f10")
	sid, _ := trace.SpanIDFromHex("0102030405060708")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	seen := time.Unix(1700000000, 123)
	for _, owner := range []string{"0f8fad5b-d9cb-469f-a165-70867728950e", "0F8FAD5B-D9CB-469F-A165-70867728950E", "not-a-uuid", ""} {
		s := New(Options{})
		v6 := netip.MustParseAddr("fd00::1")
		mapped := netip.MustParseAddr("::ffff:10.0.0.9")
		s.Upsert("n1", v6, Claim{Owner: owner, Tags: tags.NewSet("x"), FirstSeen: seen, Span: sc})
		s.Upsert("n1", mapped, Claim{Owner: owner})
		c := s.Claims(v6)["n1"]
		if c.Owner != owner || !c.FirstSeen.Equal(seen) || c.Span.TraceID() != tid || c.Span.SpanID() != sid || !c.Span.IsSampled() {
			t.Errorf("round trip of owner %q: got %+v", owner, c)
		}
		if d := s.Desired(netip.MustParseAddr("10.0.0.9")); !d.Claimed {
			t.Error("4in6 claim not found by its IPv4 address")
		}
		ips := s.AppendIPs(nil)
		slices.SortFunc(ips, netip.Addr.Compare)
		if !slices.Equal(ips, []netip.Addr{netip.MustParseAddr("10.0.0.9"), v6}) {
			t.Errorf("AppendIPs = %v", ips)
		}
	}
}

func TestTakeSet(t *testing.T) {
	s := New(Options{})
	sub := s.Subscribe()
	defer sub.Close()
	s.Upsert("n1", ip1, claim("a", "x"))
	s.Upsert("n1", ip2, claim("b", "x"))
	got := sub.TakeSet()
	if got.Len() != 2 || !got.Has(ip1) || !got.Has(ip2) || sub.Len() != 0 {
		t.Fatalf("TakeSet = %v (len %d), left %d", got.AppendTo(nil), got.Len(), sub.Len())
	}
	// The taken set is the caller's: later changes go to a new one.
	s.Upsert("n1", ip3, claim("c", "x"))
	if got.Has(ip3) || sub.Len() != 1 {
		t.Fatalf("a change after TakeSet reached the taken set (%v) or not the subscription (%d)", got.AppendTo(nil), sub.Len())
	}
}
