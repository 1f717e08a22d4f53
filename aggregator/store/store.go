package store

import (
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kubedag/kubedag/aggregator/ipmap"
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

// claimRec is the stored form of a Claim. It holds no pointer (the tag
// set and a non-UUID owner are ids in the Store's tables), so the records
// are never scanned by the garbage collector; 64 bytes.
type claimRec struct {
	seen  int64 // unix nanoseconds, 0 = unknown
	tags  uint32
	src   uint32
	owner owner
	span  span
	// more (on an IP's first claim only): the IP has further claims, in
	// Store.more.
	more bool
}

type source struct {
	id uint32
	n  int // claims held
}

// Store is the desired state. It is safe for concurrent use.
type Store struct {
	opts Options

	mu sync.RWMutex
	// recs holds every claimed IP's first claim; further claims (IP
	// reuse, rare) are in more.
	recs    ipmap.Dense[claimRec]
	more    ipmap.Map[[]claimRec]
	sources map[string]*source
	nextSrc uint32
	sets    *table[tags.Set] // interned tag sets
	owners  *table[string]   // owners that are not UUIDs
	subs    map[*Subscription]struct{}

	conflicts      int
	conflictsTotal uint64
}

// New returns an empty Store.
func New(opts Options) *Store {
	return &Store{
		opts:    opts,
		sources: make(map[string]*source),
		sets:    newTable(tags.Set.Key),
		owners:  newTable(func(s string) string { return s }),
		subs:    make(map[*Subscription]struct{}),
	}
}

func (s *Store) rec(src uint32, c Claim) claimRec {
	r := claimRec{tags: s.sets.intern(c.Tags), owner: s.ownerOf(c.Owner), span: spanOf(c.Span), src: src}
	if !c.FirstSeen.IsZero() {
		r.seen = c.FirstSeen.UnixNano()
	}
	return r
}

// drop releases what r holds in the tables.
func (s *Store) drop(r *claimRec) {
	s.sets.release(r.tags)
	s.owners.release(r.owner.str)
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

// claims is one IP's claims, as stored.
type claims struct {
	first *claimRec
	more  []claimRec
}

// claimsOf returns ip's claims given its first (non-nil).
func (s *Store) claimsOf(ip netip.Addr, first *claimRec) claims {
	c := claims{first: first}
	if first.more {
		c.more, _ = s.more.Get(ip)
	}
	return c
}

func (c claims) n() int { return 1 + len(c.more) }

func (c claims) at(i int) *claimRec {
	if i == 0 {
		return c.first
	}
	return &c.more[i-1]
}

// desiredOf is the intersection of all claims' tags.
func (s *Store) desiredOf(c claims) tags.Set {
	d := s.sets.get(c.first.tags)
	for i := range c.more {
		d = tags.Intersect(d, s.sets.get(c.more[i].tags))
	}
	return d
}

func conflicted(c claims) bool {
	for i := range c.more {
		if c.more[i].owner != c.first.owner {
			return true
		}
	}
	return false
}

// upsert sets src's claim on ip (unmapped) and marks ip dirty if its
// desired state changed.
func (s *Store) upsert(src *source, ip netip.Addr, c Claim) {
	first := s.recs.Ptr(ip)
	if first == nil {
		s.recs.Add(ip, s.rec(src.id, c))
		src.n++
		s.markDirty(ip)
		return
	}
	cs := s.claimsOf(ip, first)
	before := s.desiredOf(cs)
	wasConflict := conflicted(cs)
	found := false
	for i := range cs.n() {
		r := cs.at(i)
		if r.src == src.id {
			// Intern the new claim before dropping the old one, so an
			// unchanged tag set keeps its entry.
			nr := s.rec(src.id, c)
			nr.more = r.more
			s.drop(r)
			*r = nr
			found = true
			break
		}
	}
	if !found {
		cs.more = append(cs.more, s.rec(src.id, c))
		s.more.Set(ip, cs.more)
		first.more = true
		src.n++
	}
	s.conflictChange(ip, wasConflict, conflicted(cs))
	if !s.desiredOf(cs).Equal(before) {
		s.markDirty(ip)
	}
}

// remove drops src's claim on ip (unmapped).
func (s *Store) remove(src *source, ip netip.Addr) {
	first := s.recs.Ptr(ip)
	if first == nil {
		return
	}
	cs := s.claimsOf(ip, first)
	idx := -1
	for i := range cs.n() {
		if cs.at(i).src == src.id {
			idx = i
			break
		}
	}
	if idx < 0 {
		return
	}
	src.n--
	if cs.n() == 1 {
		s.drop(first)
		s.recs.Delete(ip)
		s.markDirty(ip)
		return
	}
	before := s.desiredOf(cs)
	wasConflict := conflicted(cs)
	s.drop(cs.at(idx))
	more := cs.more
	if idx == 0 {
		*first = more[0]
		more = more[1:]
	} else {
		more = append(more[:idx-1:idx-1], more[idx:]...)
	}
	if len(more) == 0 {
		s.more.Delete(ip)
		first.more = false
	} else {
		more = slices.Clone(more)
		s.more.Set(ip, more)
		first.more = true
	}
	cs.more = more
	s.conflictChange(ip, wasConflict, conflicted(cs))
	if !s.desiredOf(cs).Equal(before) {
		s.markDirty(ip)
	}
}

func (s *Store) conflictChange(ip netip.Addr, was, is bool) {
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
		s.opts.OnConflict(ip, is)
	}
}

// Upsert sets source's claim on ip.
func (s *Store) Upsert(source string, ip netip.Addr, c Claim) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.upsert(s.source(source), ip.Unmap(), c)
}

// Delete withdraws source's claim on ip (no-op if there is none).
func (s *Store) Delete(source string, ip netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if src, ok := s.sources[source]; ok {
		s.remove(src, ip.Unmap())
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
		s.forSource(src, func(ip netip.Addr) {
			if _, ok := claims[ip]; !ok {
				s.remove(src, ip)
			}
		})
	}
	for ip, c := range claims {
		s.upsert(src, ip.Unmap(), c)
	}
}

// forSource calls fn for every IP src claims; fn may remove that claim.
func (s *Store) forSource(src *source, fn func(ip netip.Addr)) {
	for ip := range s.recs.Keys() {
		cs := s.claimsOf(ip, s.recs.Ptr(ip))
		for i := range cs.n() {
			if cs.at(i).src == src.id {
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
		s.forSource(src, func(ip netip.Addr) { s.remove(src, ip) })
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

func (s *Store) desired(ip netip.Addr) Desired {
	first := s.recs.Ptr(ip.Unmap())
	if first == nil {
		return Desired{}
	}
	if !first.more { // the common case, without the intersection's work
		d := Desired{Tags: s.sets.get(first.tags), Claimed: true, Span: first.span.context()}
		if first.seen != 0 {
			d.FirstSeen = time.Unix(0, first.seen)
		}
		return d
	}
	cs := s.claimsOf(ip.Unmap(), first)
	d := Desired{Tags: s.desiredOf(cs), Claimed: true, Conflict: conflicted(cs)}
	last := cs.at(cs.n() - 1)
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
	return s.desired(ip)
}

// DesiredBatch appends the desired state of each of ips to out, in order,
// under one lock acquisition, and returns it.
func (s *Store) DesiredBatch(ips []netip.Addr, out []Desired) []Desired {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, ip := range ips {
		out = append(out, s.desired(ip))
	}
	return out
}

// Claims returns every claim on ip, by source name (for debugging and tests).
func (s *Store) Claims(ip netip.Addr) map[string]Claim {
	s.mu.RLock()
	defer s.mu.RUnlock()
	first := s.recs.Ptr(ip.Unmap())
	if first == nil {
		return nil
	}
	cs := s.claimsOf(ip.Unmap(), first)
	names := make(map[uint32]string, len(s.sources))
	for n, src := range s.sources {
		names[src.id] = n
	}
	out := make(map[string]Claim, cs.n())
	for i := range cs.n() {
		r := cs.at(i)
		c := Claim{Tags: s.sets.get(r.tags), Owner: s.ownerString(r.owner), Span: r.span.context()}
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
	return s.recs.AppendKeys(dst)
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Stats{
		IPs:            s.recs.Len(),
		Sources:        len(s.sources),
		Conflicts:      s.conflicts,
		ConflictsTotal: s.conflictsTotal,
		InternedSets:   s.sets.len(),
	}
}

// Sources returns the names of the sources that hold claims or were
// replaced with an empty snapshot and not removed.
func (s *Store) Sources() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.sources))
}
