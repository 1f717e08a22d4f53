package panossim

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestOrder: random insertions and removals (through several block splits
// and emptied blocks) keep the order equal to sorting the live entries,
// and from/after walk it from any rank and any entry.
func TestOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var o order
	live := map[string]*ipEntry{}
	entry := func(i int) *ipEntry {
		key := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		if i%7 == 0 { // a subnet starting at the same address sorts after it
			key += "/31"
		}
		a, err := parseRegAddr(key)
		if err != nil {
			t.Fatal(err)
		}
		if e := live[a.key]; e != nil {
			return e
		}
		return &ipEntry{addr: a}
	}
	check := func(step int) {
		want := make([]*ipEntry, 0, len(live))
		for _, e := range live {
			want = append(want, e)
		}
		slices.SortFunc(want, entryCmp)
		var got []*ipEntry
		o.from(0, func(e *ipEntry) bool { got = append(got, e); return true })
		if o.n != len(want) || !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d: order has %d (n %d), want %d", step, len(got), o.n, len(want))
		}
		for _, b := range o.blocks {
			if len(b) == 0 || len(b) > 2*orderBlock {
				t.Fatalf("step %d: block of %d", step, len(b))
			}
		}
		if len(want) == 0 {
			return
		}
		i := rng.IntN(len(want))
		var rest []*ipEntry
		o.from(i, func(e *ipEntry) bool { rest = append(rest, e); return len(rest) < 600 })
		if w := want[i:min(len(want), i+600)]; !reflect.DeepEqual(rest, w) {
			t.Fatalf("step %d: from(%d) = %d entries, want %d", step, i, len(rest), len(w))
		}
		rest = rest[:0]
		o.after(want[i], func(e *ipEntry) bool { rest = append(rest, e); return len(rest) < 600 })
		if w := want[i+1 : min(len(want), i+601)]; !reflect.DeepEqual(rest, w) {
			t.Fatalf("step %d: after(#%d) = %d entries, want %d", step, i, len(rest), len(w))
		}
	}
	for step := range 20000 {
		i := rng.IntN(5000)
		e := entry(i)
		if live[e.addr.key] == nil && rng.IntN(3) > 0 {
			live[e.addr.key] = e
			o.insert(e)
		} else if live[e.addr.key] != nil {
			delete(live, e.addr.key)
			o.remove(e)
		}
		if step%997 == 0 {
			check(step)
		}
	}
	check(-1)
	// after an entry no longer in the order continues with the next one.
	var all []*ipEntry
	o.from(0, func(e *ipEntry) bool { all = append(all, e); return true })
	gone := all[10]
	o.remove(gone)
	var next *ipEntry
	o.after(gone, func(e *ipEntry) bool { next = e; return false })
	if next != all[11] {
		t.Fatalf("after a removed entry: %v, want %v", next.addr.key, all[11].addr.key)
	}
}

// TestListingPagesWithWritesBetween walks listings (all, and by tag) page
// by page while registrations and unregistrations land between pages:
// every page must be what a fresh count over the table at that moment
// gives (start-point is a rank), whether or not a cursor served it.
func TestListingPagesWithWritesBetween(t *testing.T) {
	h := newHarness(t, Config{})
	rng := rand.New(rand.NewPCG(3, 4))
	var reg, unreg []string
	for i := range 3000 {
		tag := "odd"
		if i%2 == 0 {
			tag = "even"
		}
		reg = append(reg, fmt.Sprintf(`<entry ip="10.0.%d.%d"><tag><member>%s</member></tag></entry>`, i/250, i%250+1, tag))
	}
	h.uid(regMsg(joinEntries(reg)))
	// want is a page computed from scratch from the emulator's state.
	want := func(tag string, start int) []string {
		h.sim.mu.Lock()
		defer h.sim.mu.Unlock()
		sc := h.sim.reg.scope(scopeKey("", ""), false)
		var all []*ipEntry
		for _, e := range sc.entries {
			if tag == "" || e.find(tag) >= 0 {
				all = append(all, e)
			}
		}
		slices.SortFunc(all, entryCmp)
		var out []string
		for _, e := range all[min(start-1, len(all)):min(start-1+DefaultPageLimit, len(all))] {
			out = append(out, e.addr.key)
		}
		return out
	}
	for _, filter := range []struct{ cmd, tag string }{{"<all/>", ""}, {`<tag><entry name="even"/></tag>`, "even"}} {
		for round := range 3 {
			for start := 1; ; start += DefaultPageLimit {
				l := h.list(fmt.Sprintf("<show><object><registered-ip>%s<limit>500</limit><start-point>%d</start-point></registered-ip></object></show>", filter.cmd, start))
				var got []string
				for _, e := range l.Entries {
					got = append(got, e.IP)
				}
				if w := want(filter.tag, start); !slices.Equal(got, w) {
					t.Fatalf("%s round %d page %d: %d entries, want %d (first %v, want %v)", filter.tag, round, start, len(got), len(w), first(got), first(w))
				}
				if len(got) < DefaultPageLimit {
					break
				}
				// Round 0 lists a quiet table (cursors serve the tag
				// pages); later rounds change it between pages.
				if round > 0 {
					reg, unreg = reg[:0], unreg[:0]
					for range 20 {
						i := rng.IntN(4000)
						ip := fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)
						if rng.IntN(2) == 0 {
							reg = append(reg, `<entry ip="`+ip+`"><tag><member>even</member></tag></entry>`)
						} else {
							unreg = append(unreg, `<entry ip="`+ip+`"><tag><member>even</member></tag></entry>`)
						}
					}
					if len(reg) > 0 {
						h.uid(regMsg(joinEntries(reg)))
					}
					if len(unreg) > 0 {
						h.uid(unregMsg(joinEntries(unreg)))
					}
				}
			}
		}
	}
	// Expiry between pages changes ranks too.
	clk := newFakeClock()
	h2 := newHarness(t, Config{Now: clk.Now})
	reg = reg[:0]
	for i := range 1200 {
		timeout := ""
		if i%3 == 0 {
			timeout = ` timeout="60"`
		}
		reg = append(reg, fmt.Sprintf(`<entry ip="10.1.%d.%d"><tag><member%s>t</member></tag></entry>`, i/250, i%250+1, timeout))
	}
	h2.uid(regMsg(joinEntries(reg)))
	p1 := h2.list(`<show><object><registered-ip><tag><entry name="t"/></tag><limit>500</limit><start-point>1</start-point></registered-ip></object></show>`)
	clk.Advance(2 * time.Minute)
	p2 := h2.list(`<show><object><registered-ip><tag><entry name="t"/></tag><limit>500</limit><start-point>501</start-point></registered-ip></object></show>`)
	if p1.Count != 500 || p2.Count != 300 {
		t.Fatalf("pages of %d and %d entries after 400 expired, want 500 and 300", p1.Count, p2.Count)
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func joinEntries(s []string) string {
	out := ""
	for _, e := range s {
		out += e
	}
	return out
}
