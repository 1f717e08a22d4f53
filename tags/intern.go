package tags

// Interner makes equal Sets share one storage, so that many IPs with the
// same tags (the pods of one Deployment, say) cost one pointer each, and
// Equal on them is a pointer comparison. It counts references: every
// Intern is matched by one Release, and a set nobody holds any more is
// forgotten, so its memory follows the live sets (bounded by the claims,
// with no size to tune). Not safe for concurrent use: its owner (the
// aggregator's store) calls it under its own lock.
type Interner struct {
	m map[string]*internRec
}

type internRec struct {
	set  Set
	refs int
}

// NewInterner returns an empty Interner.
func NewInterner() *Interner { return &Interner{m: make(map[string]*internRec)} }

// Intern returns the held set equal to s (s itself if there is none) and
// counts one more reference to it. The empty set is returned as is and
// not counted.
func (in *Interner) Intern(s Set) Set {
	if s.d == nil {
		return Set{}
	}
	if r, ok := in.m[s.d.key]; ok {
		r.refs++
		return r.set
	}
	in.m[s.d.key] = &internRec{set: s, refs: 1}
	return s
}

// Release drops one reference to s (as returned by Intern); the last one
// forgets it.
func (in *Interner) Release(s Set) {
	if s.d == nil {
		return
	}
	if r, ok := in.m[s.d.key]; ok {
		if r.refs--; r.refs <= 0 {
			delete(in.m, s.d.key)
		}
	}
}

// Len returns the number of distinct sets held.
func (in *Interner) Len() int { return len(in.m) }
