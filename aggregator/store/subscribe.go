package store

import (
	"net/netip"

	"github.com/kubedag/kubedag/aggregator/ipmap"
)

// shrinkAbove is the dirty-set size above which Take drops the map instead
// of clearing it, so a burst does not pin its high-water memory.
const shrinkAbove = 4096

// Subscription is one consumer's view of changes: a dirty set of IPs whose
// desired state may have changed since the last Take, and a poke channel.
type Subscription struct {
	s     *Store
	dirty ipmap.Set // guarded by s.mu
	poke  chan struct{}
}

// Subscribe registers a consumer. Every claimed IP starts dirty, so a new
// consumer sees the whole state once. Close the Subscription when done.
func (s *Store) Subscribe() *Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := &Subscription{s: s, dirty: ipmap.MakeSet(s.recs.Len()), poke: make(chan struct{}, 1)}
	for ip := range s.recs.Keys() {
		sub.dirty.Add(ip)
	}
	s.subs[sub] = struct{}{}
	if sub.dirty.Len() > 0 {
		sub.poke <- struct{}{}
	}
	return sub
}

// markDirty marks ip in every subscription; s.mu must be held for writing.
func (s *Store) markDirty(ip netip.Addr) {
	for sub := range s.subs {
		sub.dirty.Add(ip)
		select {
		case sub.poke <- struct{}{}:
		default:
		}
	}
}

// C is poked (non-blocking, buffered to one) after IPs become dirty.
func (sub *Subscription) C() <-chan struct{} { return sub.poke }

// Take appends the dirty IPs to dst, clears the dirty set and returns dst.
func (sub *Subscription) Take(dst []netip.Addr) []netip.Addr {
	sub.s.mu.Lock()
	defer sub.s.mu.Unlock()
	dst = sub.dirty.AppendTo(dst)
	if sub.dirty.Len() > shrinkAbove {
		sub.dirty = ipmap.Set{}
	} else {
		sub.dirty.Clear()
	}
	return dst
}

// TakeSet returns the dirty set itself and leaves the subscription a new,
// empty one: the caller owns the set (a consumer that keeps a set of its
// own can adopt it instead of copying every IP out and back in).
func (sub *Subscription) TakeSet() ipmap.Set {
	sub.s.mu.Lock()
	defer sub.s.mu.Unlock()
	d := sub.dirty
	sub.dirty = ipmap.Set{}
	return d
}

// Len returns the number of dirty IPs.
func (sub *Subscription) Len() int {
	sub.s.mu.RLock()
	defer sub.s.mu.RUnlock()
	return sub.dirty.Len()
}

// Close unregisters the subscription; it is safe to call twice.
func (sub *Subscription) Close() {
	sub.s.mu.Lock()
	defer sub.s.mu.Unlock()
	delete(sub.s.subs, sub)
	sub.dirty = ipmap.Set{}
}
