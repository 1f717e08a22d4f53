package tags

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
)

func TestInterner(t *testing.T) {
	in, err := NewInterner(2)
	if err != nil {
		t.Fatal(err)
	}
	a1 := in.Intern(NewSet("a", "b"))
	a2 := in.Intern(NewSet("b", "a"))
	if a1.d != a2.d {
		t.Fatal("equal sets not shared")
	}
	c := in.Intern(NewSet("c"))
	if c.d == a1.d || c.Equal(a1) {
		t.Fatal("different sets shared")
	}
	if got := in.Intern(Set{}); got.d != nil {
		t.Fatal("empty set interned")
	}
	in.Intern(NewSet("d")) // evicts {a,b}, the least recently interned
	if in.Len() != 2 {
		t.Fatalf("Len = %d, want bounded at 2", in.Len())
	}
	// A forgotten set stays valid and still Equal to a new copy, which is
	// no longer shared with it.
	again := in.Intern(NewSet("a", "b"))
	if again.d == a1.d {
		t.Fatal("{a,b} still remembered after eviction")
	}
	if !again.Equal(a1) || !slices.Equal(a1.Slice(), []string{"a", "b"}) {
		t.Fatalf("evicted set changed: %v vs %v", a1, again)
	}
	if _, err := NewInterner(0); err == nil {
		t.Fatal("NewInterner(0) accepted")
	}
}

func TestInternerConcurrent(t *testing.T) {
	in, err := NewInterner(64)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([][]Set, 4)
	for g := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				results[g] = append(results[g], in.Intern(NewSet(fmt.Sprint("t", i%16))))
			}
		}()
	}
	wg.Wait()
	for g := range results {
		for i, s := range results[g] {
			if !s.Equal(results[0][i]) {
				t.Fatalf("goroutine %d set %d = %v, want %v", g, i, s, results[0][i])
			}
		}
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
		in, err := NewInterner(4096)
		if err != nil {
			b.Fatal(err)
		}
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
