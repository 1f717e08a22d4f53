package apiservertest

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

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
