package apiservertest

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubedag/kubedag/aggregator"
	"github.com/kubedag/kubedag/userid"
)

const vsys1 = "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']"

// TestPruning runs the wired aggregator with tag pruning on against the
// emulator's config tree: only tags some committed DAG filter references
// reach the firewall (none other ever goes over the wire, restart
// included); a DAG committed later gets its tags registered on every
// matching IP soon after the commit is noticed; a tag no DAG references
// any more is unregistered; and a DAG kubedag cannot parse suspends
// pruning (every tag registered) and is reported per DAG in the metrics.
func TestPruning(t *testing.T) {
	e := newEnv(t, "prune", 1)
	node := e.nodes[0]
	web := e.runPods("web", 2, node, map[string]string{"tier": "front"})
	db := e.runPods("db", 1, node, nil)
	ip := func(p corev1.Pod) netip.Addr { return netip.MustParseAddr(p.Status.PodIP) }
	ns := prefix + ".ns_" + e.ns
	admin := e.adminClient(t)

	// Before kubedag starts, one DAG (in vsys1) selects the web pods.
	e.commitDAG(t, admin, vsys1, "web", fmt.Sprintf(`'%s.app.web'`, ns))

	cfg := e.config("fw", `  dags:
    prune: true
    probeInterval: 1s
    interval: 1h
    alwaysKeep: ["`+ns+`.tier.*"]
`)
	agg := e.startAggregator("agg", cfg, nil)
	// The agent dials whichever aggregator runs (one restarts below).
	var addr atomic.Pointer[string]
	addr.Store(&agg.addr)
	agent := e.startAgent(node, "passthrough:///aggregator", grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", *addr.Load())
	}))
	for _, p := range append(slices.Clone(web), db...) {
		agent.state.Set(podClaim(p))
	}
	converged := func(want map[netip.Addr][]string) func() (bool, string) {
		return func() (bool, string) {
			got := owned(e.sim.Sim.Registered())
			return equalRegs(got, want), fmt.Sprint(got)
		}
	}
	webWant := []string{ns + ".app.web", ns + ".tier.front"} // referenced, always kept
	want := map[netip.Addr][]string{
		ip(web[0]):                 webWant,
		ip(web[1]):                 webWant,
		aggregator.DefaultCanaryIP: {canaryTag},
	}
	eventually(t, time.Minute, "only referenced and always-kept tags registered", converged(want))
	// The pusher waited for the first read: no unreferenced tag was ever
	// sent (a register-then-prune churn on every start would show here).
	for _, en := range e.calls.all() {
		for _, tag := range en.Tags {
			if !en.Unregister && (tag == ns || strings.HasSuffix(tag, ".app.db")) {
				t.Fatalf("an unreferenced tag went over the wire: %+v", en)
			}
		}
	}

	// A DAG committed in shared starts referencing the db pod's app tag
	// and the namespace tag: noticed by the commit probe, registered on
	// every matching IP.
	committed := time.Now()
	e.commitDAG(t, admin, "/config/shared", "db", fmt.Sprintf(`'%s.app.db' or ('%s' and 'legacy (x)')`, ns, ns))
	want[ip(web[0])] = append(slices.Clone(webWant), ns)
	want[ip(web[1])] = append(slices.Clone(webWant), ns)
	want[ip(db[0])] = []string{ns, ns + ".app.db"}
	eventually(t, time.Minute, "tags of the new DAG registered", converged(want))
	t.Logf("new DAG's tags on the firewall %s after its commit (probe interval 1s)", time.Since(committed).Round(time.Millisecond))

	// The web DAG is deleted: its tag is no longer referenced.
	if err := admin.Delete(t.Context(), vsys1+"/address-group/entry[@name='web']"); err != nil {
		t.Fatal(err)
	}
	e.commit(t, admin)
	want[ip(web[0])] = []string{ns, ns + ".tier.front"}
	want[ip(web[1])] = []string{ns, ns + ".tier.front"}
	eventually(t, time.Minute, "unreferenced tag unregistered", converged(want))

	// A DAG kubedag cannot parse: pruning is suspended, every tag
	// registered, the DAG reported.
	e.commitDAG(t, admin, vsys1, "odd", `'a' and not 'b'`)
	all := withAPIServerService(t, maps.Clone(want)) // its Service's tags too
	all[ip(web[0])] = []string{ns, ns + ".app.web", ns + ".tier.front"}
	all[ip(web[1])] = []string{ns, ns + ".app.web", ns + ".tier.front"}
	eventually(t, time.Minute, "pruning suspended while a DAG does not parse", converged(all))
	eventually(t, time.Minute, "unparsable DAG reported", func() (bool, string) {
		_, metrics := get(t, agg.health, "/metrics")
		v, ok := metricValue(metrics, "kubedag_dag_unparsable", `group="odd"`, `location="vsys vsys1"`)
		p, pok := metricValue(metrics, "kubedag_tag_pruning", `target="fw"`)
		return ok && v == 1 && pok && p == 0, grepLines(metrics, "kubedag_dag") + grepLines(metrics, "kubedag_tag_pruning")
	})
	if s := agg.agg.DAGs("fw"); s == nil || s.Complete() || agg.agg.TagFilter("fw") != nil {
		t.Fatalf("DAGs %v, TagFilter %v: want an incomplete set and no filter", s, agg.agg.TagFilter("fw"))
	}

	// Fixed: pruning resumes; a restart re-reads before pushing, so it
	// neither registers pruned tags nor unregisters kept ones.
	if err := admin.Delete(t.Context(), vsys1+"/address-group/entry[@name='odd']"); err != nil {
		t.Fatal(err)
	}
	e.commit(t, admin)
	want[ip(web[0])] = []string{ns, ns + ".tier.front"}
	want[ip(web[1])] = []string{ns, ns + ".tier.front"}
	eventually(t, time.Minute, "pruning resumed", converged(want))
	agg.kill(t)
	sent := len(e.calls.all())
	agg = e.startAggregator("agg2", cfg, nil)
	addr.Store(&agg.addr)
	eventually(t, time.Minute, "restarted aggregator reconciled", func() (bool, string) {
		return !lastReconcile(t, agg).IsZero(), "no reconcile"
	})
	eventually(t, time.Minute, "still converged after the restart", converged(want))
	// (The emulator lists no remaining timeouts; the restarted aggregator
	// trusts the TTL floor marker the first one left, and must never
	// register a pruned tag nor unregister a kept one.)
	for _, en := range e.calls.all()[sent:] {
		if en.IP == aggregator.DefaultCanaryIP || en.IP == aggregator.DefaultFloorIP {
			continue // the canary and the TTL floor marker
		}
		for _, tag := range en.Tags {
			if en.Unregister || !slices.Contains(want[en.IP], tag) {
				t.Errorf("restart sent %+v: churn of a pruned or kept tag", en)
			}
		}
	}
}

// adminClient is a User-ID and config client of the emulator, as an
// administrator editing DAGs would use.
func (e *env) adminClient(t *testing.T) *userid.Client {
	t.Helper()
	c, err := userid.New(userid.Config{URL: e.sim.URL, Username: simUser, Password: e.password, RootCAs: e.sim.CAPool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// commitDAG sets a Dynamic Address Group under loc (shared, a vsys or a
// device group) and commits.
func (e *env) commitDAG(t *testing.T, c *userid.Client, loc, name, filter string) {
	t.Helper()
	if err := c.Set(t.Context(), loc+"/address-group", `<entry name="`+name+`"><dynamic><filter>`+filter+`</filter></dynamic></entry>`); err != nil {
		t.Fatal(err)
	}
	e.commit(t, c)
}

func (e *env) commit(t *testing.T, c *userid.Client) {
	t.Helper()
	id, err := c.Commit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitJob(t.Context(), id, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
