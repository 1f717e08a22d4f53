package tags

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
)

func TestInterner(t *testing.T) {
	in := NewInterner()
	a1 := in.Intern(NewSet("a", "b"))
	a2 := in.Intern(NewSet("b", "a"))
	if a1.d != a2.d {
		t.Fatal("equal sets not shared")
	}
	c := in.Intern(NewSet("c"))
	if c.d == a1.d || c.Equal(a1) {
		t.Fatal("different sets shared")
	}
	if got := in.Intern(Set{}); got.d != nil || in.Len() != 2 {
		t.Fatalf("empty set interned: %v, Len %d", got, in.Len())
	}
	in.Release(Set{}) // not counted, no effect
	// {a,b} is held twice: one Release keeps it.
	in.Release(a1)
	if again := in.Intern(NewSet("a", "b")); again.d != a1.d {
		t.Fatal("{a,b} forgotten while still held")
	}
	in.Release(a1)
	in.Release(a2)
	if in.Len() != 1 {
		t.Fatalf("Len = %d after releasing every {a,b}, want 1 ({c})", in.Len())
	}
	// A forgotten set stays valid and Equal to a new copy, which is no
	// longer shared with it.
	again := in.Intern(NewSet("a", "b"))
	if again.d == a1.d {
		t.Fatal("{a,b} still remembered after its last Release")
	}
	if !again.Equal(a1) || !slices.Equal(a1.Slice(), []string{"a", "b"}) {
		t.Fatalf("released set changed: %v vs %v", a1, again)
	}
	in.Release(again)
	in.Release(c)
	if in.Len() != 0 {
		t.Fatalf("Len = %d after releasing everything", in.Len())
	}
}

// BenchmarkInternedMemory reports the heap bytes per IP of a map from
// 100k IPs to interned tag sets shaped like Deployments' pods (500
// workloads of 200 pods), tags derived by the k8s preset.
func BenchmarkInternedMemory(b *testing.B) {
	const ips = 100_000
	d := mustDeriver(b, Config{Cluster: "prod"})
	var perIP float64
	for b.Loop() {
		in := NewInterner()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := make(map[int]Set, ips)
		for ip := range ips {
			id := Identity{Kind: KindPod, Namespace: "ns", Name: fmt.Sprint("p", ip),
				Labels:    map[string]string{"app": fmt.Sprint("app", ip%500), "tier": "web"},
				OwnerKind: "ReplicaSet", OwnerName: fmt.Sprint("rs", ip%500), Services: []string{fmt.Sprint("svc", ip%500)}}
			s, _ := d.Tags(id)
			m[ip] = in.Intern(s)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if in.Len() != 500 || len(m) != ips {
			b.Fatalf("interned %d sets, want 500", in.Len())
		}
		perIP = float64(after.HeapAlloc-before.HeapAlloc) / ips
		runtime.KeepAlive(m)
	}
	b.ReportMetric(perIP, "B/IP")
}
