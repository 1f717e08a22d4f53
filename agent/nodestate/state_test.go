package nodestate

import (
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kubedag/kubedag/tags"
)

func claim(ip, name string, labels map[string]string) Claim {
	return Claim{
		IP:        netip.MustParseAddr(ip),
		Identity:  tags.Identity{Kind: tags.KindPod, Namespace: "ns", Name: name, UID: "uid-" + name, Labels: labels},
		FirstSeen: time.Unix(100, 0),
	}
}

func ips(cs []Claim) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.IP.String())
	}
	return out
}

func addrs(as []netip.Addr) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

func drained(r *Reader) bool {
	select {
	case <-r.Changed():
		return true
	default:
		return false
	}
}

func TestTakeDirty(t *testing.T) {
	tests := []struct {
		name        string
		before      func(s *State) // applied, then Snapshot taken
		ops         func(s *State, r *Reader)
		wantUpserts []string
		wantDeletes []string
		wantLen     int
	}{
		{
			name:        "set new",
			ops:         func(s *State, r *Reader) { s.Set(claim("10.0.0.1", "a", nil)) },
			wantUpserts: []string{"10.0.0.1"},
			wantLen:     1,
		},
		{
			name: "set then delete coalesces to delete",
			ops: func(s *State, r *Reader) {
				s.Set(claim("10.0.0.1", "a", nil))
				s.Delete(netip.MustParseAddr("10.0.0.1"))
			},
			wantLen: 0, wantDeletes: []string{"10.0.0.1"},
		},
		{
			name:   "delete then set coalesces to upsert",
			before: func(s *State) { s.Set(claim("10.0.0.1", "a", nil)) },
			ops: func(s *State, r *Reader) {
				s.Delete(netip.MustParseAddr("10.0.0.1"))
				s.Set(claim("10.0.0.1", "b", nil))
			},
			wantUpserts: []string{"10.0.0.1"}, wantLen: 1,
		},
		{
			name:    "unchanged identity is not dirty",
			before:  func(s *State) { s.Set(claim("10.0.0.1", "a", map[string]string{"x": "1"})) },
			ops:     func(s *State, r *Reader) { s.Set(claim("10.0.0.1", "a", map[string]string{"x": "1"})) },
			wantLen: 1,
		},
		{
			name:        "relabel is dirty",
			before:      func(s *State) { s.Set(claim("10.0.0.1", "a", map[string]string{"x": "1"})) },
			ops:         func(s *State, r *Reader) { s.Set(claim("10.0.0.1", "a", map[string]string{"x": "2"})) },
			wantUpserts: []string{"10.0.0.1"}, wantLen: 1,
		},
		{
			name:    "delete of unknown ip is a no-op",
			ops:     func(s *State, r *Reader) { s.Delete(netip.MustParseAddr("10.0.0.9")) },
			wantLen: 0,
		},
		{
			name:   "mark dirty resends current state",
			before: func(s *State) { s.Set(claim("10.0.0.1", "a", nil)); s.Set(claim("10.0.0.2", "b", nil)) },
			ops: func(s *State, r *Reader) {
				r.MarkDirty(netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3"))
			},
			wantUpserts: []string{"10.0.0.2"}, wantDeletes: []string{"10.0.0.3"}, wantLen: 2,
		},
		{
			name: "sorted, ipv4-mapped unmapped",
			ops: func(s *State, r *Reader) {
				s.Set(claim("10.0.0.3", "c", nil))
				s.Set(claim("::ffff:10.0.0.1", "a", nil))
				s.Set(claim("fd00::1", "v6", nil))
			},
			wantUpserts: []string{"10.0.0.1", "10.0.0.3", "fd00::1"}, wantLen: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			r := s.NewReader()
			if tt.before != nil {
				tt.before(s)
				r.Snapshot()
				drained(r)
			}
			tt.ops(s, r)
			up, del := r.TakeDirty()
			if got := ips(up); !slices.Equal(got, tt.wantUpserts) {
				t.Errorf("upserts = %v, want %v", got, tt.wantUpserts)
			}
			if got := addrs(del); !slices.Equal(got, tt.wantDeletes) {
				t.Errorf("deletes = %v, want %v", got, tt.wantDeletes)
			}
			if s.Len() != tt.wantLen {
				t.Errorf("Len = %d, want %d", s.Len(), tt.wantLen)
			}
			wantPoke := len(tt.wantUpserts)+len(tt.wantDeletes) > 0
			if got := drained(r); got != wantPoke {
				t.Errorf("Changed poked = %v, want %v", got, wantPoke)
			}
			if up, del := r.TakeDirty(); len(up)+len(del) != 0 {
				t.Errorf("second TakeDirty not empty: %v %v", ips(up), addrs(del))
			}
		})
	}
}

func TestSnapshotClearsDirtyAndKeepsOldClaimOnNoop(t *testing.T) {
	s := New()
	r := s.NewReader()
	first := claim("10.0.0.1", "a", nil)
	s.Set(first)
	s.Set(claim("10.0.0.2", "b", nil))
	s.Delete(netip.MustParseAddr("10.0.0.2"))
	if got := ips(s.List()); !slices.Equal(got, []string{"10.0.0.1"}) {
		t.Fatalf("List = %v", got)
	}
	if up, _ := r.TakeDirty(); len(up) != 1 {
		t.Fatalf("List cleared the dirty set")
	}
	r.MarkDirty(first.IP)
	snap := r.Snapshot()
	if got := ips(snap); !slices.Equal(got, []string{"10.0.0.1"}) {
		t.Fatalf("Snapshot = %v", got)
	}
	if up, del := r.TakeDirty(); len(up)+len(del) != 0 {
		t.Fatalf("dirty after Snapshot: %v %v", ips(up), addrs(del))
	}
	later := first
	later.FirstSeen = time.Unix(200, 0)
	s.Set(later)
	if c, _ := s.Get(first.IP); !c.FirstSeen.Equal(first.FirstSeen) {
		t.Fatalf("no-op Set replaced FirstSeen: %v", c.FirstSeen)
	}
}

func TestConcurrent(t *testing.T) {
	s := New()
	r := s.NewReader()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				ip := netip.AddrFrom4([4]byte{10, byte(w), byte(i), 1})
				s.Set(Claim{IP: ip, Identity: tags.Identity{Name: "p"}})
				if i%2 == 0 {
					s.Delete(ip)
				}
			}
		})
	}
	seen := map[netip.Addr]bool{}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	apply := func() {
		up, del := r.TakeDirty()
		for _, c := range up {
			seen[c.IP] = true
		}
		for _, ip := range del {
			delete(seen, ip)
		}
	}
	for running := true; running; {
		select {
		case <-r.Changed():
			apply()
		case <-done:
			running = false
		}
	}
	apply()
	if len(seen) != s.Len() || len(seen) != 400 {
		t.Fatalf("reader view has %d IPs, state %d, want 400", len(seen), s.Len())
	}
	for _, c := range r.Snapshot() {
		if !seen[c.IP] {
			t.Fatalf("reader missed %v", c.IP)
		}
	}
}

// TestReadersAreIndependent: each consumer (one stream per aggregator
// replica) sees every change once, whatever the others took; a closed
// reader is no longer marked.
func TestReadersAreIndependent(t *testing.T) {
	s := New()
	a, b := s.NewReader(), s.NewReader()
	s.Set(claim("10.0.0.1", "a", nil))
	if got := ips(a.Snapshot()); !slices.Equal(got, []string{"10.0.0.1"}) {
		t.Fatalf("a.Snapshot = %v", got)
	}
	s.Set(claim("10.0.0.2", "b", nil))
	s.Delete(netip.MustParseAddr("10.0.0.1"))
	up, del := a.TakeDirty()
	if !slices.Equal(ips(up), []string{"10.0.0.2"}) || !slices.Equal(addrs(del), []string{"10.0.0.1"}) {
		t.Fatalf("a.TakeDirty = %v %v", ips(up), addrs(del))
	}
	// b never took anything: it still sees both changes, and a's take
	// left it alone.
	if !drained(b) {
		t.Fatal("b not poked")
	}
	up, del = b.TakeDirty()
	if !slices.Equal(ips(up), []string{"10.0.0.2"}) || !slices.Equal(addrs(del), []string{"10.0.0.1"}) {
		t.Fatalf("b.TakeDirty = %v %v", ips(up), addrs(del))
	}
	b.MarkDirty(netip.MustParseAddr("10.0.0.2"))
	if up, del := a.TakeDirty(); len(up)+len(del) != 0 {
		t.Fatalf("b.MarkDirty reached a: %v %v", ips(up), addrs(del))
	}
	if s.Readers() != 2 {
		t.Fatalf("Readers = %d", s.Readers())
	}
	b.Close()
	drained(b)
	s.Set(claim("10.0.0.3", "c", nil))
	if s.Readers() != 1 || drained(b) {
		t.Fatalf("closed reader still registered (%d) or poked", s.Readers())
	}
	if up, _ := a.TakeDirty(); !slices.Equal(ips(up), []string{"10.0.0.3"}) {
		t.Fatalf("a.TakeDirty = %v", ips(up))
	}
}
