package apiservertest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	agentstream "github.com/kubedag/kubedag/agent/stream"
	"github.com/kubedag/kubedag/aggregator"
	"github.com/kubedag/kubedag/aggregator/leader"
)

// TestLeaderFailover runs two aggregators on one Lease, both hot: every
// agent streams to both replicas (as it does through the headless
// Service), both are Ready and hold the same claims, and only the leader
// pushes. The leader stops (releasing the Lease); the standby takes over
// without any agent reconnecting or re-sending a snapshot, its snapshot
// gate opens at once (every node already streams to it), and throughout no
// IP that is still claimed loses a tag on the emulator, while the new
// leader repairs what changed during the handover.
func TestLeaderFailover(t *testing.T) {
	e := newEnv(t, "failover", 2)
	web := e.runPods("web", 3, e.nodes[0], nil)
	api := e.runPods("api", 3, e.nodes[1], nil)
	svc := e.createService("web")

	const grace = 2 * time.Minute
	start := func(id string) *runningAgg {
		return e.startAggregator(id, e.config("fw", ""), func(o *aggregator.Options) {
			o.LeaderElection = &leader.Options{Namespace: e.ns, Name: "kubedag-aggregator", Identity: id,
				LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 250 * time.Millisecond}
			o.SnapshotGrace = grace // the gate must open on the streams, well before this
		})
	}
	a := start("agg-a")
	eventually(t, time.Minute, "agg-a leads", func() (bool, string) { return a.agg.Leading(), "" })
	b := start("agg-b")

	// The agents resolve the aggregator name to both replicas.
	replicas := func(context.Context) ([]string, error) { return []string{a.addr, b.addr}, nil }
	agents := []*fakeAgent{}
	for _, n := range e.nodes[:2] {
		agents = append(agents, e.startAgentWith(n, func(c *agentstream.Config) {
			c.Addr, c.Resolve, c.ResolveInterval = "aggregator:9443", replicas, 100*time.Millisecond
		}))
	}
	ns := prefix + ".ns_" + e.ns
	want := withAPIServerService(t, map[netip.Addr][]string{
		netip.MustParseAddr(svc.Spec.ClusterIP): {ns, ns + ".svc_web"},
		aggregator.DefaultCanaryIP:              {canaryTag},
	})
	for _, p := range web {
		agents[0].state.Set(podClaim(p, "web"))
		want[netip.MustParseAddr(p.Status.PodIP)] = []string{ns, ns + ".app.web", ns + ".svc_web"}
	}
	for _, p := range api {
		agents[1].state.Set(podClaim(p))
		want[netip.MustParseAddr(p.Status.PodIP)] = []string{ns, ns + ".app.api"}
	}
	converged := func() (bool, string) {
		got := owned(e.sim.Sim.Registered())
		return equalRegs(got, want), fmt.Sprint(got)
	}
	eventually(t, time.Minute, "agg-a registered every claim", converged)
	for _, r := range []*runningAgg{a, b} {
		eventually(t, time.Minute, "both replicas ready and holding every claim", func() (bool, string) {
			code, body := get(t, r.health, "/readyz")
			ips := r.agg.Store().Stats().IPs
			return code == http.StatusOK && ips == a.agg.Store().Stats().IPs, fmt.Sprintf("/readyz %d %q, %d IPs", code, body, ips)
		})
	}
	if b.agg.Leading() {
		t.Fatal("agg-b leads while agg-a holds the Lease")
	}
	for _, en := range e.calls.all() {
		if en.Who != "agg-a" {
			t.Fatalf("%s pushed while agg-a led: %+v", en.Who, en)
		}
	}

	// A tag of ours left on an IP nobody claims (say, a pod deleted while
	// agg-a was down): the new leader must remove it, but only once its
	// snapshot gate opens.
	staleIP := netip.MustParseAddr("198.51.100.9")
	e.register(t, map[netip.Addr][]string{staleIP: {ns + ".app.gone"}})

	// Watch the emulator through the failover: every live IP must keep
	// every tag it has now.
	live := map[netip.Addr][]string{}
	for ip, ts := range want {
		live[ip] = ts
	}
	sampler := startSampler(e, live)
	e.sim.Sim.ResetStats()
	streamSince := map[string]time.Time{}
	for _, ag := range agents {
		since, ok := b.agg.StreamingSince(ag.node)
		if !ok {
			t.Fatalf("agent %s does not stream to agg-b", ag.node)
		}
		streamSince[ag.node] = since
	}

	killed := time.Now()
	a.kill(t)
	aDone := time.Now()
	if st := a.agg.Statuses(); len(st) != 0 {
		t.Errorf("agg-a, stopped, still reports target statuses %+v", st)
	}
	// A pod starts while nobody leads.
	late := e.runPods("late", 1, e.nodes[0], nil)[0]
	agents[0].state.Set(podClaim(late))
	want[netip.MustParseAddr(late.Status.PodIP)] = []string{ns, ns + ".app.late"}

	eventually(t, time.Minute, "agg-b leads", func() (bool, string) { return b.agg.Leading(), "" })
	eventually(t, 90*time.Second, "agg-b converged (late pod registered, stale IP unregistered)", converged)
	if took := time.Since(killed); took >= grace/4 {
		t.Errorf("convergence took %s: the gate waited (SnapshotGrace %s) although every node streams to agg-b", took, grace)
	}
	// agg-b had every stream already: each agent's stream to it is the
	// one it had before the handover (no reconnect, no new snapshot).
	for _, ag := range agents {
		if since, ok := b.agg.StreamingSince(ag.node); !ok || !since.Equal(streamSince[ag.node]) {
			t.Errorf("agent %s: stream to agg-b since %v (open %v), want the same stream as before, since %v", ag.node, since, ok, streamSince[ag.node])
		}
	}
	if got, ok := e.sim.Sim.Registered()[staleIP]; ok {
		t.Errorf("stale IP %s still holds %v", staleIP, got)
	}
	if violations := sampler.stop(); len(violations) > 0 {
		t.Errorf("live IPs lost tags during the failover (%d samples), first: %s", len(violations), violations[0])
	}

	// The wire, as the aggregators sent it and as the emulator counted it:
	// the dead leader sent nothing after it stopped, and the only
	// unregisters were the stale IP's.
	stats := e.sim.Sim.Stats()
	var unregs int
	for _, en := range e.calls.all() {
		if en.Who == "agg-a" && en.At.After(aDone) {
			t.Errorf("agg-a pushed after it was stopped: %+v", en)
		}
		if !en.Unregister {
			continue
		}
		// The TTL floor marker moves with time: replacing it unregisters
		// the old one.
		if en.IP != staleIP && en.IP != aggregator.DefaultFloorIP {
			t.Errorf("unregistered %v on %s (%s at %s)", en.Tags, en.IP, en.Who, en.At.Format(time.StampMilli))
		}
		if en.At.After(killed) {
			unregs++
		}
	}
	if stats.UnregisterEntries != unregs || unregs == 0 {
		t.Errorf("emulator counted %d unregister entries since the kill, aggregators sent %d; want equal and > 0 (the stale IP, an old TTL floor marker)", stats.UnregisterEntries, unregs)
	}
	t.Logf("failover: killed at %s, converged after %s; emulator since kill: %d user-id calls, %d register and %d unregister entries",
		killed.Format(time.StampMilli), time.Since(killed).Round(time.Millisecond), stats.UserIDCalls, stats.RegisterEntries, stats.UnregisterEntries)
}

// sampler polls the emulator and records every moment an IP of live lacks
// one of its tags.
type sampler struct {
	cancel     context.CancelFunc
	done       chan struct{}
	mu         sync.Mutex
	violations []string
}

func startSampler(e *env, live map[netip.Addr][]string) *sampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sampler{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			reg := e.sim.Sim.Registered()
			for ip, ts := range live {
				for _, tag := range ts {
					if !slices.Contains(reg[ip], tag) {
						s.mu.Lock()
						s.violations = append(s.violations, fmt.Sprintf("%s at %s: %s missing from %v", ip, time.Now().Format(time.StampMilli), tag, reg[ip]))
						s.mu.Unlock()
					}
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	e.t.Cleanup(func() { s.stop() })
	return s
}

func (s *sampler) stop() []string {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// cutTransport fails every new request while cut is set: the replica is
// partitioned from the API server (requests already streaming, such as
// open watches, are left alone).
type cutTransport struct {
	http.RoundTripper
	cut *atomic.Bool
}

func (c cutTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if c.cut.Load() {
		return nil, errors.New("partitioned from the API server")
	}
	return c.RoundTripper.RoundTrip(r)
}

// TestLeaderCutOffFromAPIServer: the leader loses the API server (its
// Lease renewals fail, as for a partition or a process frozen past its
// Lease) while it still reaches the firewall and its agents, under steady
// pod churn. It must make no firewall call after its fence (RenewDeadline
// after its last successful renew began), which comes before the standby
// can take the Lease; the standby, holding every claim already, pushes
// without waiting for snapshots. With the default Lease timings (4s/3s/1s)
// the time from the cut to the standby's first push is reported, as is the
// tag latency of the changes made during the takeover.
func TestLeaderCutOffFromAPIServer(t *testing.T) {
	e := newEnv(t, "fence", 2)
	base := e.runPods("base", 3, e.nodes[0], nil)
	churn := e.runPods("churn", 40, e.nodes[1], nil)

	var cut atomic.Bool
	cfgA, err := testCluster.UserConfig("kubedag-agg-a", "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	cfgA.Wrap(func(rt http.RoundTripper) http.RoundTripper { return cutTransport{RoundTripper: rt, cut: &cut} })
	clientA, err := kubernetes.NewForConfig(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	start := func(id string, c kubernetes.Interface) *runningAgg {
		return e.startAggregator(id, e.config("fw", ""), func(o *aggregator.Options) {
			if c != nil {
				o.Client = c
			}
			// The default timings: 4s lease, 3s renew deadline, 1s retry.
			o.LeaderElection = &leader.Options{Namespace: e.ns, Name: "kubedag-aggregator", Identity: id}
			o.SnapshotGrace = 2 * time.Minute
		})
	}
	a := start("agg-a", clientA)
	eventually(t, time.Minute, "agg-a leads", func() (bool, string) { return a.agg.Leading(), "" })
	b := start("agg-b", nil)
	replicas := func(context.Context) ([]string, error) { return []string{a.addr, b.addr}, nil }
	var agents []*fakeAgent
	for _, n := range e.nodes[:2] {
		agents = append(agents, e.startAgentWith(n, func(c *agentstream.Config) {
			c.Addr, c.Resolve, c.ResolveInterval = "aggregator:9443", replicas, 100*time.Millisecond
		}))
	}
	ns := prefix + ".ns_" + e.ns
	live := map[netip.Addr][]string{}
	for _, p := range base {
		agents[0].state.Set(podClaim(p))
		live[netip.MustParseAddr(p.Status.PodIP)] = []string{ns, ns + ".app.base"}
	}
	eventually(t, time.Minute, "agg-a registered the base pods and agg-b holds them", func() (bool, string) {
		reg := e.sim.Sim.Registered()
		for ip, ts := range live {
			if !slices.Equal(reg[ip], ts) {
				return false, fmt.Sprintf("%v: %v", ip, reg[ip])
			}
		}
		_, okA := b.agg.StreamingSince(e.nodes[0])
		return okA && b.agg.Store().Stats().IPs == a.agg.Store().Stats().IPs, "agg-b not caught up"
	})
	sampler := startSampler(e, live)

	// Churn: a new pod goes live every 100ms, before and through the cut.
	type change struct {
		ip  netip.Addr
		tag string
		at  time.Time
	}
	changes := make(chan change, len(churn))
	churnDone := make(chan struct{})
	go func() {
		defer close(churnDone)
		for _, p := range churn {
			agents[1].state.Set(podClaim(p))
			changes <- change{ip: netip.MustParseAddr(p.Status.PodIP), tag: ns + ".app.churn", at: time.Now()}
			select {
			case <-t.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	time.Sleep(time.Second) // churn under the leader first: no event marks "enough churn"
	cutAt := time.Now()
	cut.Store(true)
	eventually(t, 30*time.Second, "agg-b leads", func() (bool, string) { return b.agg.Leading(), "" })
	<-churnDone
	close(changes)

	// Every churned pod registered, by whoever led.
	var all []change
	for c := range changes {
		all = append(all, c)
	}
	eventually(t, time.Minute, "every churned pod tagged", func() (bool, string) {
		reg := e.sim.Sim.Registered()
		for _, c := range all {
			if !slices.Contains(reg[c.ip], c.tag) {
				return false, fmt.Sprintf("%v lacks %s", c.ip, c.tag)
			}
		}
		return true, ""
	})
	if violations := sampler.stop(); len(violations) > 0 {
		t.Errorf("live IPs lost tags during the takeover (%d samples), first: %s", len(violations), violations[0])
	}

	// The fence: agg-a's last call began no later than RenewDeadline after
	// its last renew, which began before the cut.
	fence := cutAt.Add(leader.DefaultRenewDeadline)
	var lastA, firstB time.Time
	registeredAt := map[netip.Addr]time.Time{}
	for _, en := range e.calls.all() {
		switch en.Who {
		case "agg-a":
			if en.At.After(lastA) {
				lastA = en.At
			}
			if en.At.After(fence) {
				t.Errorf("agg-a called the firewall at %s, after its fence %s (cut at %s)", en.At.Format(time.StampMilli), fence.Format(time.StampMilli), cutAt.Format(time.StampMilli))
			}
		case "agg-b":
			if en.At.After(cutAt) && (firstB.IsZero() || en.At.Before(firstB)) {
				firstB = en.At
			}
		}
		if en.Unregister {
			if _, isLive := live[en.IP]; isLive {
				t.Errorf("%s unregistered %v from live %s", en.Who, en.Tags, en.IP)
			}
			continue
		}
		if _, seen := registeredAt[en.IP]; !seen {
			registeredAt[en.IP] = en.At
		}
	}
	if firstB.IsZero() {
		t.Fatal("agg-b never pushed")
	}
	if !lastA.Before(firstB) {
		t.Errorf("agg-a called the firewall at %s, after agg-b's first push at %s", lastA.Format(time.StampMilli), firstB.Format(time.StampMilli))
	}
	takeover := firstB.Sub(cutAt)
	// Goal 5s (4s lease + up to 1.2s retry); the bound leaves room for a
	// loaded test machine.
	if takeover > 10*time.Second {
		t.Errorf("agg-b first pushed %s after the cut, want about LeaseDuration + RetryPeriod", takeover)
	}
	var worst time.Duration
	for _, c := range all {
		if c.at.After(cutAt) {
			worst = max(worst, registeredAt[c.ip].Sub(c.at))
		}
	}
	t.Logf("leader cut off from the API server: agg-a's last firewall call %s after the cut (fence %s), agg-b's first push %s after the cut; worst tag latency of a change made during the takeover %s",
		lastA.Sub(cutAt).Round(time.Millisecond), leader.DefaultRenewDeadline, takeover.Round(time.Millisecond), worst.Round(time.Millisecond))
	cut.Store(false)
}

// TestStandbyPartitionedFromAgents: the standby reaches the API server but
// no agent (the agents' DNS answer, or the network, leaves it out). When
// the leader stops, it takes the Lease holding no node's claims: its
// snapshot gate stays shut, so it unregisters no live tag; once the agents
// reach it, their snapshots open the gate and it converges, removing a
// stale tag.
func TestStandbyPartitionedFromAgents(t *testing.T) {
	e := newEnv(t, "agentcut", 2)
	web := e.runPods("web", 3, e.nodes[0], nil)
	api := e.runPods("api", 2, e.nodes[1], nil)
	start := func(id string) *runningAgg {
		return e.startAggregator(id, e.config("fw", ""), func(o *aggregator.Options) {
			o.LeaderElection = &leader.Options{Namespace: e.ns, Name: "kubedag-aggregator", Identity: id,
				LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 250 * time.Millisecond}
			o.SnapshotGrace = 5 * time.Minute // the gate must open on the snapshots, not on this
		})
	}
	a := start("agg-a")
	eventually(t, time.Minute, "agg-a leads", func() (bool, string) { return a.agg.Leading(), "" })
	b := start("agg-b")
	var reachB atomic.Bool
	replicas := func(context.Context) ([]string, error) {
		if reachB.Load() {
			return []string{a.addr, b.addr}, nil
		}
		return []string{a.addr}, nil
	}
	var agents []*fakeAgent
	for _, n := range e.nodes[:2] {
		agents = append(agents, e.startAgentWith(n, func(c *agentstream.Config) {
			c.Addr, c.Resolve, c.ResolveInterval = "aggregator:9443", replicas, 100*time.Millisecond
		}))
	}
	ns := prefix + ".ns_" + e.ns
	live := map[netip.Addr][]string{}
	for _, p := range web {
		agents[0].state.Set(podClaim(p))
		live[netip.MustParseAddr(p.Status.PodIP)] = []string{ns, ns + ".app.web"}
	}
	for _, p := range api {
		agents[1].state.Set(podClaim(p))
		live[netip.MustParseAddr(p.Status.PodIP)] = []string{ns, ns + ".app.api"}
	}
	eventually(t, time.Minute, "agg-a registered every claim", func() (bool, string) {
		reg := e.sim.Sim.Registered()
		for ip, ts := range live {
			if !slices.Equal(reg[ip], ts) {
				return false, fmt.Sprintf("%v: %v", ip, reg[ip])
			}
		}
		return true, ""
	})
	if got := b.agg.Store().Stats().IPs; b.agg.Leading() || func() bool { _, ok := b.agg.StreamingSince(e.nodes[0]); return ok }() {
		t.Fatalf("agg-b leads or has agent streams (%d IPs) while partitioned from the agents", got)
	}
	staleIP := netip.MustParseAddr("198.51.100.7")
	e.register(t, map[netip.Addr][]string{staleIP: {ns + ".app.gone"}})
	sampler := startSampler(e, live)

	stopped := time.Now()
	a.kill(t)
	eventually(t, time.Minute, "agg-b leads", func() (bool, string) { return b.agg.Leading(), "" })
	// agg-b leads without any claim: it has listed the target (reconcile)
	// and must hold back every unregister while its gate is shut.
	eventually(t, time.Minute, "agg-b reconciled the target", func() (bool, string) {
		for _, st := range b.agg.Statuses() {
			if st.Synced {
				return !st.Ready, fmt.Sprintf("%+v", st)
			}
		}
		return false, fmt.Sprint(b.agg.Statuses())
	})
	for _, en := range e.calls.all() {
		if en.Who == "agg-b" && en.Unregister {
			t.Fatalf("agg-b unregistered %v from %s with its gate shut", en.Tags, en.IP)
		}
	}
	reachB.Store(true)
	eventually(t, time.Minute, "agg-b converged once the agents reach it (stale IP removed)", func() (bool, string) {
		reg := e.sim.Sim.Registered()
		_, stale := reg[staleIP]
		return !stale, fmt.Sprint(reg[staleIP])
	})
	if violations := sampler.stop(); len(violations) > 0 {
		t.Errorf("live IPs lost tags (%d samples), first: %s", len(violations), violations[0])
	}
	for _, en := range e.calls.all() {
		if en.Unregister && en.At.After(stopped) && en.IP != staleIP {
			t.Errorf("%s unregistered %v from %s", en.Who, en.Tags, en.IP)
		}
	}
	t.Logf("standby partitioned from the agents led with its gate shut (no unregister); converged %s after the leader stopped, once the agents reached it",
		time.Since(stopped).Round(time.Millisecond))
}
