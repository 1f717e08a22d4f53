package verify

import (
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator/podview"
	"github.com/kubedag/kubedag/aggregator/stream"
	"github.com/kubedag/kubedag/tags"
)

func TestOrphan(t *testing.T) {
	web := ident("shop", "web", nil)
	webDB := ident("shop", "web", func(i *tags.Identity) { i.Labels = map[string]string{"app": "web", "tier": "db"} })
	webNoSvc := ident("shop", "web", func(i *tags.Identity) { i.Services = nil })
	webNet := ident("shop", "web", func(i *tags.Identity) { i.Network = "shop/macvlan" })
	reborn := ident("shop", "web", func(i *tags.Identity) { i.UID = "uid-new" })
	db := ident("shop", "db", nil)
	tests := []struct {
		name    string
		id      tags.Identity
		holders []podview.Pod
		want    *tags.Identity // nil: the claim goes
	}{
		{"still confirmed: kept as is", web, []podview.Pod{{Node: "n1", Identity: web}}, &web},
		{"relabelled: follows the view", web, []podview.Pod{{Node: "n1", Identity: webDB}}, &webDB},
		{"left a Service: follows the view", web, []podview.Pod{{Node: "n1", Identity: webNoSvc}}, &webNoSvc},
		{"network changed: follows the view", web, []podview.Pod{{Node: "n1", Identity: webNet}}, &webNet},
		{"pod deleted or terminating (no holder)", web, nil, nil},
		{"ip moved to another node's pod", web, []podview.Pod{{Node: "n2", Identity: db}}, nil},
		{"ip reused by another pod on the node", web, []podview.Pod{{Node: "n1", Identity: db}}, nil},
		{"pod re-created under the same name (new uid)", web, []podview.Pod{{Node: "n1", Identity: reborn}}, nil},
		{"ip now a node ip (hostNetwork)", web, []podview.Pod{{Node: "n1", HostNetwork: true, Identity: web}}, nil},
		{"ip also held by a pod on another node (VPC CNI reuse before eviction)", web, []podview.Pod{{Node: "n2", Identity: db}, {Node: "n1", Identity: web}}, nil},
		{"two pods on the node hold it, the claimed one among them", web, []podview.Pod{{Node: "n1", Identity: web}, {Node: "n1", Identity: db}}, &web},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Orphan("n1", tt.id, tt.holders, false)
			switch {
			case tt.want == nil && ok:
				t.Fatalf("kept as %+v, want withdrawn", got)
			case tt.want != nil && !ok:
				t.Fatal("withdrawn, want kept")
			case tt.want != nil && !got.Equal(*tt.want):
				t.Fatalf("kept as %+v, want %+v", got, *tt.want)
			}
		})
	}
}

// TestCoreNodeGone: a node's agent gone past its grace period leaves the
// claims the view confirms in place (a replica cut off from the agents
// must not unregister live pods' tags), and the view alone then decides.
func TestCoreNodeGone(t *testing.T) {
	web := ident("shop", "web", nil)
	webDB := ident("shop", "web", func(i *tags.Identity) { i.Labels = map[string]string{"app": "web", "tier": "db"} })
	db := ident("shop", "db", nil)
	api := ident("shop", "api", nil)
	ip1, ip2, ip3 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	tests := []struct {
		name string
		run  func(c *Core, v fakeView)
		// want is what the Sink holds for n1 at the end; wantGone the
		// number of NodeGone calls it got.
		want     map[netip.Addr]tags.Identity
		wantGone int
		orphans  int
	}{
		{"confirmed claims kept, unconfirmed ones withdrawn", func(c *Core, v fakeView) {
			v[ip1] = []podview.Pod{{Node: "n1", Identity: web}}
			v[ip2] = []podview.Pod{{Node: "n1", Identity: db}}
			c.ReplaceNode("n1", []stream.Claim{claim("10.0.0.1", web), claim("10.0.0.2", db), claim("10.0.0.3", api)}, at(0))
			delete(v, ip2) // db deleted while the agent is away: not yet reported
			c.NodeGone("n1")
		}, map[netip.Addr]tags.Identity{ip1: web}, 0, 1},
		{"nothing confirmed: the node goes", func(c *Core, v fakeView) {
			v[ip1] = []podview.Pod{{Node: "n1", Identity: web}}
			c.ReplaceNode("n1", []stream.Claim{claim("10.0.0.1", web)}, at(0))
			v[ip1] = []podview.Pod{{Node: "n2", Identity: web}}
			c.NodeGone("n1")
		}, nil, 1, 0},
		{"kept claim's pod deleted later: withdrawn at once", func(c *Core, v fakeView) {
			v[ip1] = []podview.Pod{{Node: "n1", Identity: web}}
			v[ip2] = []podview.Pod{{Node: "n1", Identity: db}}
			c.ReplaceNode("n1", []stream.Claim{claim("10.0.0.1", web), claim("10.0.0.2", db)}, at(0))
			c.NodeGone("n1")
			delete(v, ip2)
			c.Recheck([]netip.Addr{ip2}, at(time.Minute))
		}, map[netip.Addr]tags.Identity{ip1: web}, 0, 1},
		{"kept claim's IP handed to a pod on another node: withdrawn", func(c *Core, v fakeView) {
			v[ip1] = []podview.Pod{{Node: "n1", Identity: web}}
			v[ip2] = []podview.Pod{{Node: "n1", Identity: db}}
			c.ReplaceNode("n1", []stream.Claim{claim("10.0.0.1", web), claim("10.0.0.2", db)}, at(0))
			c.NodeGone("n1")
			// n1 is dead; the API has not evicted its pods yet, but the
			// CNI gave db's IP to a pod on n2.
			v[ip2] = append(v[ip2], podview.Pod{Node: "n2", Identity: api})
			c.Recheck([]netip.Addr{ip2}, at(time.Minute))
		}, map[netip.Addr]tags.Identity{ip1: web}, 0, 1},
		{"last kept claim withdrawn: the node goes", func(c *Core, v fakeView) {
			v[ip1] = []podview.Pod{{Node: "n1", Identity: web}}
			c.ReplaceNode("n1", []stream.Claim{claim("10.0.0.1", web)}, at(0))
			c.NodeGone("n1")
			v[ip1] = []podview.Pod{{Node: "n1", Identity: db}} // the IP reused on the node
			c.Recheck([]netip.Addr{ip1}, at(time.Minute))
		}, nil, 1, 0},
		{"kept claim follows a relabel, with no deadline", func(c *Core, v fakeView) {
			v[ip1] = []podview.Pod{{Node: "n1", Identity: web}}
			c.ReplaceNode("n1", []stream.Claim{claim("10.0.0.1", web)}, at(0))
			c.NodeGone("n1")
			v[ip1] = []podview.Pod{{Node: "n1", Identity: webDB}}
			c.Recheck([]netip.Addr{ip1}, at(time.Minute))
			c.Expire(at(time.Hour))
		}, map[netip.Addr]tags.Identity{ip1: webDB}, 0, 1},
		{"relabel in flight when the agent went: the view's identity is kept", func(c *Core, v fakeView) {
			v[ip1] = []podview.Pod{{Node: "n1", Identity: web}}
			c.ReplaceNode("n1", []stream.Claim{claim("10.0.0.1", web)}, at(0))
			v[ip1] = []podview.Pod{{Node: "n1", Identity: webDB}}
			c.Recheck([]netip.Addr{ip1}, at(time.Second)) // the agent's update never comes
			c.NodeGone("n1")
			c.Expire(at(time.Hour))
		}, map[netip.Addr]tags.Identity{ip1: webDB}, 0, 1},
		{"agent back: its snapshot replaces the orphans", func(c *Core, v fakeView) {
			v[ip1] = []podview.Pod{{Node: "n1", Identity: web}}
			v[ip2] = []podview.Pod{{Node: "n1", Identity: db}}
			c.ReplaceNode("n1", []stream.Claim{claim("10.0.0.1", web), claim("10.0.0.2", db)}, at(0))
			c.NodeGone("n1")
			v[ip3] = []podview.Pod{{Node: "n1", Identity: api}}
			c.ReplaceNode("n1", []stream.Claim{claim("10.0.0.1", web), claim("10.0.0.3", api)}, at(time.Minute))
		}, map[netip.Addr]tags.Identity{ip1: web, ip3: api}, 0, 0},
		{"agent back with a lie about a kept claim: refused after the wait", func(c *Core, v fakeView) {
			v[ip1] = []podview.Pod{{Node: "n1", Identity: web}}
			c.ReplaceNode("n1", []stream.Claim{claim("10.0.0.1", web)}, at(0))
			c.NodeGone("n1")
			c.ReplaceNode("n1", []stream.Claim{claim("10.0.0.1", webDB)}, at(time.Minute))
			c.Expire(at(time.Minute + wait))
		}, map[netip.Addr]tags.Identity{}, 0, 0},
		{"other nodes untouched", func(c *Core, v fakeView) {
			v[ip1] = []podview.Pod{{Node: "n1", Identity: web}}
			v[ip2] = []podview.Pod{{Node: "n2", Identity: db}}
			c.ReplaceNode("n1", []stream.Claim{claim("10.0.0.1", web)}, at(0))
			c.ReplaceNode("n2", []stream.Claim{claim("10.0.0.2", db)}, at(0))
			c.NodeGone("n2")
			delete(v, ip2)
			c.Recheck([]netip.Addr{ip2}, at(time.Minute))
		}, map[netip.Addr]tags.Identity{ip1: web}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, v, s := newTestCore()
			tt.run(c, v)
			got := s.nodes["n1"]
			if !maps.EqualFunc(got, tt.want, tags.Identity.Equal) || (got == nil) != (tt.want == nil) {
				t.Fatalf("sink holds %v for n1, want %v", got, tt.want)
			}
			if s.gone != tt.wantGone {
				t.Fatalf("NodeGone forwarded %d times, want %d", s.gone, tt.wantGone)
			}
			if c.Orphans() != tt.orphans {
				t.Fatalf("%d orphans, want %d", c.Orphans(), tt.orphans)
			}
			if c.Pending() != 0 {
				t.Fatalf("%d claims left pending", c.Pending())
			}
		})
	}
}

// TestCoreAgentDown: while a node's agent has no open stream (gone, or cut
// off from this replica, within its grace period), the node's forwarded
// claims follow the view: no update can come from the agent, so a relabel
// is taken from the API server rather than refused for want of one.
func TestCoreAgentDown(t *testing.T) {
	web := ident("shop", "web", nil)
	webDB := ident("shop", "web", func(i *tags.Identity) { i.Labels = map[string]string{"app": "web", "tier": "db"} })
	ip := netip.MustParseAddr("10.0.0.5")
	tests := []struct {
		name        string
		run         func(t *testing.T, c *Core, v fakeView, s *recSink, down *bool)
		want        *tags.Identity // n1's forwarded claim on ip at the end
		wantRefused []Reason
	}{
		{"relabel while the agent is down: follows the view at once", func(t *testing.T, c *Core, v fakeView, s *recSink, down *bool) {
			v[ip] = []podview.Pod{{Node: "n1", Identity: web}}
			c.Upsert("n1", claim("10.0.0.5", web), at(0))
			*down = true
			v[ip] = []podview.Pod{{Node: "n1", Identity: webDB}}
			c.Recheck([]netip.Addr{ip}, at(time.Second))
			c.Expire(at(time.Hour))
		}, &webDB, nil},
		{"relabel in flight when the stream ended: follows the view at its deadline", func(t *testing.T, c *Core, v fakeView, s *recSink, down *bool) {
			v[ip] = []podview.Pod{{Node: "n1", Identity: web}}
			c.Upsert("n1", claim("10.0.0.5", web), at(0))
			v[ip] = []podview.Pod{{Node: "n1", Identity: webDB}}
			c.Recheck([]netip.Addr{ip}, at(time.Second))
			*down = true
			c.Expire(at(time.Second + wait))
		}, &webDB, nil},
		{"agent streaming: an unreported relabel is still refused", func(t *testing.T, c *Core, v fakeView, s *recSink, down *bool) {
			v[ip] = []podview.Pod{{Node: "n1", Identity: web}}
			c.Upsert("n1", claim("10.0.0.5", web), at(0))
			v[ip] = []podview.Pod{{Node: "n1", Identity: webDB}}
			c.Recheck([]netip.Addr{ip}, at(time.Second))
			c.Expire(at(time.Second + wait))
		}, nil, []Reason{ReasonLabels}},
		{"pod deleted while the agent is down: withdrawn at once", func(t *testing.T, c *Core, v fakeView, s *recSink, down *bool) {
			v[ip] = []podview.Pod{{Node: "n1", Identity: web}}
			c.Upsert("n1", claim("10.0.0.5", web), at(0))
			*down = true
			delete(v, ip)
			c.Recheck([]netip.Addr{ip}, at(time.Second))
			if _, ok := s.has("n1", "10.0.0.5"); ok {
				t.Fatal("kept after the pod's deletion")
			}
			c.Expire(at(time.Second + wait))
		}, nil, []Reason{ReasonUnknownIP}},
		{"a claim never confirmed is refused as before", func(t *testing.T, c *Core, v fakeView, s *recSink, down *bool) {
			v[ip] = []podview.Pod{{Node: "n1", Identity: web}}
			c.Upsert("n1", claim("10.0.0.5", webDB), at(0))
			*down = true
			c.Expire(at(wait))
		}, nil, []Reason{ReasonLabels}},
		{"agent back: its snapshot is checked as usual", func(t *testing.T, c *Core, v fakeView, s *recSink, down *bool) {
			v[ip] = []podview.Pod{{Node: "n1", Identity: web}}
			c.Upsert("n1", claim("10.0.0.5", web), at(0))
			*down = true
			v[ip] = []podview.Pod{{Node: "n1", Identity: webDB}}
			c.Recheck([]netip.Addr{ip}, at(time.Second))
			*down = false
			c.ReplaceNode("n1", []stream.Claim{claim("10.0.0.5", webDB)}, at(2*time.Second))
		}, &webDB, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, v, s := newTestCore()
			down := false
			c.streaming = func(node string) bool { return node != "n1" || !down }
			tt.run(t, c, v, s, &down)
			if got := reasons(c.TakeRefusals()); !slices.Equal(got, tt.wantRefused) {
				t.Fatalf("refusals %v, want %v", got, tt.wantRefused)
			}
			id, ok := s.has("n1", "10.0.0.5")
			switch {
			case tt.want == nil && ok:
				t.Fatalf("forwarded %+v, want nothing", id)
			case tt.want != nil && (!ok || !id.Equal(*tt.want)):
				t.Fatalf("forwarded %+v (%v), want %+v", id, ok, *tt.want)
			}
			if c.Pending() != 0 {
				t.Fatalf("%d claims left pending", c.Pending())
			}
		})
	}
}
