package tags

import (
	"hash/maphash"
	"slices"
	"strings"
)

// Set is an immutable, sorted, duplicate-free set of tag names. The zero
// value is the empty set. Sets are small values (one pointer) and safe to
// share between goroutines; see Interner for sharing equal sets' storage.
type Set struct {
	d *setData
}

// setData stores the tags once: key holds every tag joined by "\x00" and
// tags[i] are substrings of key, so a set of n tags costs its bytes plus n
// string headers, not twice its bytes.
type setData struct {
	key  string   // tags joined by "\x00": identity for interning and equality
	tags []string // substrings of key, sorted
	hash uint64   // hash of key, to reject unequal sets without comparing keys
}

// hashSeed is per process: set hashes are never persisted or compared
// across processes.
var hashSeed = maphash.MakeSeed()

// NewSet returns the set of the given tags (duplicates removed).
func NewSet(tags ...string) Set {
	if len(tags) == 0 {
		return Set{}
	}
	t := slices.Clone(tags)
	slices.Sort(t)
	t = slices.Compact(t)
	return Set{d: newSetData(t)}
}

// newSetData builds the storage for sorted, duplicate-free tags; it reuses
// the tags slice for the substrings of the joined key.
func newSetData(sorted []string) *setData {
	n := len(sorted) - 1
	for _, s := range sorted {
		n += len(s)
	}
	var b strings.Builder
	b.Grow(n)
	for i, s := range sorted {
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(s)
	}
	key := b.String()
	off := 0
	for i, s := range sorted {
		sorted[i] = key[off : off+len(s)]
		off += len(s) + 1
	}
	return &setData{key: key, tags: slices.Clip(sorted), hash: maphash.String(hashSeed, key)}
}

// Len returns the number of tags.
func (s Set) Len() int {
	if s.d == nil {
		return 0
	}
	return len(s.d.tags)
}

// Slice returns the sorted tags. The slice is shared: do not modify it.
func (s Set) Slice() []string {
	if s.d == nil {
		return nil
	}
	return s.d.tags
}

// Has reports whether t is in the set.
func (s Set) Has(t string) bool {
	_, ok := slices.BinarySearch(s.Slice(), t)
	return ok
}

// Key returns a string that is equal for equal sets.
func (s Set) Key() string {
	if s.d == nil {
		return ""
	}
	return s.d.key
}

// Equal reports whether s and o hold the same tags. Sets from one Interner
// that are equal share storage, so for them Equal is a pointer comparison;
// other unequal sets are usually told apart by their hashes.
func (s Set) Equal(o Set) bool {
	if s.d == o.d {
		return true
	}
	if s.d == nil || o.d == nil {
		return s.Len() == 0 && o.Len() == 0
	}
	return s.d.hash == o.d.hash && len(s.d.tags) == len(o.d.tags) && s.d.key == o.d.key
}

// String returns the tags separated by commas, for logs.
func (s Set) String() string {
	return strings.Join(s.Slice(), ",")
}

// Intersect returns the tags in both a and b.
func Intersect(a, b Set) Set {
	if a.Equal(b) {
		return a
	}
	var out []string
	for _, t := range a.Slice() {
		if b.Has(t) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return Set{}
	}
	return Set{d: newSetData(out)} // a's order is sorted and duplicate-free
}

// Minus returns the tags of a that are not in b, sorted.
func Minus(a, b Set) []string {
	var out []string
	for _, t := range a.Slice() {
		if !b.Has(t) {
			out = append(out, t)
		}
	}
	return out
}
