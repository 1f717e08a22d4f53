package nodestate

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kubedag/kubedag/tags"
)

// Claim is this node's claim on one IP.
type Claim struct {
	IP       netip.Addr
	Identity tags.Identity
	// FirstSeen is when the IP/identity change was first seen on the node:
	// the start of the tag-latency clock.
	FirstSeen time.Time
	// Span is the tag-latency span started at FirstSeen; it may be invalid.
	Span trace.SpanContext
}

// State is the set of claims of one node. Each consumer (one stream per
// aggregator replica) reads it through its own Reader, which keeps the set
// of IPs changed since that consumer's last Snapshot or TakeDirty. It is
// safe for concurrent use. Claims are stored as given: callers must not
// modify an Identity's maps or slices after passing it to Set.
type State struct {
	mu      sync.Mutex
	claims  map[netip.Addr]Claim
	readers map[*Reader]struct{}
}

// Reader is one consumer's view of a State's changes. Its methods are safe
// for concurrent use with the State's writers; one goroutine should consume
// it.
type Reader struct {
	s       *State
	dirty   map[netip.Addr]struct{} // guarded by s.mu
	changed chan struct{}
}

// New returns an empty State.
func New() *State {
	return &State{
		claims:  make(map[netip.Addr]Claim),
		readers: make(map[*Reader]struct{}),
	}
}

// NewReader registers a consumer. It starts with nothing dirty: a consumer
// begins with Snapshot. Close it when done, or the State keeps marking its
// dirty set (bounded by the node's IPs, but wasted).
func (s *State) NewReader() *Reader {
	r := &Reader{s: s, dirty: make(map[netip.Addr]struct{}), changed: make(chan struct{}, 1)}
	s.mu.Lock()
	s.readers[r] = struct{}{}
	s.mu.Unlock()
	return r
}

// Close unregisters the reader; it must not be used afterwards.
func (r *Reader) Close() {
	r.s.mu.Lock()
	delete(r.s.readers, r)
	clear(r.dirty)
	r.s.mu.Unlock()
}

// Readers returns the number of registered readers.
func (s *State) Readers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.readers)
}

// markLocked marks ip dirty for every reader; the caller holds s.mu and
// pokes the readers after unlocking.
func (s *State) markLocked(ip netip.Addr) {
	for r := range s.readers {
		r.dirty[ip] = struct{}{}
	}
}

// pokeAll wakes every reader.
func (s *State) pokeAll() {
	s.mu.Lock()
	rs := make([]*Reader, 0, len(s.readers))
	for r := range s.readers {
		rs = append(rs, r)
	}
	s.mu.Unlock()
	for _, r := range rs {
		r.poke()
	}
}

// Set records c as the claim on c.IP. If the IP is already claimed with an
// equal Identity nothing changes (FirstSeen and Span of the existing claim
// are kept, and the IP is not marked dirty).
func (s *State) Set(c Claim) {
	c.IP = c.IP.Unmap()
	s.mu.Lock()
	if old, ok := s.claims[c.IP]; ok && old.Identity.Equal(c.Identity) {
		s.mu.Unlock()
		return
	}
	s.claims[c.IP] = c
	s.markLocked(c.IP)
	s.mu.Unlock()
	s.pokeAll()
}

// Delete withdraws the claim on ip, if any.
func (s *State) Delete(ip netip.Addr) {
	ip = ip.Unmap()
	s.mu.Lock()
	if _, ok := s.claims[ip]; !ok {
		s.mu.Unlock()
		return
	}
	delete(s.claims, ip)
	s.markLocked(ip)
	s.mu.Unlock()
	s.pokeAll()
}

// Get returns the current claim on ip.
func (s *State) Get(ip netip.Addr) (Claim, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.claims[ip.Unmap()]
	return c, ok
}

// Len returns the number of claimed IPs.
func (s *State) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.claims)
}

// List returns all current claims, sorted by IP, leaving every reader's
// dirty set as it is (for inspection; stream clients use Reader.Snapshot).
func (s *State) List() []Claim { return s.list(nil) }

// list takes the claims and, if r is set, clears r's dirty set atomically
// with taking them.
func (s *State) list(r *Reader) []Claim {
	s.mu.Lock()
	out := make([]Claim, 0, len(s.claims))
	for _, c := range s.claims {
		out = append(out, c)
	}
	if r != nil {
		clear(r.dirty)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Claim) int { return a.IP.Compare(b.IP) })
	return out
}

// Changed returns a channel that receives a value after the state changed
// (Set, Delete or MarkDirty). Notifications merge: one receive may stand for
// many changes. The channel is never closed.
func (r *Reader) Changed() <-chan struct{} { return r.changed }

// Snapshot returns all current claims, sorted by IP, and clears this
// reader's dirty set atomically with taking them.
func (r *Reader) Snapshot() []Claim { return r.s.list(r) }

// TakeDirty returns the changes since this reader's last Snapshot or
// TakeDirty, coalesced per IP: the current claim of every changed IP that
// is claimed, and every changed IP that is no longer claimed. Both are
// sorted by IP.
func (r *Reader) TakeDirty() (upserts []Claim, deletes []netip.Addr) {
	s := r.s
	s.mu.Lock()
	for ip := range r.dirty {
		if c, ok := s.claims[ip]; ok {
			upserts = append(upserts, c)
		} else {
			deletes = append(deletes, ip)
		}
	}
	clear(r.dirty)
	s.mu.Unlock()
	slices.SortFunc(upserts, func(a, b Claim) int { return a.IP.Compare(b.IP) })
	slices.SortFunc(deletes, netip.Addr.Compare)
	return upserts, deletes
}

// MarkDirty re-marks ips as changed for this reader (for example deltas
// that were never acknowledged), so its next TakeDirty reports their
// current state.
func (r *Reader) MarkDirty(ips ...netip.Addr) {
	if len(ips) == 0 {
		return
	}
	r.s.mu.Lock()
	for _, ip := range ips {
		r.dirty[ip.Unmap()] = struct{}{}
	}
	r.s.mu.Unlock()
	r.poke()
}

func (r *Reader) poke() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}
