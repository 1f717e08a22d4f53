package apiservertest

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubedag/kubedag/aggregator"
	"github.com/kubedag/kubedag/aggregator/config"
)

// TestClustersShareTarget runs two wired aggregators of different clusters
// ("it" with its agent's pods and the Services, "it2" with the same
// Services and tag pruning) against one emulator and the real API server:
// the Services' ClusterIPs carry both clusters' tags at once. Through
// reconciles every 2 s, a restart of one aggregator, a DAG change and its
// pruning, neither ever sends a register or unregister of a tag without
// its own prefix, and each converges to exactly its own tags.
func TestClustersShareTarget(t *testing.T) {
	e := newEnv(t, "multi", 1)
	node := e.nodes[0]
	web := e.runPods("web", 2, node, nil)
	svc := e.createService("web")
	clusterIP := netip.MustParseAddr(svc.Spec.ClusterIP)
	ip := func(p corev1.Pod) netip.Addr { return netip.MustParseAddr(p.Status.PodIP) }
	ns := prefix + ".ns_" + e.ns
	const other = "it2"
	prefix2 := "k8s.cl_" + other
	ns2 := prefix2 + ".ns_" + e.ns
	admin := e.adminClient(t)
	e.commitDAG(t, admin, "/config/shared", "web-it2", fmt.Sprintf(`'%s.svc_web'`, ns2))

	a := e.startAggregator("a", e.config("fw", "resyncInterval: 2s\n"), nil)
	agent := e.startAgent(node, a.addr)
	for _, p := range web {
		agent.state.Set(podClaim(p, "web"))
	}
	cfgB := func() *config.Config {
		c := e.config("fw", "  dags: {prune: true, probeInterval: 1s}\nresyncInterval: 2s\n")
		c.Cluster = other
		return c
	}
	// it2 has no agents: its snapshot gate opens on the grace timeout.
	short := func(o *aggregator.Options) { o.SnapshotGrace = 2 * time.Second }
	b := e.startAggregator("b", cfgB(), short)

	wantA := withAPIServerService(t, map[netip.Addr][]string{
		ip(web[0]):                 {ns, ns + ".app.web", ns + ".svc_web"},
		ip(web[1]):                 {ns, ns + ".app.web", ns + ".svc_web"},
		clusterIP:                  {ns, ns + ".svc_web"},
		aggregator.DefaultCanaryIP: {canaryTag},
	})
	wantB := map[netip.Addr][]string{
		clusterIP:                  {ns2 + ".svc_web"}, // pruned to what the DAG references
		aggregator.DefaultCanaryIP: {prefix2 + ".kubedag-canary"},
	}
	converged := func() (bool, string) {
		reg := e.sim.Sim.Registered()
		gotA, gotB := ownedBy(reg, prefix), ownedBy(reg, prefix2)
		return equalRegs(gotA, wantA) && equalRegs(gotB, wantB), fmt.Sprint(reg)
	}
	eventually(t, time.Minute, "both clusters' tags, side by side", converged)

	// A DAG now also references it2's namespace tag: registered on
	// it2's IPs only.
	e.commitDAG(t, admin, "/config/shared", "ns-it2", fmt.Sprintf(`'%s'`, ns2))
	wantB[clusterIP] = []string{ns2, ns2 + ".svc_web"}
	eventually(t, time.Minute, "it2's newly referenced tag", converged)

	// it2 restarts; both keep reconciling.
	b.kill(t)
	b = e.startAggregator("b2", cfgB(), short)
	first := lastReconcile(t, a)
	eventually(t, time.Minute, "two more reconciles of each", func() (bool, string) {
		return lastReconcile(t, a).After(first.Add(2*time.Second)) && !lastReconcile(t, b).IsZero(), "waiting"
	})
	eventually(t, time.Minute, "still both clusters' tags", converged)

	for _, en := range e.calls.all() {
		own := prefix + "."
		if en.Who != "a" {
			own = prefix2 + "."
		}
		for _, tag := range en.Tags {
			if !strings.HasPrefix(tag, own) {
				t.Errorf("aggregator %s sent %+v: a tag that is not its cluster's", en.Who, en)
			}
		}
	}
}

// ownedBy returns the registrations restricted to tags with prefix p.
func ownedBy(reg map[netip.Addr][]string, p string) map[netip.Addr][]string {
	out := map[netip.Addr][]string{}
	for ip, ts := range reg {
		for _, t := range ts {
			// The TTL floor marker (on aggregator.DefaultFloorIP) changes
			// with time: the canary stands for it, as in owned.
			if strings.HasPrefix(t, p+".") && !strings.HasPrefix(t, p+".kubedag-canary.ttl-floor.") {
				out[ip] = append(out[ip], t)
			}
		}
	}
	return out
}
