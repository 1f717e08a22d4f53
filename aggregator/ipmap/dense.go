package ipmap

import (
	"iter"
	"net/netip"
)

// chunkBits sizes Dense's chunks: 1,024 values.
const chunkBits = 10

// Dense is a map from IP address to V for large maps of values wider than
// a few bytes. A Go map's slots are 1.1 to 2.3 times as many as its
// entries (open slots, and tables doubling as they grow), and each slot
// holds key and value; here the Go map holds only a 4-byte slot number per
// IP and the values sit densely in chunks that never move (growth copies
// nothing). Freed slots are reused before new ones, so memory follows the
// peak number of IPs, as a Go map's does. The zero value is empty and
// ready to use; it is not safe for concurrent use.
type Dense[V any] struct {
	index  Map[uint32]
	chunks []*[1 << chunkBits]V
	n      uint32 // slots ever handed out
	free   []uint32
}

func (d *Dense[V]) at(slot uint32) *V {
	return &d.chunks[slot>>chunkBits][slot&(1<<chunkBits-1)]
}

// Get returns ip's value and whether ip is in the map.
func (d *Dense[V]) Get(ip netip.Addr) (V, bool) {
	if slot, ok := d.index.Get(ip); ok {
		return *d.at(slot), true
	}
	var zero V
	return zero, false
}

// Has reports whether ip is in the map.
func (d *Dense[V]) Has(ip netip.Addr) bool { return d.index.Has(ip) }

// Ptr returns a pointer to ip's value, nil if ip is not in the map. It
// stays valid until ip is deleted.
func (d *Dense[V]) Ptr(ip netip.Addr) *V {
	if slot, ok := d.index.Get(ip); ok {
		return d.at(slot)
	}
	return nil
}

// Set sets ip's value (the invalid Addr is ignored) and returns a pointer
// to it, valid until ip is deleted.
func (d *Dense[V]) Set(ip netip.Addr, v V) *V {
	if p := d.Ptr(ip); p != nil {
		*p = v
		return p
	}
	return d.Add(ip, v)
}

// Add is Set for an ip the caller knows is not in the map (Ptr returned
// nil and nothing was added since): it saves Set's lookup.
func (d *Dense[V]) Add(ip netip.Addr, v V) *V {
	if !ip.IsValid() {
		return new(V)
	}
	var slot uint32
	if k := len(d.free); k > 0 {
		slot = d.free[k-1]
		d.free = d.free[:k-1]
	} else {
		slot = d.n
		if int(slot>>chunkBits) == len(d.chunks) {
			d.chunks = append(d.chunks, new([1 << chunkBits]V))
		}
		d.n++
	}
	d.index.Set(ip, slot)
	p := d.at(slot)
	*p = v
	return p
}

// Delete removes ip (no-op if absent).
func (d *Dense[V]) Delete(ip netip.Addr) {
	slot, ok := d.index.Get(ip)
	if !ok {
		return
	}
	d.index.Delete(ip)
	var zero V
	*d.at(slot) = zero // drop what the value references
	d.free = append(d.free, slot)
}

// Len returns the number of IPs in the map.
func (d *Dense[V]) Len() int { return d.index.Len() }

// All yields every IP and its value, IPv4 first, otherwise in no
// particular order; the loop body may Delete the IP it is given.
func (d *Dense[V]) All() iter.Seq2[netip.Addr, V] {
	return func(yield func(netip.Addr, V) bool) {
		for ip, slot := range d.index.All() {
			if !yield(ip, *d.at(slot)) {
				return
			}
		}
	}
}

// Keys yields every IP, as All does.
func (d *Dense[V]) Keys() iter.Seq[netip.Addr] { return d.index.Keys() }

// AppendKeys appends every IP to dst and returns it.
func (d *Dense[V]) AppendKeys(dst []netip.Addr) []netip.Addr { return d.index.AppendKeys(dst) }
