package tags

import (
	"slices"
	"testing"
)

func TestSetOps(t *testing.T) {
	a := NewSet("b", "a", "c", "a")
	b := NewSet("c", "d", "b")
	if got := a.Slice(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("NewSet sorted/dedup = %v", got)
	}
	if got := Intersect(a, b).Slice(); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("Intersect = %v", got)
	}
	if got := Minus(a, b); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("Minus = %v", got)
	}
	if !NewSet("x", "y").Equal(NewSet("y", "x")) || NewSet("x").Equal(NewSet("x", "y")) {
		t.Fatal("Equal wrong")
	}
	var zero Set
	if zero.Len() != 0 || zero.Has("a") || !zero.Equal(NewSet()) {
		t.Fatal("zero set wrong")
	}
}
