package tags

import (
	"slices"
	"strings"
)

// Set is an immutable, sorted, duplicate-free set of tag names. The zero
// value is the empty set. Sets are small values (one pointer) and safe to
// share between goroutines; see Interner for sharing equal sets' storage.
type Set struct {
	d *setData
}

type setData struct {
	tags []string
	key  string // tags joined by "\x00": identity for interning and equality
}

// NewSet returns the set of the given tags (duplicates removed).
func NewSet(tags ...string) Set {
	if len(tags) == 0 {
		return Set{}
	}
	t := slices.Clone(tags)
	slices.Sort(t)
	t = slices.Compact(t)
	return Set{d: &setData{tags: t, key: strings.Join(t, "\x00")}}
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

// Equal reports whether s and o hold the same tags.
func (s Set) Equal(o Set) bool {
	return s.d == o.d || s.Key() == o.Key()
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
	return NewSet(out...)
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
