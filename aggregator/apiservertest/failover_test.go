package apiservertest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/kubedag/kubedag/aggregator"
	"github.com/kubedag/kubedag/aggregator/leader"
)

// TestLeaderFailover runs two aggregators on one Lease. Agents dial the
// two in turn (as a Service without readiness routing would), so they keep
// hitting the non-leader, which must refuse them, until they reach the
// leader. The leader is killed; the other takes over, the agents reconnect
// and re-send their snapshots, and throughout no IP that is still claimed
// loses a tag on the emulator, while the new leader still repairs what
// changed during the failover once its snapshot gate opens.
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
			o.SnapshotGrace = grace // the gate must open on snapshots, well before this
		})
	}
	a := start("agg-a")
	eventually(t, time.Minute, "agg-a leads", func() (bool, string) { err := a.agg.Ready(); return err == nil, fmt.Sprint(err) })
	b := start("agg-b")

	// Each new agent connection goes to the other aggregator.
	backends := []string{a.addr, b.addr}
	var dials atomic.Uint64
	dial := grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", backends[dials.Add(1)%2])
	})
	agents := []*fakeAgent{e.startAgent(e.nodes[0], "passthrough:///aggregator", dial), e.startAgent(e.nodes[1], "passthrough:///aggregator", dial)}
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
	if err := b.agg.Ready(); err == nil {
		t.Fatal("agg-b is ready while agg-a leads")
	}
	if code, body := get(t, b.health, "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("agg-b /readyz = %d %q while agg-a leads, want 503 (the agent Service must not route to it)", code, body)
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
	sessions := []uint64{agents[0].client.Sessions(), agents[1].client.Sessions()}

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

	eventually(t, time.Minute, "agg-b leads", func() (bool, string) { err := b.agg.Ready(); return err == nil, fmt.Sprint(err) })
	for i, ag := range agents {
		eventually(t, time.Minute, "agent "+ag.node+" re-sent its snapshot to agg-b", func() (bool, string) {
			return ag.client.Sessions() > sessions[i] && ag.client.Connected(), fmt.Sprintf("sessions %d, connected %v", ag.client.Sessions(), ag.client.Connected())
		})
	}
	eventually(t, 90*time.Second, "agg-b converged (late pod registered, stale IP unregistered)", converged)
	if took := time.Since(killed); took >= grace {
		t.Errorf("convergence took %s, not less than SnapshotGrace %s: the gate did not open on the snapshots", took, grace)
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
		if en.IP != staleIP {
			t.Errorf("unregistered %v on %s (%s at %s)", en.Tags, en.IP, en.Who, en.At.Format(time.StampMilli))
		}
		if en.At.After(killed) {
			unregs++
		}
	}
	if stats.UnregisterEntries != unregs || unregs == 0 {
		t.Errorf("emulator counted %d unregister entries since the kill, aggregators sent %d; want equal and > 0 (the stale IP)", stats.UnregisterEntries, unregs)
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
