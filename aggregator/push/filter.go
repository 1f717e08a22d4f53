package push

import (
	"sync"
	"time"

	"github.com/kubedag/kubedag/tags"
)

// TagFilter is a target's tag pruning: the target is to hold only the
// desired tags Keep accepts. Implementations must be immutable (a new
// filter is installed with SetFilter, never changed in place).
type TagFilter interface {
	Keep(tag string) bool
}

// maxFilterMemo bounds the Engine's memo of filtered desired sets; past it
// the memo starts over (it only saves work and shares storage).
const maxFilterMemo = 4096

// keeps reports whether f keeps tag; a nil filter keeps every tag.
func keeps(f TagFilter, tag string) bool { return f == nil || f.Keep(tag) }

// SetFilter installs the target's tag filter (nil: keep every tag) and
// marks pending every IP whose desired tags a changed decision touches,
// so a tag a filter starts keeping is registered, and one it stops
// keeping unregistered, as soon as no call is in flight. The Engine keeps no
// other reference to f's decisions: installing an equal filter marks
// nothing.
func (e *Engine) SetFilter(now time.Time, f TagFilter) {
	old := e.filter
	e.filter = f
	e.memo = make(map[string]tags.Set)
	if old == nil && f == nil {
		return
	}
	changed := make(map[string]bool) // per tag, across IPs: tag sets repeat a lot
	touches := func(s tags.Set) bool {
		for _, t := range s.Slice() {
			c, ok := changed[t]
			if !ok {
				c = keeps(old, t) != keeps(f, t)
				changed[t] = c
			}
			if c {
				return true
			}
		}
		return false
	}
	ips := e.state.AppendIPs(e.ipBuf[:0])
	des := e.state.DesiredBatch(ips, e.desBuf[:0])
	marked := 0
	for i, ip := range ips {
		if !e.reserved(ip) && touches(des[i].Tags) {
			e.pending.Add(ip)
			marked++
		}
	}
	e.ipBuf, e.desBuf = trim(ips), trim(des)
	if marked > 0 {
		// Tags a new filter adds were waiting on the filter, not on the
		// claim: their latency counts from now (Hooks.Applied).
		e.filterAt = now
	}
	e.log.Info("tag filter changed", "pruning", f != nil, "ips_affected", marked)
}

// want is what the target is to hold of desired tags d under the filter.
// Equal inputs give one shared Set, so pruned actual state costs no more
// memory per IP than unpruned.
func (e *Engine) want(d tags.Set) tags.Set {
	if e.filter == nil || d.Len() == 0 {
		return d
	}
	if s, ok := e.memo[d.Key()]; ok {
		return s
	}
	var keep []string
	for _, t := range d.Slice() {
		if e.filter.Keep(t) {
			keep = append(keep, t)
		}
	}
	s := d
	if len(keep) < d.Len() {
		s = tags.NewSet(keep...)
	}
	if len(e.memo) >= maxFilterMemo {
		clear(e.memo)
	}
	e.memo[d.Key()] = s
	return s
}

// FilterVar holds a target's current TagFilter for whichever Pusher runs
// for it (one per leadership term): the DAG watcher Sets it, the pusher
// reads it when it starts and whenever Changed fires. Safe for concurrent
// use.
type FilterVar struct {
	mu sync.Mutex
	f  TagFilter
	c  chan struct{}
}

// NewFilterVar returns a FilterVar holding f (nil: keep every tag).
func NewFilterVar(f TagFilter) *FilterVar {
	return &FilterVar{f: f, c: make(chan struct{}, 1)}
}

// Set installs f; the running pusher picks it up at once.
func (v *FilterVar) Set(f TagFilter) {
	v.mu.Lock()
	v.f = f
	v.mu.Unlock()
	select {
	case v.c <- struct{}{}:
	default:
	}
}

// Get returns the current filter.
func (v *FilterVar) Get() TagFilter {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.f
}

// Changed fires (coalesced) after Set.
func (v *FilterVar) Changed() <-chan struct{} { return v.c }
