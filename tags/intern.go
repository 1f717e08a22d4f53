package tags

import (
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Interner makes equal Sets share one storage, so that many IPs with the
// same tags (the pods of one Deployment, say) cost one pointer each, and
// Equal on them is a pointer comparison. It remembers at most size distinct
// sets, least recently interned forgotten first; a forgotten set stays
// valid (Sets are immutable), it is just no longer shared with sets
// interned later. Safe for concurrent use.
type Interner struct {
	c *lru.Cache[string, *setData]
}

// NewInterner returns an Interner remembering up to size distinct sets.
// Size it to the number of distinct tag sets expected (a few per workload),
// not to the number of IPs.
func NewInterner(size int) (*Interner, error) {
	c, err := lru.New[string, *setData](size)
	if err != nil {
		return nil, fmt.Errorf("tags: interner of size %d: %w", size, err)
	}
	return &Interner{c: c}, nil
}

// Intern returns the remembered set equal to s, remembering s if there is
// none. The empty set is returned as is.
func (in *Interner) Intern(s Set) Set {
	if s.d == nil {
		return s
	}
	if d, ok := in.c.Get(s.d.key); ok {
		return Set{d: d}
	}
	if d, ok, _ := in.c.PeekOrAdd(s.d.key, s.d); ok {
		return Set{d: d}
	}
	return s
}

// Len returns the number of distinct sets remembered.
func (in *Interner) Len() int { return in.c.Len() }
