package push

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator/ipmap"
	"github.com/kubedag/kubedag/aggregator/store"
)

// TestBacklogOldestFirst: with more IPs waiting than one call carries,
// each call takes the IPs that have waited longest, and an IP waiting
// when a call is planned behind W IPs at least as old (itself included)
// goes within ceil(W/MaxBatch) calls, however many arrive after it.
func TestBacklogOldestFirst(t *testing.T) {
	tests := []struct {
		name                            string
		maxBatch, backlog, perCall, arr int // arr: calls during which perCall IPs arrive
	}{
		{"backlog drains under steady arrivals", 1000, 2500, 600, 10},
		{"arrivals outpace calls for a while", 1000, 1500, 1200, 6},
		{"everything fits", 1000, 300, 200, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := store.New(store.Options{})
			opts := quietOptions()
			opts.MaxBatch = tt.maxBatch
			e, err := NewEngine(st, opts)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Unix(1700000000, 0)
			e.Reset(now)
			if a := e.Next(now); a.Kind != List {
				t.Fatalf("first action %v, want list", a.Kind)
			}
			e.Listed(nil, nil)

			arrived := map[netip.Addr]int{} // IP -> the call after which it became pending
			deadline := map[int]int{}       // arrival -> the last call allowed to carry it
			waiting := map[netip.Addr]bool{}
			n := 0
			arrive := func(k, after int) {
				var s ipmap.Set
				for range k {
					ip := ipN(n)
					n++
					st.Upsert("n1", ip, claimT("u", "k8s.a"))
					s.Add(ip)
					arrived[ip], waiting[ip] = after, true
				}
				e.DirtySet(now, s)
			}
			arrive(tt.backlog, 0)
			for call := 1; ; call++ {
				// Deadlines of the IPs that arrived since the last call,
				// from the IPs at least as old waiting now.
				if _, ok := deadline[call-1]; !ok {
					w := 0
					for ip := range waiting {
						if arrived[ip] <= call-1 {
							w++
						}
					}
					deadline[call-1] = call - 1 + (w+tt.maxBatch-1)/tt.maxBatch
				}
				a := e.Next(now)
				if a.Kind == Wait {
					break
				}
				if a.Kind != Send {
					t.Fatalf("call %d: action %v, want send", call, a.Kind)
				}
				if len(a.Update.Register) > tt.maxBatch {
					t.Fatalf("call %d: %d entries, MaxBatch %d", call, len(a.Update.Register), tt.maxBatch)
				}
				newest := 0
				for _, en := range a.Update.Register {
					ip := en.IP
					if !waiting[ip] {
						t.Fatalf("call %d: %v sent but not waiting", call, ip)
					}
					delete(waiting, ip)
					newest = max(newest, arrived[ip])
					if d := deadline[arrived[ip]]; call > d {
						t.Errorf("call %d: %v (arrived after call %d) sent %d calls after its deadline (call %d)", call, ip, arrived[ip], call-d, d)
					}
				}
				for ip := range waiting {
					if arrived[ip] < newest {
						t.Fatalf("call %d: sent an IP that arrived after call %d while %v, waiting since call %d, was left", call, newest, ip, arrived[ip])
					}
				}
				e.Sent(UpdateResult{}, nil)
				now = now.Add(200 * time.Millisecond)
				if call <= tt.arr {
					arrive(tt.perCall, call)
				}
				if call > 1000 {
					t.Fatal("no end")
				}
			}
			if len(waiting) > 0 {
				t.Fatalf("%d IPs never sent", len(waiting))
			}
			if e.pending.Len() != 0 || len(e.pending.cohorts) > 1 {
				t.Fatalf("pending after drain: %d IPs in %d cohorts", e.pending.Len(), len(e.pending.cohorts))
			}
		})
	}
}

// TestPendingSetModel checks pendingSet against a plain set under random
// operations: same members, disjoint cohorts, at most maxCohorts of them,
// and All yields the cohorts oldest first.
func TestPendingSetModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var p pendingSet
	model := map[netip.Addr]bool{}
	for step := range 20000 {
		ip := ipN(rng.IntN(300))
		switch op := rng.IntN(10); {
		case op < 5:
			p.Add(ip)
			model[ip] = true
		case op < 7:
			p.Delete(ip)
			delete(model, ip)
		case op < 8:
			p.addOldest(ip)
			model[ip] = true
		case op < 9:
			p.cut()
		default:
			if p.Has(ip) != model[ip] {
				t.Fatalf("step %d: Has(%v) = %v, want %v", step, ip, p.Has(ip), model[ip])
			}
		}
		if len(p.cohorts) > maxCohorts {
			t.Fatalf("step %d: %d cohorts", step, len(p.cohorts))
		}
		if p.Len() != len(model) {
			t.Fatalf("step %d: Len %d, want %d", step, p.Len(), len(model))
		}
	}
	seen := map[netip.Addr]int{}
	for i := range p.cohorts {
		for ip := range p.cohorts[i].All() {
			if j, ok := seen[ip]; ok {
				t.Fatalf("%v in cohorts %d and %d", ip, j, i)
			}
			seen[ip] = i
		}
	}
	last := 0
	for ip := range p.All() {
		if seen[ip] < last {
			t.Fatalf("All yields cohort %d after %d", seen[ip], last)
		}
		last = seen[ip]
		if !model[ip] {
			t.Fatalf("All yields %v, not pending", ip)
		}
	}
}
