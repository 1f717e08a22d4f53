package ipsource

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kubedag/kubedag/agent/nodestate"
	"github.com/kubedag/kubedag/agent/routewatch"
	"github.com/kubedag/kubedag/tags"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

const ip = "10.0.0.1"

func pod(name, uid string, labels ...string) tags.Identity {
	l := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		l[labels[i]] = labels[i+1]
	}
	return tags.Identity{Kind: tags.KindPod, Namespace: "ns", Name: name, UID: uid, Labels: l}
}

// step is one input to the combiner followed by the expected state of ip:
// want is "" for unclaimed, else "<pod name>@<first seen ms>".
type step struct {
	op   func(c *Combiner)
	want string
}

func up(id tags.Identity, ms int) func(*Combiner) {
	return func(c *Combiner) { c.Upsert(netip.MustParseAddr(ip), id, at(ms)) }
}
func rm() func(*Combiner) { return func(c *Combiner) { c.Remove(netip.MustParseAddr(ip)) } }
func route(live bool, ms int) func(*Combiner) {
	return func(c *Combiner) {
		c.Observe(netip.MustParseAddr(ip), routewatch.Liveness{Route: live}, at(ms))
	}
}
func neigh(route, neigh bool, ms int) func(*Combiner) {
	return func(c *Combiner) {
		c.Observe(netip.MustParseAddr(ip), routewatch.Liveness{Route: route, Neighbour: neigh}, at(ms))
	}
}

func TestCombiner(t *testing.T) {
	a, a2, b := pod("a", "uid-a"), pod("a", "uid-a", "tier", "db"), pod("b", "uid-b")
	tests := []struct {
		name  string
		mode  Mode
		steps []step
	}{{
		name: "api: API alone claims and withdraws; routes ignored",
		mode: ModeAPI,
		steps: []step{
			{route(true, 5), ""},
			{up(a, 10), "a@10"},
			{route(false, 20), "a@10"},
			{up(a2, 30), "a@30"},
			{rm(), ""},
		},
	}, {
		name: "netlink: no claim until the route, withdrawn when it goes",
		mode: ModeNetlink,
		steps: []step{
			{up(a, 10), ""},
			{route(true, 15), "a@10"},
			{route(false, 20), ""},
			{route(true, 30), "a@30"},
			{rm(), ""},
		},
	}, {
		name: "netlink: route first dates the claim",
		mode: ModeNetlink,
		steps: []step{
			{route(true, 5), ""},
			{up(a, 10), "a@5"},
			{up(a2, 20), "a@20"}, // relabel: dated by the API change
		},
	}, {
		name: "both: API alone claims (CNI without host routes)",
		mode: ModeBoth,
		steps: []step{
			{up(a, 10), "a@10"},
			{up(a2, 20), "a@20"},
			{rm(), ""},
		},
	}, {
		name: "both: route first dates the claim; route gone withdraws before the API",
		mode: ModeBoth,
		steps: []step{
			{route(true, 5), ""},
			{up(a, 10), "a@5"},
			{route(false, 20), ""},
			{up(a2, 25), ""}, // still dead: relabel of a pod whose route is gone
			{route(true, 30), "a@30"},
			{route(false, 40), ""},
			{rm(), ""},
		},
	}, {
		name: "both: dead route of the old pod does not block a new pod on the IP",
		mode: ModeBoth,
		steps: []step{
			{up(a, 10), "a@10"},
			{route(true, 11), "a@10"},
			{route(false, 20), ""},
			{up(b, 30), "b@30"},
			{route(true, 40), "b@30"},
			{route(false, 50), ""},
		},
	}, {
		name: "both: neighbours date but never withdraw",
		mode: ModeBoth,
		steps: []step{
			{neigh(false, true, 3), ""},
			{up(a, 10), "a@3"},
			{neigh(false, false, 20), "a@3"},
		},
	}, {
		name: "netlink: neighbour alone does not claim",
		mode: ModeNetlink,
		steps: []step{
			{neigh(false, true, 3), ""},
			{up(a, 10), ""},
			{neigh(true, true, 12), "a@3"},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := nodestate.New()
			c, err := New(Config{Mode: tc.mode, State: st, Now: func() time.Time { return at(1000) }})
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.steps {
				s.op(c)
				got := ""
				if cl, ok := st.Get(netip.MustParseAddr(ip)); ok {
					got = fmt.Sprintf("%s@%d", cl.Identity.Name, cl.FirstSeen.Sub(t0).Milliseconds())
				}
				if got != s.want {
					t.Fatalf("step %d: claim = %q, want %q", i, got, s.want)
				}
			}
		})
	}
}

func TestCombinerForgets(t *testing.T) {
	st := nodestate.New()
	c, err := New(Config{Mode: ModeBoth, State: st})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		x := netip.AddrFrom4([4]byte{10, 1, 0, byte(i)})
		c.Observe(x, routewatch.Liveness{Route: true}, at(i))
		c.Upsert(x, pod(fmt.Sprint(i), fmt.Sprint(i)), at(i))
	}
	if c.Len() != 100 || st.Len() != 100 {
		t.Fatalf("Len = %d, state %d, want 100", c.Len(), st.Len())
	}
	for i := range 100 {
		x := netip.AddrFrom4([4]byte{10, 1, 0, byte(i)})
		c.Observe(x, routewatch.Liveness{}, at(200+i))
		c.Remove(x)
	}
	if c.Len() != 0 || st.Len() != 0 {
		t.Fatalf("after removal Len = %d, state %d, want 0", c.Len(), st.Len())
	}
}

func TestSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	st := nodestate.New()
	c, err := New(Config{Mode: ModeBoth, State: st, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr(ip)
	c.Observe(addr, routewatch.Liveness{Route: true}, at(5))
	c.Upsert(addr, pod("a", "uid-a"), at(10))
	c.Upsert(addr, pod("a", "uid-a", "x", "y"), at(20))
	cl, ok := st.Get(addr)
	if !ok {
		t.Fatal("not claimed")
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d ended spans, want 2 (new, update)", len(spans))
	}
	for i, want := range []time.Time{at(5), at(20)} {
		if !spans[i].StartTime().Equal(want) {
			t.Errorf("span %d starts %v, want %v", i, spans[i].StartTime(), want)
		}
		if spans[i].Name() != SpanName || spans[i].InstrumentationScope().Name != TracerName {
			t.Errorf("span %d: name %q scope %q", i, spans[i].Name(), spans[i].InstrumentationScope().Name)
		}
	}
	if !cl.Span.IsValid() || !cl.Span.Equal(spans[1].SpanContext()) {
		t.Errorf("claim span %v, want the update span %v", cl.Span, spans[1].SpanContext())
	}
	if !cl.FirstSeen.Equal(at(20)) {
		t.Errorf("FirstSeen = %v, want %v", cl.FirstSeen, at(20))
	}
	// An unchanged identity starts no span.
	c.Upsert(addr, pod("a", "uid-a", "x", "y"), at(30))
	if n := len(rec.Ended()); n != 2 {
		t.Errorf("%d spans after a no-op upsert, want 2", n)
	}
}

func TestParseMode(t *testing.T) {
	for _, s := range []string{"api", "netlink", "both"} {
		m, err := ParseMode(s)
		if err != nil || string(m) != s {
			t.Errorf("ParseMode(%q) = %q, %v", s, m, err)
		}
	}
	for _, s := range []string{"", "API", "route"} {
		if _, err := ParseMode(s); err == nil {
			t.Errorf("ParseMode(%q) succeeded", s)
		}
	}
	if ModeAPI.UsesNetlink() || !ModeBoth.UsesNetlink() || !ModeNetlink.UsesNetlink() {
		t.Error("UsesNetlink wrong")
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New without State succeeded")
	}
	if _, err := New(Config{State: nodestate.New(), Mode: "bogus"}); err == nil {
		t.Error("New with bad mode succeeded")
	}
}
