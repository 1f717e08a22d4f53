package sandwich_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator/sandwich"
	"github.com/kubedag/kubedag/userid"
	"github.com/kubedag/kubedag/userid/panossim"
)

// ownConfig is one cluster's config client on a shared target: every
// change it makes must name one of the cluster's own objects.
type ownConfig struct {
	sandwich.Client
	cluster string
	mu      sync.Mutex
	bad     []string
	changes int
}

func (c *ownConfig) check(op, xpath string) {
	i := strings.LastIndex(xpath, "[@name='")
	name := ""
	if i >= 0 {
		name = strings.TrimSuffix(xpath[i+len("[@name='"):], "']")
	}
	if !strings.HasPrefix(name, "kd."+c.cluster+".") && name != "kubedag."+c.cluster {
		c.mu.Lock()
		c.bad = append(c.bad, op+" "+xpath)
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.changes++
	c.mu.Unlock()
}

func (c *ownConfig) Edit(ctx context.Context, xpath, element string) error {
	c.check("edit", xpath)
	return c.Client.Edit(ctx, xpath, element)
}

func (c *ownConfig) Delete(ctx context.Context, xpath string) error {
	c.check("delete", xpath)
	return c.Client.Delete(ctx, xpath)
}

func (c *ownConfig) Move(ctx context.Context, xpath, where, dst string) error {
	c.check("move", xpath)
	return c.Client.Move(ctx, xpath, where, dst)
}

func (c *ownConfig) violations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.bad)
}

// TestManyClustersShareSandwichTarget: 16 clusters (c1 a text prefix of
// c10..c15), each with its own administrator, program the sandwich on one
// firewall: through restarts, resyncs and Service changes no cluster ever
// edits, moves or deletes an object that is not its own, and the running
// config ends with exactly every cluster's objects.
func TestManyClustersShareSandwichTarget(t *testing.T) {
	const n = 16
	users := map[string]string{"admin": "admin"}
	for i := range n {
		users[fmt.Sprintf("kubedag-c%d", i)] = fmt.Sprintf("pw-%d", i)
	}
	srv, admin := startSim(t, panossim.Config{Users: users})
	type cluster struct {
		name string
		tg   sandwich.Target
		c    *ownConfig
		src  *source
		e    *engine
		svcs []sandwich.Service
	}
	resync := func(o *sandwich.Options) { o.ResyncInterval = time.Second }
	clusters := make([]*cluster, n)
	for i := range clusters {
		name := fmt.Sprintf("c%d", i)
		user := "kubedag-" + name
		key, err := srv.Sim.APIKeyFor(user)
		if err != nil {
			t.Fatal(err)
		}
		uc, err := userid.New(userid.Config{URL: srv.URL, APIKey: key, RootCAs: srv.CAPool, Timeout: 5 * time.Second,
			RetryBackoff: time.Millisecond, MaxRetryBackoff: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(uc.Close)
		tg := sandwich.Target{Name: "fw", Admin: user}
		if err := tg.Validate(); err != nil {
			t.Fatal(err)
		}
		cl := &cluster{name: name, tg: tg, c: &ownConfig{Client: uc, cluster: name},
			src:  &source{inv: inventory(fmt.Sprintf("10.%d.0.0/19", 64+i))},
			svcs: []sandwich.Service{{Namespace: "shop", Name: "web", Port: 1000 + i, TargetPort: 8080, Hostname: name + "-web.elb.amazonaws.com"}}}
		cl.e = startEngineWith(t, name, cl.src, resync, sandwich.TargetClient{Target: tg, Client: cl.c})
		cl.e.SetServices(cl.svcs)
		clusters[i] = cl
	}
	rules := func() []string { return running(t, admin, clusters[0].tg.Container(sandwich.KindNATRule)) }
	converged := func() bool {
		r := rules()
		for _, cl := range clusters {
			mine := 0
			for _, name := range r {
				if strings.HasPrefix(name, "kd."+cl.name+".") {
					mine++
				}
			}
			if mine != len(cl.svcs)+1 { // one inbound rule per Service, one outbound per subnet
				return false
			}
			for _, s := range cl.svcs {
				if !slices.Contains(r, fmt.Sprintf("kd.%s.shop.%s-%d-inbound", cl.name, s.Name, s.Port)) {
					return false
				}
			}
		}
		return true
	}
	noViolations := func() {
		t.Helper()
		for _, cl := range clusters {
			if v := cl.c.violations(); len(v) > 0 {
				t.Fatalf("cluster %s changed objects that are not its own: %v", cl.name, v)
			}
		}
	}
	eventually(t, "every cluster's rules", converged)
	noViolations()

	// Restarts (a new leader, a new process) and Service changes, while
	// the others resync every second.
	for round := range 3 {
		for i := round; i < n; i += 4 {
			cl := clusters[i]
			cl.e.stop()
			cl.e = startEngineWith(t, cl.name, cl.src, resync, sandwich.TargetClient{Target: cl.tg, Client: cl.c})
			if i%2 == 0 {
				cl.svcs = append(cl.svcs, sandwich.Service{Namespace: "shop", Name: fmt.Sprintf("api%d", round), Port: 2000 + 100*round + i,
					TargetPort: 80, Hostname: fmt.Sprintf("%s-api%d.elb.amazonaws.com", cl.name, round)})
			} else if len(cl.svcs) > 1 {
				cl.svcs = cl.svcs[:len(cl.svcs)-1]
			}
			cl.e.SetServices(cl.svcs)
		}
		eventually(t, fmt.Sprintf("round %d converged", round), converged)
		noViolations()
	}
	mark := time.Now()
	eventually(t, "a full sync of every cluster after the last change", func() bool {
		for _, cl := range clusters {
			if !cl.e.Targets()[0].LastSync.After(mark) {
				return false
			}
		}
		return true
	})
	if !converged() {
		t.Fatalf("rules changed by later syncs: %v", rules())
	}
	noViolations()
	for _, cl := range clusters {
		cl.c.mu.Lock()
		changes := cl.c.changes
		cl.c.mu.Unlock()
		if changes == 0 {
			t.Fatalf("cluster %s made no change through its checked client", cl.name)
		}
	}
	if got := running(t, admin, clusters[0].tg.Container(sandwich.KindRoute)); len(got) != 2*n {
		t.Errorf("routes %v, want 2 per cluster", got)
	}
}
