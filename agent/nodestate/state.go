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

// State is the set of claims of one node plus the set of IPs changed since
// the last Snapshot or TakeDirty. It is safe for concurrent use. Claims are
// stored as given: callers must not modify an Identity's maps or slices after
// passing it to Set.
type State struct {
	mu      sync.Mutex
	claims  map[netip.Addr]Claim
	dirty   map[netip.Addr]struct{}
	changed chan struct{}
}

// New returns an empty State.
func New() *State {
	return &State{
		claims:  make(map[netip.Addr]Claim),
		dirty:   make(map[netip.Addr]struct{}),
		changed: make(chan struct{}, 1),
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
	s.dirty[c.IP] = struct{}{}
	s.mu.Unlock()
	s.poke()
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
	s.dirty[ip] = struct{}{}
	s.mu.Unlock()
	s.poke()
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

// Changed returns a channel that receives a value after the state changed
// (Set, Delete or MarkDirty). Notifications merge: one receive may stand for
// many changes. The channel is never closed.
func (s *State) Changed() <-chan struct{} { return s.changed }

// Snapshot returns all current claims, sorted by IP, and clears the dirty
// set atomically with taking them.
func (s *State) Snapshot() []Claim { return s.list(true) }

// List returns all current claims, sorted by IP, leaving the dirty set as it
// is (for inspection; the stream client uses Snapshot).
func (s *State) List() []Claim { return s.list(false) }

func (s *State) list(clearDirty bool) []Claim {
	s.mu.Lock()
	out := make([]Claim, 0, len(s.claims))
	for _, c := range s.claims {
		out = append(out, c)
	}
	if clearDirty {
		clear(s.dirty)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Claim) int { return a.IP.Compare(b.IP) })
	return out
}

// TakeDirty returns the changes since the last Snapshot or TakeDirty,
// coalesced per IP: the current claim of every changed IP that is claimed,
// and every changed IP that is no longer claimed. Both are sorted by IP.
func (s *State) TakeDirty() (upserts []Claim, deletes []netip.Addr) {
	s.mu.Lock()
	for ip := range s.dirty {
		if c, ok := s.claims[ip]; ok {
			upserts = append(upserts, c)
		} else {
			deletes = append(deletes, ip)
		}
	}
	clear(s.dirty)
	s.mu.Unlock()
	slices.SortFunc(upserts, func(a, b Claim) int { return a.IP.Compare(b.IP) })
	slices.SortFunc(deletes, netip.Addr.Compare)
	return upserts, deletes
}

// MarkDirty re-marks ips as changed (for example deltas that were never
// acknowledged), so the next TakeDirty reports their current state.
func (s *State) MarkDirty(ips ...netip.Addr) {
	if len(ips) == 0 {
		return
	}
	s.mu.Lock()
	for _, ip := range ips {
		s.dirty[ip.Unmap()] = struct{}{}
	}
	s.mu.Unlock()
	s.poke()
}

func (s *State) poke() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}
