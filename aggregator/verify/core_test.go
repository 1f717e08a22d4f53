package verify

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator/podview"
	"github.com/kubedag/kubedag/aggregator/stream"
	"github.com/kubedag/kubedag/tags"
)

// fakeView is the API's view: IP -> holders.
type fakeView map[netip.Addr][]podview.Pod

func (v fakeView) holders(ip netip.Addr) []podview.Pod { return v[ip] }

// recSink applies the forwarded calls to a node -> IP -> identity map.
type recSink struct {
	nodes    map[string]map[netip.Addr]tags.Identity
	replaces int
	gone     int            // NodeGone calls
	upserts  []stream.Claim // every Upsert, in order
}

func (s *recSink) ReplaceNode(node string, cs []stream.Claim) {
	m := map[netip.Addr]tags.Identity{}
	for _, c := range cs {
		m[c.IP] = c.Identity
	}
	s.nodes[node] = m
	s.replaces++
}

func (s *recSink) Upsert(node string, c stream.Claim) {
	s.upserts = append(s.upserts, c)
	if s.nodes[node] == nil {
		s.nodes[node] = map[netip.Addr]tags.Identity{}
	}
	s.nodes[node][c.IP] = c.Identity
}
func (s *recSink) Delete(node string, ip netip.Addr) { delete(s.nodes[node], ip) }
func (s *recSink) NodeGone(node string)              { delete(s.nodes, node); s.gone++ }

func (s *recSink) has(node, ip string) (tags.Identity, bool) {
	id, ok := s.nodes[node][netip.MustParseAddr(ip)]
	return id, ok
}

const wait = 300 * time.Millisecond

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func newTestCore() (*Core, fakeView, *recSink) {
	v := fakeView{}
	s := &recSink{nodes: map[string]map[netip.Addr]tags.Identity{}}
	c := NewCore(v.holders, s, wait, false)
	c.Synced(t0)
	return c, v, s
}

func claim(ip string, id tags.Identity) stream.Claim {
	return stream.Claim{IP: netip.MustParseAddr(ip), Identity: id}
}

func at(d time.Duration) time.Time { return t0.Add(d) }

func reasons(rs []Refusal) []Reason {
	var out []Reason
	for _, r := range rs {
		out = append(out, r.Reason)
	}
	return out
}

func TestCoreConfirmedAtOnce(t *testing.T) {
	c, v, s := newTestCore()
	ip := netip.MustParseAddr("10.0.0.5")
	web := ident("shop", "web", nil)
	v[ip] = []podview.Pod{{Node: "n1", Identity: web}}
	c.Upsert("n1", claim("10.0.0.5", web), at(0))
	if got, ok := s.has("n1", "10.0.0.5"); !ok || !got.Equal(web) {
		t.Fatalf("confirmed claim not forwarded: %v %v", got, ok)
	}
	if c.Pending() != 0 {
		t.Fatal("confirmed claim left pending")
	}
}

// TestCoreRacingInformer: a claim that arrives before the view has the pod
// waits and is accepted as soon as the view confirms it, not refused.
func TestCoreRacingInformer(t *testing.T) {
	c, v, s := newTestCore()
	ip := netip.MustParseAddr("10.0.0.5")
	web := ident("shop", "web", nil)
	c.Upsert("n1", claim("10.0.0.5", web), at(0))
	if _, ok := s.has("n1", "10.0.0.5"); ok || c.Pending() != 1 {
		t.Fatal("unconfirmed claim forwarded or not pending")
	}
	if next := c.Expire(at(10 * time.Millisecond)); !next.Equal(at(wait)) {
		t.Fatalf("next deadline %v, want %v", next, at(wait))
	}
	v[ip] = []podview.Pod{{Node: "n1", Identity: web}}
	c.Recheck([]netip.Addr{ip}, at(20*time.Millisecond))
	if _, ok := s.has("n1", "10.0.0.5"); !ok || c.Pending() != 0 {
		t.Fatal("claim not accepted once the view confirmed it")
	}
	if r := c.TakeRefusals(); len(r) != 0 {
		t.Fatalf("refusals %v", r)
	}
}

func TestCoreScenarios(t *testing.T) {
	web := ident("shop", "web", nil)
	webDB := ident("shop", "web", func(i *tags.Identity) { i.Labels = map[string]string{"app": "web", "tier": "db"} })
	db := ident("shop", "db", nil)
	ip := netip.MustParseAddr("10.0.0.5")
	tests := []struct {
		name string
		run  func(c *Core, v fakeView, s *recSink) []Reason
		// want is node n1's forwarded claim on ip at the end (nil: none).
		want *tags.Identity
		// wantRefused are the refusals, in order.
		wantRefused []Reason
	}{
		{"forged labels refused after the wait", func(c *Core, v fakeView, s *recSink) []Reason {
			v[ip] = []podview.Pod{{Node: "n1", Identity: web}}
			c.Upsert("n1", claim("10.0.0.5", webDB), at(0))
			c.Expire(at(wait - time.Millisecond))
			if len(c.TakeRefusals()) != 0 {
				return []Reason{"early"}
			}
			c.Expire(at(wait))
			return reasons(c.TakeRefusals())
		}, nil, []Reason{ReasonLabels}},
		{"refused, then the view confirms it", func(c *Core, v fakeView, s *recSink) []Reason {
			v[ip] = []podview.Pod{{Node: "n1", Identity: web}}
			c.Upsert("n1", claim("10.0.0.5", webDB), at(0))
			c.Expire(at(wait))
			r := reasons(c.TakeRefusals())
			v[ip] = []podview.Pod{{Node: "n1", Identity: webDB}}
			c.Recheck([]netip.Addr{ip}, at(time.Second))
			return r
		}, &webDB, []Reason{ReasonLabels}},
		{"ip moves to another node: dropped at once", func(c *Core, v fakeView, s *recSink) []Reason {
			v[ip] = []podview.Pod{{Node: "n1", Identity: web}}
			c.Upsert("n1", claim("10.0.0.5", web), at(0))
			v[ip] = []podview.Pod{{Node: "n2", Identity: db}}
			c.Recheck([]netip.Addr{ip}, at(time.Second))
			if _, ok := s.has("n1", "10.0.0.5"); ok {
				return []Reason{"kept"}
			}
			c.Expire(at(time.Second + wait))
			return reasons(c.TakeRefusals())
		}, nil, []Reason{ReasonOtherNode}},
		{"pod deleted: dropped at once, re-claim refused", func(c *Core, v fakeView, s *recSink) []Reason {
			v[ip] = []podview.Pod{{Node: "n1", Identity: web}}
			c.Upsert("n1", claim("10.0.0.5", web), at(0))
			delete(v, ip)
			c.Recheck([]netip.Addr{ip}, at(time.Second))
			if _, ok := s.has("n1", "10.0.0.5"); ok {
				return []Reason{"kept"}
			}
			c.Delete("n1", ip)
			c.Upsert("n1", claim("10.0.0.5", web), at(5*time.Second))
			c.Expire(at(5*time.Second + wait))
			return reasons(c.TakeRefusals())
		}, nil, []Reason{ReasonUnknownIP}},
		{"ip reused by another pod on the same node", func(c *Core, v fakeView, s *recSink) []Reason {
			v[ip] = []podview.Pod{{Node: "n1", Identity: web}}
			c.Upsert("n1", claim("10.0.0.5", web), at(0))
			v[ip] = []podview.Pod{{Node: "n1", Identity: db}}
			c.Recheck([]netip.Addr{ip}, at(time.Second))
			if _, ok := s.has("n1", "10.0.0.5"); ok {
				return []Reason{"kept"}
			}
			c.Upsert("n1", claim("10.0.0.5", db), at(time.Second+time.Millisecond))
			return reasons(c.TakeRefusals())
		}, &db, nil},
		{"relabel seen by the API first: kept until the agent catches up", func(c *Core, v fakeView, s *recSink) []Reason {
			v[ip] = []podview.Pod{{Node: "n1", Identity: web}}
			c.Upsert("n1", claim("10.0.0.5", web), at(0))
			v[ip] = []podview.Pod{{Node: "n1", Identity: webDB}}
			c.Recheck([]netip.Addr{ip}, at(time.Second))
			if got, ok := s.has("n1", "10.0.0.5"); !ok || !got.Equal(web) {
				return []Reason{"dropped"}
			}
			c.Upsert("n1", claim("10.0.0.5", webDB), at(time.Second+10*time.Millisecond))
			c.Expire(at(2 * time.Second))
			return reasons(c.TakeRefusals())
		}, &webDB, nil},
		{"relabel the agent never reports: dropped after the wait", func(c *Core, v fakeView, s *recSink) []Reason {
			v[ip] = []podview.Pod{{Node: "n1", Identity: web}}
			c.Upsert("n1", claim("10.0.0.5", web), at(0))
			v[ip] = []podview.Pod{{Node: "n1", Identity: webDB}}
			c.Recheck([]netip.Addr{ip}, at(time.Second))
			c.Expire(at(time.Second + wait))
			return reasons(c.TakeRefusals())
		}, nil, []Reason{ReasonLabels}},
		{"forged update of a confirmed claim: the truth stays until refused", func(c *Core, v fakeView, s *recSink) []Reason {
			v[ip] = []podview.Pod{{Node: "n1", Identity: web}}
			c.Upsert("n1", claim("10.0.0.5", web), at(0))
			c.Upsert("n1", claim("10.0.0.5", webDB), at(time.Second))
			if got, ok := s.has("n1", "10.0.0.5"); !ok || !got.Equal(web) {
				return []Reason{"truth dropped early"}
			}
			c.Expire(at(time.Second + wait))
			return reasons(c.TakeRefusals())
		}, nil, []Reason{ReasonLabels}},
		{"repeated forged claim counted once", func(c *Core, v fakeView, s *recSink) []Reason {
			v[ip] = []podview.Pod{{Node: "n1", Identity: web}}
			c.Upsert("n1", claim("10.0.0.5", webDB), at(0))
			c.Expire(at(wait))
			c.Upsert("n1", claim("10.0.0.5", webDB), at(time.Second))
			c.ReplaceNode("n1", []stream.Claim{claim("10.0.0.5", webDB)}, at(2*time.Second))
			c.Expire(at(3 * time.Second))
			return reasons(c.TakeRefusals())
		}, nil, []Reason{ReasonLabels}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, v, s := newTestCore()
			got := tt.run(c, v, s)
			if !slices.Equal(got, tt.wantRefused) {
				t.Fatalf("refusals %v, want %v", got, tt.wantRefused)
			}
			id, ok := s.has("n1", "10.0.0.5")
			switch {
			case tt.want == nil && ok:
				t.Fatalf("forwarded %+v, want nothing", id)
			case tt.want != nil && (!ok || !id.Equal(*tt.want)):
				t.Fatalf("forwarded %+v (%v), want %+v", id, ok, *tt.want)
			}
		})
	}
}

func TestCoreSnapshot(t *testing.T) {
	c, v, s := newTestCore()
	web, db := ident("shop", "web", nil), ident("shop", "db", nil)
	v[netip.MustParseAddr("10.0.0.1")] = []podview.Pod{{Node: "n1", Identity: web}}
	v[netip.MustParseAddr("10.0.0.2")] = []podview.Pod{{Node: "n2", Identity: db}}
	c.ReplaceNode("n1", []stream.Claim{claim("10.0.0.1", web), claim("10.0.0.2", db), claim("10.0.0.3", web)}, at(0))
	if s.replaces != 1 || !maps.EqualFunc(s.nodes["n1"], map[netip.Addr]tags.Identity{netip.MustParseAddr("10.0.0.1"): web}, tags.Identity.Equal) {
		t.Fatalf("forwarded snapshot %v", s.nodes["n1"])
	}
	c.Expire(at(wait))
	got := reasons(c.TakeRefusals())
	slices.Sort(got)
	if !slices.Equal(got, []Reason{ReasonOtherNode, ReasonUnknownIP}) {
		t.Fatalf("refusals %v", got)
	}
	// A new snapshot without them forgets them; NodeGone keeps the
	// confirmed rest as an orphan until the view drops it.
	c.ReplaceNode("n1", []stream.Claim{claim("10.0.0.1", web)}, at(time.Second))
	c.NodeGone("n1")
	if c.Orphans() != 1 {
		t.Fatalf("orphans %d after NodeGone, want the confirmed claim", c.Orphans())
	}
	delete(v, netip.MustParseAddr("10.0.0.1"))
	c.Recheck([]netip.Addr{netip.MustParseAddr("10.0.0.1")}, at(2*time.Second))
	if len(c.nodes) != 0 || len(c.byIP) != 0 || c.Pending() != 0 || s.nodes["n1"] != nil {
		t.Fatalf("state left after NodeGone and the pod's deletion: nodes %v byIP %v pending %d", c.nodes, c.byIP, c.Pending())
	}
}

// TestCoreWaitsForSync: before the view's first sync claims wait without a
// deadline; after it, at most wait.
func TestCoreWaitsForSync(t *testing.T) {
	v := fakeView{}
	s := &recSink{nodes: map[string]map[netip.Addr]tags.Identity{}}
	c := NewCore(v.holders, s, wait, false)
	web := ident("shop", "web", nil)
	c.ReplaceNode("n1", []stream.Claim{claim("10.0.0.1", web), claim("10.0.0.2", web)}, at(0))
	if next := c.Expire(at(time.Hour)); !next.IsZero() || len(c.TakeRefusals()) != 0 {
		t.Fatal("deadline ran before the view synced")
	}
	v[netip.MustParseAddr("10.0.0.1")] = []podview.Pod{{Node: "n1", Identity: web}}
	c.Synced(at(2 * time.Hour))
	if _, ok := s.has("n1", "10.0.0.1"); !ok {
		t.Fatal("confirmed claim not forwarded at sync")
	}
	c.Expire(at(2*time.Hour + wait))
	if r := reasons(c.TakeRefusals()); !slices.Equal(r, []Reason{ReasonUnknownIP}) {
		t.Fatalf("refusals %v", r)
	}
}

// TestCoreServicesFromTheView: a forwarded claim carries the Services the
// view gives its pod, whatever the agent claims (current agents claim none,
// older ones their own view), and follows the view's changes with no agent
// message, for the changed IP only.
func TestCoreServicesFromTheView(t *testing.T) {
	web := ident("shop", "web", nil) // the view's: Services [front]
	noSvc := ident("shop", "web", func(i *tags.Identity) { i.Services = nil })
	forged := ident("shop", "web", func(i *tags.Identity) { i.Services = []string{"admin", "front"} })
	for _, claimed := range []tags.Identity{noSvc, web, forged} {
		t.Run(strings.Join(claimed.Services, ","), func(t *testing.T) {
			c, v, s := newTestCore()
			ip, other := netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.0.0.6")
			db := ident("shop", "db", nil)
			v[ip] = []podview.Pod{{Node: "n1", Identity: web}}
			v[other] = []podview.Pod{{Node: "n1", Identity: db}}
			seen := at(-time.Second)
			c.Upsert("n1", stream.Claim{IP: ip, Identity: claimed, FirstSeen: seen}, at(0))
			c.Upsert("n1", claim("10.0.0.6", db), at(0))
			if got, ok := s.has("n1", "10.0.0.5"); !ok || !got.Equal(web) {
				t.Fatalf("forwarded %+v (%v), want the view's %+v", got, ok, web)
			}
			if s.upserts[0].FirstSeen != seen {
				t.Fatalf("agent's clock lost: FirstSeen %v", s.upserts[0].FirstSeen)
			}
			// A Service starts selecting the pod: the view changes, the
			// gate re-checks the IP, and the Sink gets the new Services.
			joined := ident("shop", "web", func(i *tags.Identity) { i.Services = []string{"admin", "front"} })
			v[ip] = []podview.Pod{{Node: "n1", Identity: joined}}
			n := len(s.upserts)
			c.Recheck([]netip.Addr{ip, other}, at(time.Second))
			if len(s.upserts) != n+1 || s.upserts[n].IP != ip {
				t.Fatalf("upserts after the change %v, want one for %v", s.upserts[n:], ip)
			}
			if got := s.upserts[n]; !got.Identity.Equal(joined) || got.FirstSeen != at(time.Second) || got.Span.IsValid() {
				t.Fatalf("view's change forwarded as %+v, want %+v seen at the recheck", got, joined)
			}
			// The Service stops selecting it.
			v[ip] = []podview.Pod{{Node: "n1", Identity: noSvc}}
			c.Recheck([]netip.Addr{ip}, at(2*time.Second))
			if got, _ := s.has("n1", "10.0.0.5"); !got.Equal(noSvc) {
				t.Fatalf("forwarded %+v after the Service left, want %+v", got, noSvc)
			}
			// The agent repeating its claim changes nothing.
			n = len(s.upserts)
			c.Upsert("n1", stream.Claim{IP: ip, Identity: claimed}, at(3*time.Second))
			if len(s.upserts) != n || c.Pending() != 0 {
				t.Fatalf("repeated claim: %d upserts, %d pending", len(s.upserts)-n, c.Pending())
			}
			if r := c.TakeRefusals(); len(r) != 0 {
				t.Fatalf("refusals %v", r)
			}
		})
	}
}

// TestCoreServicesWhileRelabelAwaited: a claim kept while the agent's
// relabel is on its way still follows the view's Services.
func TestCoreServicesWhileRelabelAwaited(t *testing.T) {
	c, v, s := newTestCore()
	ip := netip.MustParseAddr("10.0.0.5")
	web := ident("shop", "web", nil)
	c.Upsert("n1", claim("10.0.0.5", web), at(0))
	v[ip] = []podview.Pod{{Node: "n1", Identity: web}}
	c.Recheck([]netip.Addr{ip}, at(0))
	relabelled := ident("shop", "web", func(i *tags.Identity) { i.Labels = map[string]string{"app": "web2"}; i.Services = nil })
	v[ip] = []podview.Pod{{Node: "n1", Identity: relabelled}}
	c.Recheck([]netip.Addr{ip}, at(time.Second))
	want := ident("shop", "web", func(i *tags.Identity) { i.Services = nil })
	if got, ok := s.has("n1", "10.0.0.5"); !ok || !got.Equal(want) {
		t.Fatalf("kept claim %+v (%v), want %+v", got, ok, want)
	}
	c.Upsert("n1", claim("10.0.0.5", relabelled), at(time.Second+time.Millisecond))
	if got, _ := s.has("n1", "10.0.0.5"); !got.Equal(relabelled) {
		t.Fatalf("forwarded %+v, want %+v", got, relabelled)
	}
}
