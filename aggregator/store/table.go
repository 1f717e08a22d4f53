package store

// table interns values by a string key and hands out small ids, so that
// per-IP records refer to a tag set or an owner string with four bytes and
// no pointer (the records then cost the garbage collector nothing to
// scan). It counts references: every intern is matched by one release,
// and a value nobody holds any more is forgotten and its id reused. Id 0
// is the zero value and is never counted. Not safe for concurrent use (the
// Store's lock guards it).
type table[T any] struct {
	key   func(T) string
	vals  []T // by id; vals[0] is the zero value
	refs  []int32
	free  []uint32
	byKey map[string]uint32
}

func newTable[T any](key func(T) string) *table[T] {
	return &table[T]{key: key, vals: make([]T, 1), refs: make([]int32, 1), byKey: make(map[string]uint32)}
}

// intern returns the id of the held value with v's key (or of v, now
// held) and counts one more reference; a value with the empty key is id 0.
func (t *table[T]) intern(v T) uint32 {
	k := t.key(v)
	if k == "" {
		return 0
	}
	if id, ok := t.byKey[k]; ok {
		t.refs[id]++
		return id
	}
	var id uint32
	if n := len(t.free); n > 0 {
		id = t.free[n-1]
		t.free = t.free[:n-1]
		t.vals[id], t.refs[id] = v, 1
	} else {
		id = uint32(len(t.vals))
		t.vals = append(t.vals, v)
		t.refs = append(t.refs, 1)
	}
	t.byKey[k] = id
	return id
}

// release drops one reference to id; the last one forgets the value.
func (t *table[T]) release(id uint32) {
	if id == 0 {
		return
	}
	if t.refs[id]--; t.refs[id] > 0 {
		return
	}
	delete(t.byKey, t.key(t.vals[id]))
	var zero T
	t.vals[id] = zero
	t.free = append(t.free, id)
}

// get returns the value of id (the zero value for 0).
func (t *table[T]) get(id uint32) T { return t.vals[id] }

// len returns the number of distinct values held.
func (t *table[T]) len() int { return len(t.byKey) }
