package ipmap

import (
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

func TestMap(t *testing.T) {
	v4 := netip.MustParseAddr("10.0.0.1")
	mapped := netip.MustParseAddr("::ffff:10.0.0.1")
	v6 := netip.MustParseAddr("fd00::1")
	zoned := netip.MustParseAddr("fe80::1%eth0")
	tests := []struct {
		name    string
		set     []netip.Addr
		del     []netip.Addr
		has     []netip.Addr
		hasNot  []netip.Addr
		wantLen int
	}{
		{"empty", nil, nil, nil, []netip.Addr{v4, v6, {}}, 0},
		{"v4 and v6", []netip.Addr{v4, v6}, nil, []netip.Addr{v4, v6}, []netip.Addr{mapped}, 2},
		{"mapped is its own key", []netip.Addr{mapped}, nil, []netip.Addr{mapped}, []netip.Addr{v4}, 1},
		{"set twice", []netip.Addr{v4, v4}, nil, []netip.Addr{v4}, nil, 1},
		{"invalid ignored", []netip.Addr{{}}, nil, nil, []netip.Addr{{}, netip.IPv6Unspecified()}, 0},
		{"zone dropped", []netip.Addr{zoned}, nil, []netip.Addr{zoned.WithZone(""), zoned}, nil, 1},
		{"delete", []netip.Addr{v4, v6}, []netip.Addr{v4, v6, mapped, {}}, nil, []netip.Addr{v4, v6}, 0},
		{"unspecified v6 vs invalid", []netip.Addr{netip.IPv6Unspecified()}, nil, []netip.Addr{netip.IPv6Unspecified()}, []netip.Addr{{}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Map[int]
			for i, ip := range tt.set {
				m.Set(ip, i)
			}
			for _, ip := range tt.del {
				m.Delete(ip)
			}
			for _, ip := range tt.has {
				if !m.Has(ip) {
					t.Errorf("Has(%v) = false", ip)
				}
			}
			for _, ip := range tt.hasNot {
				if m.Has(ip) {
					t.Errorf("Has(%v) = true", ip)
				}
			}
			if m.Len() != tt.wantLen {
				t.Errorf("Len = %d, want %d", m.Len(), tt.wantLen)
			}
		})
	}
}

func randomAddr(r *rand.Rand) netip.Addr {
	switch r.IntN(3) {
	case 0: // a small v4 space, so keys repeat
		return netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(2)), byte(r.IntN(64))})
	case 1:
		return netip.AddrFrom16([16]byte{0xfd, 15: byte(r.IntN(64))})
	default: // IPv4-mapped: distinct from the v4 keys
		return netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: 10, 15: byte(r.IntN(64))})
	}
}

// TestMapMatchesGoMap runs random operations on a Map and on a
// map[netip.Addr]int and compares them after each step.
func TestMapMatchesGoMap(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		var m Map[int]
		ref := map[netip.Addr]int{}
		var s Set
		var d Dense[int]
		for step := range 2000 {
			ip := randomAddr(r)
			switch r.IntN(5) {
			case 0, 1:
				m.Set(ip, step)
				ref[ip] = step
				s.Add(ip)
				set := d.Set
				if !d.Has(ip) && step%2 == 0 {
					set = d.Add
				}
				if p := set(ip, step); *p != step {
					t.Fatalf("Dense.Set/Add returned a pointer to %d, want %d", *p, step)
				}
			case 2:
				m.Delete(ip)
				delete(ref, ip)
				s.Delete(ip)
				d.Delete(ip)
			case 3: // delete while iterating
				for k := range m.All() {
					if r.IntN(4) == 0 {
						m.Delete(k)
						delete(ref, k)
						s.Delete(k)
						d.Delete(k)
					}
				}
			case 4:
				if r.IntN(50) == 0 {
					m.Clear()
					clear(ref)
					s.Clear()
					for k := range d.Keys() {
						d.Delete(k)
					}
				}
			}
			got, ok := m.Get(ip)
			want, wok := ref[ip]
			if got != want || ok != wok || s.Has(ip) != wok {
				t.Fatalf("seed %d step %d: Get(%v) = %d %v, set has %v; want %d %v", seed, step, ip, got, ok, s.Has(ip), want, wok)
			}
			dv, dok := d.Get(ip)
			if p := d.Ptr(ip); dv != want || dok != wok || (p != nil) != wok || (p != nil && *p != want) {
				t.Fatalf("seed %d step %d: Dense.Get(%v) = %d %v, want %d %v", seed, step, ip, dv, dok, want, wok)
			}
			if m.Len() != len(ref) || s.Len() != len(ref) || d.Len() != len(ref) {
				t.Fatalf("seed %d step %d: Len = %d, set %d, dense %d, want %d", seed, step, m.Len(), s.Len(), d.Len(), len(ref))
			}
			// Dense's slots: every one ever handed out is in use or free.
			if int(d.n) != d.Len()+len(d.free) {
				t.Fatalf("seed %d step %d: dense has %d slots, %d used, %d free", seed, step, d.n, d.Len(), len(d.free))
			}
		}
		dall := map[netip.Addr]int{}
		for k, v := range d.All() {
			dall[k] = v
		}
		if !maps.Equal(dall, ref) {
			t.Fatalf("Dense.All = %v, want %v", dall, ref)
		}
		all := map[netip.Addr]int{}
		for k, v := range m.All() {
			if _, dup := all[k]; dup {
				t.Fatalf("All yields %v twice", k)
			}
			all[k] = v
		}
		if len(all) != len(ref) {
			t.Fatalf("All yields %d, want %d", len(all), len(ref))
		}
		for k, v := range ref {
			if all[k] != v {
				t.Fatalf("All: %v = %d, want %d", k, all[k], v)
			}
		}
		keys := m.AppendKeys(nil)
		skeys := s.AppendTo(nil)
		slices.SortFunc(keys, netip.Addr.Compare)
		slices.SortFunc(skeys, netip.Addr.Compare)
		if !slices.Equal(keys, skeys) || len(keys) != len(ref) {
			t.Fatalf("AppendKeys %v, set AppendTo %v", keys, skeys)
		}
	}
}

func TestAllStops(t *testing.T) {
	var m Map[int]
	for i := range 10 {
		m.Set(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), i)
		m.Set(netip.AddrFrom16([16]byte{0xfd, 15: byte(i)}), i)
	}
	n := 0
	for range m.All() {
		n++
		if n == 3 {
			break
		}
	}
	n6 := 0
	for ip := range m.Keys() {
		if ip.Is6() {
			n6++
			break
		}
	}
	if n != 3 || n6 != 1 {
		t.Fatalf("early break: %d, %d", n, n6)
	}
}

var sink int

// TestDenseReuse: freed slots are reused, and a deleted value does not
// leak into the IP that takes its slot.
func TestDenseReuse(t *testing.T) {
	var d Dense[*int]
	ip := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}) }
	for i := range 3000 {
		d.Set(ip(i), new(int))
	}
	for i := range 3000 {
		d.Delete(ip(i))
	}
	if d.n != 3000 || len(d.free) != 3000 || len(d.chunks) != 3 {
		t.Fatalf("after deletes: n %d free %d chunks %d", d.n, len(d.free), len(d.chunks))
	}
	for _, c := range d.chunks {
		for _, v := range c {
			if v != nil {
				t.Fatal("a deleted value is still referenced")
			}
		}
	}
	if p := d.Set(netip.Addr{}, new(int)); p == nil || d.Len() != 0 {
		t.Fatal("the invalid Addr was stored")
	}
	d.Set(ip(7), nil)
	if d.n != 3000 || len(d.free) != 2999 {
		t.Fatalf("freed slot not reused: n %d free %d", d.n, len(d.free))
	}
}

// BenchmarkLookup compares a Map with a map[netip.Addr] of the same IPv4
// addresses (set, get, delete of 100,000 IPs).
func BenchmarkLookup(b *testing.B) {
	const n = 100_000
	ips := make([]netip.Addr, n)
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{10, 64 + byte(i>>16), byte(i >> 8), byte(i)})
	}
	b.Run("ipmap", func(b *testing.B) {
		for b.Loop() {
			var m Map[uint32]
			for i, ip := range ips {
				m.Set(ip, uint32(i))
			}
			for _, ip := range ips {
				v, _ := m.Get(ip)
				sink += int(v)
			}
			for _, ip := range ips {
				m.Delete(ip)
			}
		}
	})
	b.Run("dense", func(b *testing.B) {
		for b.Loop() {
			var m Dense[uint32]
			for i, ip := range ips {
				m.Set(ip, uint32(i))
			}
			for _, ip := range ips {
				v, _ := m.Get(ip)
				sink += int(v)
			}
			for _, ip := range ips {
				m.Delete(ip)
			}
		}
	})
	b.Run("netip.Addr", func(b *testing.B) {
		for b.Loop() {
			m := map[netip.Addr]uint32{}
			for i, ip := range ips {
				m[ip] = uint32(i)
			}
			for _, ip := range ips {
				sink += int(m[ip])
			}
			for _, ip := range ips {
				delete(m, ip)
			}
		}
	})
}
