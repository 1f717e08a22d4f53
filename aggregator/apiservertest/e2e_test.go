package apiservertest

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubedag/kubedag/aggregator"
	"github.com/kubedag/kubedag/userid"
)

// TestEndToEnd runs the wired aggregator against a real API server and the
// PAN-OS emulator, fed by real agent stream clients that authenticate with
// pod-bound projected ServiceAccount tokens: pod and Service tags reach
// the emulator exactly (the pods' Service tags from the aggregator's own
// view, whatever the agents claim), deleted claims unregister, someone else's tags
// survive reconcile while our stale ones are repaired, a claim on another
// node's pod IP is refused before it reaches the firewall, and a departed
// agent's claims outlive NodeGrace only while the API server confirms them.
func TestEndToEnd(t *testing.T) {
	e := newEnv(t, "e2e", 2)
	ctx := t.Context()
	nodeA, nodeB := e.nodes[0], e.nodes[1]
	web := e.runPods("web", 3, nodeA, map[string]string{"tier": "front"})
	other := e.runPods("other", 1, nodeB, nil)
	svc := e.createService("web")
	clusterIP := netip.MustParseAddr(svc.Spec.ClusterIP)
	ip := func(p corev1.Pod) netip.Addr { return netip.MustParseAddr(p.Status.PodIP) }

	// Before kubedag starts, the firewall already holds someone else's
	// tags (on an unrelated IP and on a pod IP) and stale tags of ours (on
	// an IP no pod holds any more, and a wrong one on a live pod IP).
	foreignIP := netip.MustParseAddr("198.51.100.7")
	staleIP := netip.MustParseAddr("198.51.100.8")
	const foreignTag, quarantine = "corp.scanner", "corp.quarantine"
	ns := prefix + ".ns_" + e.ns
	e.register(t, map[netip.Addr][]string{
		foreignIP:    {foreignTag},
		ip(web[2]):   {quarantine},
		staleIP:      {prefix + ".ns_gone.app.old"},
		ip(web[1]):   {ns + ".app.stale"},
		ip(other[0]): {ns + ".app.stale"},
	})

	agg := e.startAggregator("agg", e.config("fw", "resyncInterval: 2s\n"), func(o *aggregator.Options) {
		o.SnapshotGrace = 2 * time.Minute // the gate must open on the agents' snapshots
		o.NodeGrace = 3 * time.Second
	})
	agentA := e.startAgent(nodeA, agg.addr)
	agentB := e.startAgent(nodeB, agg.addr)
	// Services are the aggregator's to derive (from its own view of the
	// EndpointSlices): today's agents claim none, older ones claimed
	// theirs, and both end up with the Service's tag.
	for i, p := range web {
		if i == 0 {
			agentA.state.Set(podClaim(p, "web")) // an older agent's claim
		} else {
			agentA.state.Set(podClaim(p))
		}
	}
	agentB.state.Set(podClaim(other[0]))
	// Node A's agent also claims node B's pod IP under a forged identity.
	forged := podClaim(other[0])
	forged.Identity.Labels = map[string]string{"app": "evil"}
	agentA.state.Set(forged)

	webTags := []string{ns, ns + ".app.web", ns + ".tier.front", ns + ".svc_web"}
	want := withAPIServerService(t, map[netip.Addr][]string{
		ip(web[0]):                 webTags,
		ip(web[1]):                 webTags,
		ip(web[2]):                 webTags,
		ip(other[0]):               {ns, ns + ".app.other"},
		clusterIP:                  {ns, ns + ".svc_web"},
		aggregator.DefaultCanaryIP: {canaryTag},
	})
	converged := func(want map[netip.Addr][]string) func() (bool, string) {
		return func() (bool, string) {
			got := owned(e.sim.Sim.Registered())
			return equalRegs(got, want), fmt.Sprint(got)
		}
	}
	eventually(t, time.Minute, "emulator holds exactly the expected kubedag tags", converged(want))
	eventually(t, time.Minute, "node A's claim on node B's pod IP refused and counted", func() (bool, string) {
		_, metrics := get(t, agg.health, "/metrics")
		v, ok := metricValue(metrics, "kubedag_claim_rejections_total", `reason="other-node"`)
		return ok && v > 0, metrics
	})

	// Someone else's tags survive repeated reconciles untouched.
	first := lastReconcile(t, agg)
	eventually(t, time.Minute, "two more reconciles", func() (bool, string) {
		at := lastReconcile(t, agg)
		return at.After(first.Add(2 * time.Second)), fmt.Sprint(at)
	})
	reg := e.sim.Sim.Registered()
	if got := reg[foreignIP]; !slices.Equal(got, []string{foreignTag}) {
		t.Errorf("foreign IP %s holds %v, want only %q", foreignIP, got, foreignTag)
	}
	if got := reg[ip(web[2])]; !slices.Contains(got, quarantine) {
		t.Errorf("pod IP %s lost the foreign tag %q: %v", ip(web[2]), quarantine, got)
	}
	if got, ok := reg[staleIP]; ok {
		t.Errorf("stale IP %s still holds %v", staleIP, got)
	}
	if !equalRegs(owned(reg), want) {
		t.Errorf("after reconciles the kubedag tags changed: %v, want %v", owned(reg), want)
	}

	// A withdrawn claim unregisters our tags only; a deleted Service
	// withdraws its ClusterIP.
	if err := testCluster.Client.CoreV1().Pods(e.ns).Delete(ctx, web[2].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	agentA.state.Delete(ip(web[2]))
	if err := testCluster.Client.CoreV1().Services(e.ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The Service's EndpointSlices go with it, and with them its tag on
	// the pods, with no word from the agent (web[0]'s older-agent claim
	// still names the Service: it is ignored).
	for _, p := range web[:2] {
		want[ip(p)] = []string{ns, ns + ".app.web", ns + ".tier.front"}
	}
	delete(want, ip(web[2]))
	delete(want, clusterIP)
	eventually(t, time.Minute, "deleted claim and Service unregistered", converged(want))
	if got := e.sim.Sim.Registered()[ip(web[2])]; !slices.Equal(got, []string{quarantine}) {
		t.Errorf("deleted pod's IP %s holds %v, want only the foreign %q", ip(web[2]), got, quarantine)
	}

	// An agent that goes away: past NodeGrace its claims stay as long as
	// the API server confirms them (the pod still runs there), and go as
	// soon as it does not.
	gone := time.Now()
	agentB.stop()
	eventually(t, time.Minute, "node B's grace period expired", func() (bool, string) {
		return hasLogLine(e.logs.String(), "who=agg", "agent stream grace period expired", "node="+nodeB), ""
	})
	if ok, state := converged(want)(); !ok {
		t.Errorf("past NodeGrace, node B's pod lost its tags while the API server still runs it: %s", state)
	}
	orphaned := func() (float64, string) {
		_, m := get(t, agg.health, "/metrics")
		v, _ := metricValue(m, "kubedag_claims_orphaned")
		return v, grepLines(m, "kubedag_claims_")
	}
	eventually(t, 30*time.Second, "node B's claim reported as kept from the view alone", func() (bool, string) {
		v, m := orphaned()
		return v == 1, m
	})
	deletedAt := time.Now()
	if err := testCluster.Client.CoreV1().Pods(e.ns).Delete(ctx, other[0].Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}); err != nil {
		t.Fatal(err)
	}
	delete(want, ip(other[0]))
	eventually(t, time.Minute, "node B's pod, deleted after its agent left, unregistered", converged(want))
	if v, m := orphaned(); v != 0 {
		t.Errorf("node B's only claim withdrawn, yet: %s", m)
	}
	for _, en := range e.calls.all() {
		if en.Unregister && en.IP == ip(other[0]) && en.At.After(gone) && en.At.Before(deletedAt) {
			t.Errorf("node B's pod %s unregistered at %s, before it was deleted: %v", en.IP, en.At.Format(time.StampMilli), en.Tags)
		}
	}

	// What went over the wire: never the forged claim, never an
	// unregister of a tag that is not ours.
	for _, en := range e.calls.all() {
		for _, tag := range en.Tags {
			if strings.Contains(tag, "evil") {
				t.Errorf("the refused claim reached the firewall: %+v", en)
			}
			if en.Unregister && !strings.HasPrefix(tag, prefix+".") {
				t.Errorf("unregistered a tag kubedag does not own: %+v", en)
			}
		}
	}
}

// register puts tags on the emulator as someone else would (its own
// User-ID client, no timeout).
func (e *env) register(t *testing.T, regs map[netip.Addr][]string) {
	t.Helper()
	c, err := userid.New(userid.Config{URL: e.sim.URL, Username: simUser, Password: e.password, RootCAs: e.sim.CAPool})
	if err != nil {
		t.Fatal(err)
	}
	var u userid.Update
	for ip, ts := range regs {
		en := userid.Entry{IP: ip}
		for _, tag := range ts {
			en.Tags = append(en.Tags, userid.Tag{Name: tag})
		}
		u.Register = append(u.Register, en)
	}
	if _, err := c.Update(t.Context(), u); err != nil {
		t.Fatalf("register on the emulator: %v", err)
	}
}

func lastReconcile(t *testing.T, r *runningAgg) time.Time {
	t.Helper()
	var last time.Time
	for _, st := range r.agg.Statuses() {
		if st.LastReconcile.After(last) {
			last = st.LastReconcile
		}
	}
	return last
}

func hasPositive(exposition, name string) bool {
	v, ok := metricValue(exposition, name)
	return ok && v > 0
}
