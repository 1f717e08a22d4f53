package panossim

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// regAddr is a registered address: one IP, a subnet or a range. PAN-OS counts
// each as one registered IP.
type regAddr struct {
	key    string // canonical text, the map key and the ip= of listings
	start  netip.Addr
	single bool
}

var errBadIP = errors.New("invalid ip address")

// parseRegAddr accepts an IP, a CIDR (host bits cleared; /32 and /128 are the
// IP itself) or a range "a-b" of one family with a <= b.
func parseRegAddr(s string) (regAddr, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 100 {
		return regAddr{}, errBadIP
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return regAddr{}, errBadIP
		}
		a = a.Unmap()
		return regAddr{key: a.String(), start: a, single: true}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return regAddr{}, errBadIP
		}
		p = p.Masked()
		if p.IsSingleIP() {
			return regAddr{key: p.Addr().String(), start: p.Addr(), single: true}, nil
		}
		return regAddr{key: p.String(), start: p.Addr()}, nil
	}
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, err1 := netip.ParseAddr(strings.TrimSpace(lo))
		b, err2 := netip.ParseAddr(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil || a.Zone() != "" || b.Zone() != "" {
			return regAddr{}, errBadIP
		}
		a, b = a.Unmap(), b.Unmap()
		if a.Is4() != b.Is4() || b.Less(a) {
			return regAddr{}, errBadIP
		}
		if a == b {
			return regAddr{key: a.String(), start: a, single: true}, nil
		}
		return regAddr{key: a.String() + "-" + b.String(), start: a}, nil
	}
	return regAddr{}, errBadIP
}

// regTag is one tag on a registered address.
type regTag struct {
	name       string
	expires    time.Time // zero: no timeout
	persistent bool
}

func (t *regTag) live(now time.Time) bool {
	return t.expires.IsZero() || now.Before(t.expires)
}

type ipEntry struct {
	addr regAddr
	tags []regTag // at most MaxTagsPerIP, unsorted
}

func (e *ipEntry) find(name string) int {
	for i := range e.tags {
		if e.tags[i].name == name {
			return i
		}
	}
	return -1
}

// liveTags returns the sorted names of the unexpired tags.
func (e *ipEntry) liveTags(now time.Time) []string {
	return e.appendLiveTags(make([]string, 0, len(e.tags)), now)
}

// appendLiveTags appends the sorted names of the unexpired tags to out.
func (e *ipEntry) appendLiveTags(out []string, now time.Time) []string {
	from := len(out)
	for i := range e.tags {
		if e.tags[i].live(now) {
			out = append(out, e.tags[i].name)
		}
	}
	slices.Sort(out[from:])
	return out
}

// persistent reports whether the entry survives a reboot with at least one tag.
func (e *ipEntry) persistent() bool {
	for i := range e.tags {
		if e.tags[i].persistent {
			return true
		}
	}
	return false
}

type scope struct {
	entries map[string]*ipEntry
	order   order // listing order
	// gen changes with every change of which entries exist or which tags
	// they carry: a tag-filtered listing's cursors are only good for the
	// generation they were left at.
	gen     uint64
	cursors [8]tagCursor
	nextCur int // the cursor to replace next
}

// tagCursor is where a tag-filtered listing page ended: the entry that was
// its last, the rank (1-based) of the next match and the filter. A page
// that starts there continues after last instead of counting the table's
// matches from the beginning again.
type tagCursor struct {
	tag  string
	next int
	last *ipEntry
	gen  uint64
}

// cursor returns the furthest cursor of the current generation for tag
// not beyond start, or nil.
func (sc *scope) cursor(tag string, start int) *tagCursor {
	var best *tagCursor
	for i := range sc.cursors {
		c := &sc.cursors[i]
		if c.last != nil && c.gen == sc.gen && c.tag == tag && c.next <= start && (best == nil || c.next > best.next) {
			best = c
		}
	}
	return best
}

func (sc *scope) saveCursor(tag string, next int, last *ipEntry) {
	sc.cursors[sc.nextCur] = tagCursor{tag: tag, next: next, last: last, gen: sc.gen}
	sc.nextCur = (sc.nextCur + 1) % len(sc.cursors)
}

// registry holds the registered addresses of every scope. Not safe for
// concurrent use: Sim.mu guards it.
type registry struct {
	scopes     map[string]*scope
	total      int       // entries over all scopes (capacity is per device)
	nextExpiry time.Time // earliest tag expiry, zero when none
}

func newRegistry() *registry {
	return &registry{scopes: map[string]*scope{}}
}

func (r *registry) scope(key string, create bool) *scope {
	sc := r.scopes[key]
	if sc == nil && create {
		sc = &scope{entries: map[string]*ipEntry{}}
		r.scopes[key] = sc
	}
	return sc
}

func (r *registry) noteExpiry(t time.Time) {
	if !t.IsZero() && (r.nextExpiry.IsZero() || t.Before(r.nextExpiry)) {
		r.nextExpiry = t
	}
}

// sweep removes expired tags and empty entries once the earliest expiry has
// passed, so capacity and listings see only live registrations.
func (r *registry) sweep(now time.Time) {
	if r.nextExpiry.IsZero() || now.Before(r.nextExpiry) {
		return
	}
	r.nextExpiry = time.Time{}
	r.filter(func(t *regTag) bool {
		if !t.live(now) {
			return false
		}
		r.noteExpiry(t.expires)
		return true
	})
}

// dropNonPersistent removes persistent="0" tags (a reboot).
func (r *registry) dropNonPersistent() {
	r.filter(func(t *regTag) bool { return t.persistent })
}

// filter keeps the tags keep approves and removes entries left empty.
func (r *registry) filter(keep func(*regTag) bool) {
	for _, sc := range r.scopes {
		for k, e := range sc.entries {
			kept := e.tags[:0]
			for i := range e.tags {
				if keep(&e.tags[i]) {
					kept = append(kept, e.tags[i])
				}
			}
			if len(kept) != len(e.tags) {
				sc.gen++
			}
			e.tags = kept
			if len(e.tags) == 0 {
				r.removeEntry(sc, k)
			}
		}
	}
}

func (r *registry) removeEntry(sc *scope, key string) {
	e := sc.entries[key]
	if e == nil {
		return
	}
	delete(sc.entries, key)
	sc.order.remove(e)
	sc.gen++
	r.total--
}

func (r *registry) addEntry(sc *scope, a regAddr) *ipEntry {
	e := &ipEntry{addr: a}
	sc.entries[a.key] = e
	sc.order.insert(e)
	sc.gen++
	r.total++
	return e
}
