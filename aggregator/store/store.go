package store

import (
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kubedag/kubedag/tags"
)

// Claim is one source's statement about one IP.
type Claim struct {
	// Tags the claimant wants on the IP.
	Tags tags.Set
	// Owner is the UID of the pod or service; claims with different owners
	// on one IP are a conflict.
	Owner string
	// FirstSeen is when the IP identity was first seen (start of the
	// tag-latency clock); zero if unknown.
	FirstSeen time.Time
	// Span is the tag-latency span's context, if traced.
	Span trace.SpanContext
}

// Options configures a Store.
type Options struct {
	// OnConflict, if set, is called when an IP goes from one owner to
	// claims by several owners (started=true) and back (started=false). It is
	// called with the store's lock held: it must be quick and must not call
	// the Store.
	OnConflict func(ip netip.Addr, started bool)
}

// Stats are counters of a Store.
type Stats struct {
	IPs            int // IPs with at least one claim
	Sources        int
	Conflicts      int    // IPs currently claimed by several owners
	ConflictsTotal uint64 // conflicts started since New
	InternedSets   int
}

// key is an IP as stored: its 16-byte form (IPv4 as 4in6), pointer-free
// and 8 bytes smaller than netip.Addr.
type key [16]byte

func keyOf(ip netip.Addr) key { return ip.Unmap().As16() }

func (k key) addr() netip.Addr { return netip.AddrFrom16(k).Unmap() }

// claimRec is the compact stored form of a Claim: no pointers but the tag
// set (interned) and, for owners that are not UUIDs, the owner string.
type claimRec struct {
	tags  tags.Set
	owner owner
	seen  int64 // unix nanoseconds, 0 = unknown
	span  span
	src   uint32
}

// ipState holds an IP's claims: one inline, further ones (conflicts, rare)
// behind a pointer, to keep the common case small.
type ipState struct {
	claimRec
	more *[]claimRec
}

func (st *ipState) n() int {
	if st.more == nil {
		return 1
	}
	return 1 + len(*st.more)
}

func (st *ipState) at(i int) *claimRec {
	if i == 0 {
		return &st.claimRec
	}
	return &(*st.more)[i-1]
}

type source struct {
	id uint32
	n  int // claims held
}

// Store is the desired state. It is safe for concurrent use.
type Store struct {
	opts Options

	mu       sync.RWMutex
	ips      map[key]ipState
	sources  map[string]*source
	nextSrc  uint32
	interned *tags.Interner
	subs     map[*Subscription]struct{}

	conflicts      int
	conflictsTotal uint64
}

// New returns an empty Store.
func New(opts Options) *Store {
	return &Store{
		opts:     opts,
		ips:      make(map[key]ipState),
		sources:  make(map[string]*source),
		interned: tags.NewInterner(),
		subs:     make(map[*Subscription]struct{}),
	}
}

func (s *Store) rec(src uint32, c Claim) claimRec {
	r := claimRec{tags: s.interned.Intern(c.Tags), owner: ownerOf(c.Owner), span: spanOf(c.Span), src: src}
	if !c.FirstSeen.IsZero() {
		r.seen = c.FirstSeen.UnixNano()
	}
	return r
}

func (s *Store) source(name string) *source {
	src, ok := s.sources[name]
	if !ok {
		s.nextSrc++
		src = &source{id: s.nextSrc}
		s.sources[name] = src
	}
	return src
}

// desiredOf is the intersection of all claims' tags.
func desiredOf(st *ipState) tags.Set {
	d := st.tags
	for i := 1; i < st.n(); i++ {
		d = tags.Intersect(d, st.at(i).tags)
	}
	return d
}

func conflicted(st *ipState) bool {
	for i := 1; i < st.n(); i++ {
		if st.at(i).owner != st.owner {
			return true
		}
	}
	return false
}

// upsert sets src's claim on ip and reports whether desired changed.
func (s *Store) upsert(src *source, ip key, c Claim) {
	st, ok := s.ips[ip]
	if !ok {
		s.ips[ip] = ipState{claimRec: s.rec(src.id, c)}
		src.n++
		s.markDirty(ip)
		return
	}
	before := desiredOf(&st)
	wasConflict := conflicted(&st)
	found := false
	for i := 0; i < st.n(); i++ {
		r := st.at(i)
		if r.src == src.id {
			s.interned.Release(r.tags)
			*r = s.rec(src.id, c)
			found = true
			break
		}
	}
	if !found {
		more := []claimRec{s.rec(src.id, c)}
		if st.more != nil {
			more = append(*st.more, more[0])
		}
		st.more = &more
		src.n++
	}
	s.ips[ip] = st
	s.conflictChange(ip, wasConflict, conflicted(&st))
	if !desiredOf(&st).Equal(before) {
		s.markDirty(ip)
	}
}

// remove drops src's claim on ip.
func (s *Store) remove(src *source, ip key) {
	st, ok := s.ips[ip]
	if !ok {
		return
	}
	idx := -1
	for i := 0; i < st.n(); i++ {
		if st.at(i).src == src.id {
			idx = i
			break
		}
	}
	if idx < 0 {
		return
	}
	src.n--
	s.interned.Release(st.at(idx).tags)
	if st.n() == 1 {
		delete(s.ips, ip)
		s.markDirty(ip)
		return
	}
	before := desiredOf(&st)
	wasConflict := conflicted(&st)
	more := *st.more
	if idx == 0 {
		st.claimRec = more[0]
		more = more[1:]
	} else {
		more = append(more[:idx-1:idx-1], more[idx:]...)
	}
	if len(more) == 0 {
		st.more = nil
	} else {
		more = append([]claimRec(nil), more...)
		st.more = &more
	}
	s.ips[ip] = st
	s.conflictChange(ip, wasConflict, conflicted(&st))
	if !desiredOf(&st).Equal(before) {
		s.markDirty(ip)
	}
}

func (s *Store) conflictChange(ip key, was, is bool) {
	switch {
	case !was && is:
		s.conflicts++
		s.conflictsTotal++
	case was && !is:
		s.conflicts--
	default:
		return
	}
	if s.opts.OnConflict != nil {
		s.opts.OnConflict(ip.addr(), is)
	}
}

// Upsert sets source's claim on ip.
func (s *Store) Upsert(source string, ip netip.Addr, c Claim) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.upsert(s.source(source), keyOf(ip), c)
}

// Delete withdraws source's claim on ip (no-op if there is none).
func (s *Store) Delete(source string, ip netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if src, ok := s.sources[source]; ok {
		s.remove(src, keyOf(ip))
	}
}

// Replace atomically replaces source's claims with claims (a snapshot):
// IPs absent from claims are withdrawn. Readers never see a mix. Keys of
// claims must be unmapped (IPv4 as IPv4). Withdrawing costs a pass over
// all IPs (no per-source index, to save memory per IP).
func (s *Store) Replace(source string, claims map[netip.Addr]Claim) {
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.source(source)
	if src.n > 0 {
		s.forSource(src, func(ip key) {
			if _, ok := claims[ip.addr()]; !ok {
				s.remove(src, ip)
			}
		})
	}
	for ip, c := range claims {
		s.upsert(src, keyOf(ip), c)
	}
}

// forSource calls fn for every IP src claims; fn may remove that claim.
func (s *Store) forSource(src *source, fn func(ip key)) {
	for ip, st := range s.ips {
		for i := 0; i < st.n(); i++ {
			if st.at(i).src == src.id {
				fn(ip)
				break
			}
		}
	}
}

// RemoveSource withdraws all of source's claims and forgets it.
func (s *Store) RemoveSource(source string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	src, ok := s.sources[source]
	if !ok {
		return
	}
	if src.n > 0 {
		s.forSource(src, func(ip key) { s.remove(src, ip) })
	}
	delete(s.sources, source)
}

// Desired is the desired state of one IP.
type Desired struct {
	// Tags to register: the claim's tags, or the intersection of all claims'.
	Tags tags.Set
	// Claimed is false when no source claims the IP (Tags is then empty).
	Claimed bool
	// Conflict is true when owners disagree.
	Conflict bool
	// FirstSeen and Span are the latest claim's (for tag latency).
	FirstSeen time.Time
	Span      trace.SpanContext
}

func (s *Store) desired(ip key) Desired {
	st, ok := s.ips[ip]
	if !ok {
		return Desired{}
	}
	d := Desired{Tags: desiredOf(&st), Claimed: true, Conflict: conflicted(&st)}
	last := st.at(st.n() - 1)
	if last.seen != 0 {
		d.FirstSeen = time.Unix(0, last.seen)
	}
	d.Span = last.span.context()
	return d
}

// Desired returns ip's desired state.
func (s *Store) Desired(ip netip.Addr) Desired {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.desired(keyOf(ip))
}

// DesiredBatch appends the desired state of each of ips to out, in order,
// under one lock acquisition, and returns it.
func (s *Store) DesiredBatch(ips []netip.Addr, out []Desired) []Desired {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, ip := range ips {
		out = append(out, s.desired(keyOf(ip)))
	}
	return out
}

// Claims returns every claim on ip, by source name (for debugging and tests).
func (s *Store) Claims(ip netip.Addr) map[string]Claim {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, ok := s.ips[keyOf(ip)]
	if !ok {
		return nil
	}
	names := make(map[uint32]string, len(s.sources))
	for n, src := range s.sources {
		names[src.id] = n
	}
	out := make(map[string]Claim, st.n())
	for i := 0; i < st.n(); i++ {
		r := st.at(i)
		c := Claim{Tags: r.tags, Owner: r.owner.String(), Span: r.span.context()}
		if r.seen != 0 {
			c.FirstSeen = time.Unix(0, r.seen)
		}
		out[names[r.src]] = c
	}
	return out
}

// AppendIPs appends every claimed IP to dst and returns it.
func (s *Store) AppendIPs(dst []netip.Addr) []netip.Addr {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for ip := range s.ips {
		dst = append(dst, ip.addr())
	}
	return dst
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Stats{
		IPs:            len(s.ips),
		Sources:        len(s.sources),
		Conflicts:      s.conflicts,
		ConflictsTotal: s.conflictsTotal,
		InternedSets:   s.interned.Len(),
	}
}

// Sources returns the names of the sources that hold claims or were
// replaced with an empty snapshot and not removed.
func (s *Store) Sources() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.sources))
}
