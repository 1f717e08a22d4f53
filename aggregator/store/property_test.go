package store

import (
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kubedag/kubedag/tags"
)

// model is the reference Store: every claim in plain maps.
type model map[netip.Addr]map[string]Claim

func (m model) desired(ip netip.Addr) (tags.Set, bool, bool) {
	cs := m[ip]
	if len(cs) == 0 {
		return tags.Set{}, false, false
	}
	var d []string
	first, conflict := true, false
	var owner string
	for _, src := range slices.Sorted(maps.Keys(cs)) {
		c := cs[src]
		if first {
			d, owner, first = c.Tags.Slice(), c.Owner, false
			continue
		}
		conflict = conflict || c.Owner != owner
		d = slices.DeleteFunc(slices.Clone(d), func(t string) bool { return !c.Tags.Has(t) })
	}
	return tags.NewSet(d...), true, conflict
}

// TestStoreMatchesModel runs random upserts, deletes, replaces and source
// removals (IPv4, IPv6 and IPv4-mapped addresses, UUID and other owners,
// overlapping tag sets) on a Store and on the model, and compares every
// IP's desired state, claims, the counters and the interned sets after each
// step; a subscription must have seen every IP whose desired state changed.
func TestStoreMatchesModel(t *testing.T) {
	ips := []netip.Addr{
		netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.1.1"),
		netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2"),
	}
	sources := []string{"n1", "n2", "n3", "svc"}
	owners := []string{"0f8fad5b-d9cb-469f-a165-70867728950e", "1f8fad5b-d9cb-469f-a165-70867728950e", "svc-owner", ""}
	sets := []tags.Set{{}, tags.NewSet("a"), tags.NewSet("a", "b"), tags.NewSet("b", "c"), tags.NewSet("a", "b", "c")}
	for seed := range uint64(30) {
		r := rand.New(rand.NewPCG(seed, 2))
		s := New(Options{})
		sub := s.Subscribe()
		m := model{}
		claim := func() Claim {
			return Claim{Tags: sets[r.IntN(len(sets))], Owner: owners[r.IntN(len(owners))]}
		}
		put := func(src string, ip netip.Addr, c Claim) {
			if m[ip] == nil {
				m[ip] = map[string]Claim{}
			}
			m[ip][src] = c
		}
		for step := range 400 {
			before := map[netip.Addr]tags.Set{}
			for _, ip := range ips {
				before[ip], _, _ = m.desired(ip)
			}
			beforeClaimed := map[netip.Addr]bool{}
			for _, ip := range ips {
				_, beforeClaimed[ip], _ = m.desired(ip)
			}
			src := sources[r.IntN(len(sources))]
			ip := ips[r.IntN(len(ips))]
			switch r.IntN(6) {
			case 0, 1, 2:
				c := claim()
				arg := ip
				if ip.Is4() && r.IntN(4) == 0 {
					arg = netip.AddrFrom16(ip.As16()) // 4in6 names the same IP
				}
				s.Upsert(src, arg, c)
				put(src, ip, c)
			case 3:
				s.Delete(src, ip)
				delete(m[ip], src)
			case 4:
				snap := map[netip.Addr]Claim{}
				for _, ip := range ips {
					if r.IntN(2) == 0 {
						snap[ip] = claim()
					}
				}
				s.Replace(src, snap)
				for _, ip := range ips {
					delete(m[ip], src)
					if c, ok := snap[ip]; ok {
						put(src, ip, c)
					}
				}
			case 5:
				s.RemoveSource(src)
				for _, ip := range ips {
					delete(m[ip], src)
				}
			}
			dirty := sub.Take(nil)
			wantIPs, conflicts := 0, 0
			keep := map[string]bool{}
			for _, ip := range ips {
				want, claimed, conflict := m.desired(ip)
				d := s.Desired(ip)
				if d.Claimed != claimed || !d.Tags.Equal(want) || d.Conflict != conflict {
					t.Fatalf("seed %d step %d: Desired(%v) = %v claimed %v conflict %v, want %v %v %v",
						seed, step, ip, d.Tags, d.Claimed, d.Conflict, want, claimed, conflict)
				}
				if changed := !want.Equal(before[ip]) || claimed != beforeClaimed[ip]; changed && !slices.Contains(dirty, ip) {
					t.Fatalf("seed %d step %d: %v changed but is not dirty (%v)", seed, step, ip, dirty)
				}
				got := s.Claims(ip)
				if len(got) != len(m[ip]) {
					t.Fatalf("seed %d step %d: Claims(%v) = %v, want %v", seed, step, ip, got, m[ip])
				}
				for src, c := range m[ip] {
					g := got[src]
					if g.Owner != c.Owner || !g.Tags.Equal(c.Tags) {
						t.Fatalf("seed %d step %d: Claims(%v)[%s] = %+v, want %+v", seed, step, ip, src, g, c)
					}
					keep[c.Tags.Key()] = c.Tags.Len() > 0
				}
				if claimed {
					wantIPs++
				}
				if conflict {
					conflicts++
				}
			}
			nsets := 0
			for _, nonEmpty := range keep {
				if nonEmpty {
					nsets++
				}
			}
			st := s.Stats()
			if st.IPs != wantIPs || st.Conflicts != conflicts || st.InternedSets != nsets {
				t.Fatalf("seed %d step %d: Stats %+v, want IPs %d conflicts %d sets %d", seed, step, st, wantIPs, conflicts, nsets)
			}
			if got := s.AppendIPs(nil); len(got) != wantIPs {
				t.Fatalf("seed %d step %d: AppendIPs = %v", seed, step, got)
			}
		}
		if s.owners.len() > 1 {
			t.Fatalf("seed %d: %d owner strings interned, at most svc-owner expected", seed, s.owners.len())
		}
	}
}

// TestRemovedClaimDoesNotLeak: an IP that takes a removed IP's storage
// starts from nothing of it.
func TestRemovedClaimDoesNotLeak(t *testing.T) {
	s := New(Options{})
	seen := time.Unix(1700000000, 0)
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}})
	for i := range 3000 {
		s.Upsert("n1", netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Claim{Owner: "a", Tags: tags.NewSet("x"), FirstSeen: seen, Span: sc})
	}
	for i := range 3000 {
		s.Delete("n1", netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	}
	s.Upsert("n2", ip1, Claim{Owner: "other", Tags: tags.NewSet("y")})
	c := s.Claims(ip1)
	if len(c) != 1 || c["n2"].Owner != "other" || !c["n2"].FirstSeen.IsZero() || c["n2"].Span.IsValid() {
		t.Fatalf("Claims on reused storage = %+v", c)
	}
	if st := s.Stats(); st.IPs != 1 || st.InternedSets != 1 || s.owners.len() != 1 {
		t.Fatalf("Stats = %+v, owners %d", st, s.owners.len())
	}
}
