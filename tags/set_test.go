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

func TestSetEqual(t *testing.T) {
	tests := []struct {
		a, b Set
		want bool
	}{
		{NewSet("a", "b"), NewSet("b", "a", "a"), true},
		{NewSet("a"), NewSet("a", "b"), false},
		{NewSet("ab"), NewSet("a", "b"), false},
		{NewSet(""), Set{}, false}, // a set holding "" is not empty
		{Set{}, NewSet(), true},
		{Intersect(NewSet("a", "b"), NewSet("b", "c")), NewSet("b"), true},
		{Intersect(NewSet("a"), NewSet("b")), Set{}, true},
	}
	for _, tt := range tests {
		if got := tt.a.Equal(tt.b); got != tt.want {
			t.Errorf("%q.Equal(%q) = %v, want %v", tt.a.Slice(), tt.b.Slice(), got, tt.want)
		}
		if got := tt.b.Equal(tt.a); got != tt.want {
			t.Errorf("Equal not symmetric for %q, %q", tt.a.Slice(), tt.b.Slice())
		}
	}
}

func TestSetDoesNotAliasInput(t *testing.T) {
	in := []string{"b", "a"}
	s := NewSet(in...)
	in[0] = "z"
	if !slices.Equal(s.Slice(), []string{"a", "b"}) || s.Key() != "a\x00b" || !s.Has("b") {
		t.Fatalf("set changed with its input: %q key %q", s.Slice(), s.Key())
	}
	if s.String() != "a,b" {
		t.Fatalf("String = %q", s.String())
	}
}

func BenchmarkSetEqualInterned(b *testing.B) {
	in := NewInterner()
	x := in.Intern(NewSet("k8s.cl_prod.ns_shop", "k8s.cl_prod.ns_shop.app.web", "k8s.cl_prod.ns_shop.svc_web"))
	y := in.Intern(NewSet("k8s.cl_prod.ns_shop", "k8s.cl_prod.ns_shop.app.web", "k8s.cl_prod.ns_shop.svc_web"))
	for b.Loop() {
		if !x.Equal(y) {
			b.Fatal("unequal")
		}
	}
}
