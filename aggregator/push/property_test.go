package push

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/tags"
)

// model tracks, per IP, the current claims in the order they were made.
type modelClaim struct {
	src  string
	tags []string
}

type model map[netip.Addr][]modelClaim

func (m model) upsert(src string, ip netip.Addr, ts []string) {
	cs := slices.DeleteFunc(m[ip], func(c modelClaim) bool { return c.src == src })
	m[ip] = append(cs, modelClaim{src, ts})
}

func (m model) del(src string, ip netip.Addr) {
	cs := slices.DeleteFunc(m[ip], func(c modelClaim) bool { return c.src == src })
	if len(cs) == 0 {
		delete(m, ip)
	} else {
		m[ip] = cs
	}
}

// latest is the latest claimant's tags; ok false when unclaimed.
func (m model) latest(ip netip.Addr) ([]string, bool) {
	cs := m[ip]
	if len(cs) == 0 {
		return nil, false
	}
	return cs[len(cs)-1].tags, true
}

// desired is the intersection of all claims.
func (m model) desired(ip netip.Addr) []string {
	cs := m[ip]
	if len(cs) == 0 {
		return nil
	}
	out := slices.Clone(cs[0].tags)
	for _, c := range cs[1:] {
		out = slices.DeleteFunc(out, func(t string) bool { return !slices.Contains(c.tags, t) })
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func ownedOf(ts []string) []string {
	return slices.DeleteFunc(slices.Clone(ts), func(t string) bool { return !owns(t) })
}

func TestPropertyConvergesAndNeverOverTags(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) { checkConvergesAndNeverOverTags(rt, false) })
}

// TestPropertyPruning is the same with tag pruning: the filter changes at
// random, and the target converges to the desired tags it keeps.
func TestPropertyPruning(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) { checkConvergesAndNeverOverTags(rt, true) })
}

func checkConvergesAndNeverOverTags(rt *rapid.T, pruned bool) {
	{
		const resyncInterval = time.Minute
		clk := newFakeClock()
		fw := newFakeFirewall(clk)
		st := store.New(store.Options{})
		m := model{}
		ips := make([]netip.Addr, 6)
		for i := range ips {
			ips[i] = netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})
		}
		sources := []string{"node-a", "node-b", "node-c", "services"}
		allTags := []string{"k8s.a", "k8s.b", "k8s.c", "k8s.d"}
		foreign := "corp.keep"

		// Pre-existing state: stale owned tags and foreign ones.
		foreignOn := map[netip.Addr]bool{}
		for _, ip := range ips[:3] {
			if rapid.Bool().Draw(rt, "stale "+ip.String()) {
				fw.set(ip, "k8s.stale", foreign)
				foreignOn[ip] = true
			}
		}

		// Invariant after every Update call: every IP the call touched
		// carries no owned tag the latest claimant lacks.
		var violation string
		fw.onCall = func(u Update) {
			touched := map[netip.Addr]bool{}
			for _, e := range append(slices.Clone(u.Unregister), u.Register...) {
				touched[e.IP] = true
			}
			for ip := range touched {
				have := ownedOf(fw.tagsLocked(ip))
				want, _ := m.latest(ip)
				for _, tg := range have {
					if !slices.Contains(want, tg) && violation == "" {
						violation = fmt.Sprintf("after call %d: %v carries %q; latest claimant has %v (fw %v)", len(fw.calls), ip, tg, want, have)
					}
				}
			}
		}

		// Tag pruning: its filter changes at random below.
		var filter *FilterVar
		var keep []string
		filterGen := rapid.SliceOfDistinct(rapid.SampledFrom(allTags), rapid.ID[string])
		if pruned {
			keep = filterGen.Draw(rt, "keep")
			filter = NewFilterVar(keepOnly(keep))
		}
		p, err := New(fw, st, Options{
			Filter: filter,
			Name:   "fw", Owns: owns, MaxBatch: rapid.IntRange(1, 8).Draw(rt, "maxBatch"),
			TagTTL: time.Hour, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			BackoffBase: time.Second, BackoffMax: 10 * time.Second,
			EntryRetryBase: time.Second, EntryRetryMax: 10 * time.Second,
			ResyncInterval: resyncInterval,
		})
		if err != nil {
			rt.Fatal(err)
		}
		// The real engine under the real loop body, stepped at the fake
		// clock's time; it starts with a reconcile.
		d := newDriver(rt, p, clk)
		defer d.Close()
		d.step()
		if !p.Status().Synced {
			rt.Fatal("first reconcile failed")
		}

		tagsGen := rapid.SliceOfNDistinct(rapid.SampledFrom(allTags), 0, 4, rapid.ID[string])
		claimOf := func(rt *rapid.T, label string) ([]string, store.Claim) {
			ts := tagsGen.Draw(rt, label)
			owner := rapid.SampledFrom([]string{"uid-1", "uid-2", "uid-3", "uid-4"}).Draw(rt, label+" owner")
			return ts, store.Claim{Tags: tags.NewSet(ts...), Owner: owner}
		}

		actions := map[string]func(*rapid.T){
			"upsert": func(rt *rapid.T) {
				src := rapid.SampledFrom(sources).Draw(rt, "src")
				ip := rapid.SampledFrom(ips).Draw(rt, "ip")
				ts, c := claimOf(rt, "claim")
				st.Upsert(src, ip, c)
				m.upsert(src, ip, ts)
			},
			"delete": func(rt *rapid.T) {
				src := rapid.SampledFrom(sources).Draw(rt, "src")
				ip := rapid.SampledFrom(ips).Draw(rt, "ip")
				st.Delete(src, ip)
				m.del(src, ip)
			},
			"snapshot": func(rt *rapid.T) {
				src := rapid.SampledFrom(sources).Draw(rt, "src")
				snap := map[netip.Addr]store.Claim{}
				for _, ip := range ips {
					if rapid.Bool().Draw(rt, "in "+ip.String()) {
						ts, c := claimOf(rt, ip.String())
						snap[ip] = c
						m.upsert(src, ip, ts)
					} else {
						m.del(src, ip)
					}
				}
				st.Replace(src, snap)
			},
			"removeSource": func(rt *rapid.T) {
				src := rapid.SampledFrom(sources).Draw(rt, "src")
				st.RemoveSource(src)
				for _, ip := range ips {
					m.del(src, ip)
				}
			},
			"targetFails": func(rt *rapid.T) {
				n := rapid.IntRange(1, 3).Draw(rt, "n")
				lost := rapid.Bool().Draw(rt, "answer lost")
				fw.with(func() {
					if lost {
						fw.failAfter = n
					} else {
						fw.failCall = n
					}
				})
			},
			"refuseIP": func(rt *rapid.T) {
				ip := rapid.SampledFrom(ips).Draw(rt, "ip")
				fw.with(func() { fw.refuse = func(a netip.Addr) bool { return a == ip } })
			},
			"acceptAll": func(rt *rapid.T) { fw.with(func() { fw.refuse = nil }) },
			"foreignTag": func(rt *rapid.T) {
				ip := rapid.SampledFrom(ips).Draw(rt, "ip")
				fw.set(ip, foreign)
				foreignOn[ip] = true
			},
			"flush": func(rt *rapid.T) { d.flush() },
			"advance": func(rt *rapid.T) {
				clk.Advance(time.Duration(rapid.IntRange(1, 15).Draw(rt, "s")) * time.Second)
				d.step()
			},
			"reconcile": func(rt *rapid.T) {
				// The periodic resync lists the target and repairs both ways.
				before := p.Status().LastReconcile
				clk.Advance(resyncInterval)
				d.step()
				if !p.Status().LastReconcile.After(before) {
					rt.Fatalf("no reconcile %v after the last one; status %+v", resyncInterval, p.Status())
				}
			},
			"": func(rt *rapid.T) {
				if violation != "" {
					rt.Fatal(violation)
				}
			},
		}
		if pruned {
			actions["setFilter"] = func(rt *rapid.T) {
				keep = filterGen.Draw(rt, "keep")
				filter.Set(keepOnly(keep))
				d.flush()
			}
		}
		rt.Repeat(actions)

		// Heal the target and let time pass: must converge.
		fw.with(func() { fw.failCall, fw.failAfter, fw.refuse = 0, 0, nil })
		for range 20 {
			clk.Advance(11 * time.Second)
			d.step()
			if p.eng.pending.Len() == 0 && d.sub.Len() == 0 && p.eng.retry.Len() == 0 {
				break
			}
		}
		if violation != "" {
			rt.Fatal(violation)
		}
		for _, ip := range ips {
			got := ownedOf(fw.tagsOf(ip))
			want := m.desired(ip)
			if pruned {
				want = slices.DeleteFunc(want, func(t string) bool { return !slices.Contains(keep, t) })
			}
			if !slices.Equal(got, want) {
				rt.Fatalf("%v: target has owned %v, desired %v (claims %v)", ip, got, want, m[ip])
			}
		}
		for ip := range foreignOn {
			if !slices.Contains(fw.tagsOf(ip), foreign) {
				rt.Fatalf("%v: foreign tag %q was removed", ip, foreign)
			}
		}
	}
}
