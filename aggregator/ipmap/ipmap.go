package ipmap

import (
	"encoding/binary"
	"iter"
	"net/netip"
)

// Map is a map from IP address to V. The zero value is an empty map ready
// to use. It is not safe for concurrent use.
type Map[V any] struct {
	v4 map[uint32]V
	v6 map[[16]byte]V
}

// Make returns a map with room for n IPv4 addresses.
func Make[V any](n int) Map[V] {
	return Map[V]{v4: make(map[uint32]V, n)}
}

func key4(ip netip.Addr) uint32 {
	a := ip.As4()
	return binary.BigEndian.Uint32(a[:])
}

func addr4(k uint32) netip.Addr {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], k)
	return netip.AddrFrom4(a)
}

// Get returns ip's value and whether ip is in the map.
func (m *Map[V]) Get(ip netip.Addr) (V, bool) {
	if ip.Is4() {
		v, ok := m.v4[key4(ip)]
		return v, ok
	}
	if ip.Is6() {
		v, ok := m.v6[ip.As16()]
		return v, ok
	}
	var zero V
	return zero, false
}

// Has reports whether ip is in the map.
func (m *Map[V]) Has(ip netip.Addr) bool {
	_, ok := m.Get(ip)
	return ok
}

// Set sets ip's value. The invalid Addr is not a key: Set ignores it.
func (m *Map[V]) Set(ip netip.Addr, v V) {
	switch {
	case ip.Is4():
		if m.v4 == nil {
			m.v4 = make(map[uint32]V)
		}
		m.v4[key4(ip)] = v
	case ip.Is6():
		if m.v6 == nil {
			m.v6 = make(map[[16]byte]V)
		}
		m.v6[ip.As16()] = v
	}
}

// Delete removes ip (no-op if absent).
func (m *Map[V]) Delete(ip netip.Addr) {
	if ip.Is4() {
		delete(m.v4, key4(ip))
	} else if ip.Is6() {
		delete(m.v6, ip.As16())
	}
}

// Len returns the number of IPs in the map.
func (m *Map[V]) Len() int { return len(m.v4) + len(m.v6) }

// All yields every IP and its value, IPv4 first, otherwise in no
// particular order. As with a Go map, the loop body may Delete the IP it
// is given, and IPs Set during the loop may or may not be yielded.
func (m *Map[V]) All() iter.Seq2[netip.Addr, V] {
	return func(yield func(netip.Addr, V) bool) {
		for k, v := range m.v4 {
			if !yield(addr4(k), v) {
				return
			}
		}
		for k, v := range m.v6 {
			if !yield(netip.AddrFrom16(k), v) {
				return
			}
		}
	}
}

// Keys yields every IP, as All does.
func (m *Map[V]) Keys() iter.Seq[netip.Addr] {
	return func(yield func(netip.Addr) bool) {
		for ip := range m.All() {
			if !yield(ip) {
				return
			}
		}
	}
}

// AppendKeys appends every IP to dst and returns it.
func (m *Map[V]) AppendKeys(dst []netip.Addr) []netip.Addr {
	for k := range m.v4 {
		dst = append(dst, addr4(k))
	}
	for k := range m.v6 {
		dst = append(dst, netip.AddrFrom16(k))
	}
	return dst
}

// Clear removes every IP and keeps the memory for reuse.
func (m *Map[V]) Clear() {
	clear(m.v4)
	clear(m.v6)
}

// Set is a set of IP addresses. The zero value is an empty set ready to
// use. It is not safe for concurrent use.
type Set struct{ m Map[struct{}] }

// MakeSet returns a set with room for n IPv4 addresses.
func MakeSet(n int) Set { return Set{m: Make[struct{}](n)} }

// Add adds ip (the invalid Addr is ignored).
func (s *Set) Add(ip netip.Addr) { s.m.Set(ip, struct{}{}) }

// Has reports whether ip is in the set.
func (s *Set) Has(ip netip.Addr) bool { return s.m.Has(ip) }

// Delete removes ip (no-op if absent).
func (s *Set) Delete(ip netip.Addr) { s.m.Delete(ip) }

// Len returns the number of IPs in the set.
func (s *Set) Len() int { return s.m.Len() }

// All yields every IP, IPv4 first; the loop body may Delete the IP it is
// given.
func (s *Set) All() iter.Seq[netip.Addr] { return s.m.Keys() }

// AppendTo appends every IP to dst and returns it.
func (s *Set) AppendTo(dst []netip.Addr) []netip.Addr { return s.m.AppendKeys(dst) }

// Clear removes every IP and keeps the memory for reuse.
func (s *Set) Clear() { s.m.Clear() }
