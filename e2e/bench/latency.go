package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/kubedag/kubedag/agent/nodestate"
	agentstream "github.com/kubedag/kubedag/agent/stream"
	"github.com/kubedag/kubedag/aggregator/diff"
	"github.com/kubedag/kubedag/aggregator/push"
	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/aggregator/stream"
	"github.com/kubedag/kubedag/tags"
)

// Model names of the latency phase.
const (
	ModelKubedag = "kubedag"
	ModelNaive   = "naive"
	ModelPoll    = "poll"
)

// tracker follows one model's acknowledgements of the change stream.
type tracker struct {
	mu         sync.Mutex
	pending    map[netip.Addr]time.Time // IP -> FirstSeen of its latest change
	acked      []time.Duration
	superseded int
}

func newTracker() *tracker { return &tracker{pending: make(map[netip.Addr]time.Time)} }

func (t *tracker) issue(ip netip.Addr, firstSeen time.Time) {
	t.mu.Lock()
	if _, ok := t.pending[ip]; ok {
		t.superseded++
	}
	t.pending[ip] = firstSeen
	t.mu.Unlock()
}

// ack records the target's acknowledgement of ip's change first seen at
// firstSeen; acks of anything but the latest change are ignored.
func (t *tracker) ack(ip netip.Addr, firstSeen, now time.Time) {
	t.mu.Lock()
	if fs, ok := t.pending[ip]; ok && fs.Equal(firstSeen) {
		t.acked = append(t.acked, now.Sub(firstSeen))
		delete(t.pending, ip)
	}
	t.mu.Unlock()
}

// ackLatest records the target's acknowledgement of ip's latest change,
// whichever it was (for hooks that carry no FirstSeen).
func (t *tracker) ackLatest(ip netip.Addr, now time.Time) {
	t.mu.Lock()
	if fs, ok := t.pending[ip]; ok {
		t.acked = append(t.acked, now.Sub(fs))
		delete(t.pending, ip)
	}
	t.mu.Unlock()
}

func (t *tracker) idle() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending) == 0
}

func (t *tracker) result(model, desc string, end time.Time) ModelLatency {
	t.mu.Lock()
	defer t.mu.Unlock()
	unacked := make([]time.Duration, 0, len(t.pending))
	for _, fs := range t.pending {
		unacked = append(unacked, end.Sub(fs))
	}
	m := ModelLatency{Model: model, Description: desc, Acked: len(t.acked), Superseded: t.superseded, Unacked: len(unacked)}
	m.P50, m.P90, m.P99, m.Max = quantiles(t.acked, unacked)
	return m
}

// staticAuth maps fixed bearer tokens to nodes.
type staticAuth map[string]string

func (a staticAuth) Authenticate(_ context.Context, token string) (string, error) {
	if n, ok := a[token]; ok {
		return n, nil
	}
	return "", errors.New("unknown token")
}

// runLatency runs the tag-latency phase.
func runLatency(ctx context.Context, cfg Config, d *tags.Deriver) (*LatencyReport, error) {
	log := cfg.Logger
	serverTLS, clientTLS, err := streamTLS()
	if err != nil {
		return nil, fmt.Errorf("stream TLS: %w", err)
	}
	dir, err := os.MkdirTemp("", "kubedag-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	// Aggregator side: the stream server on loopback.
	auth := staticAuth{}
	states := make([]*nodestate.State, cfg.Nodes)
	tokenFiles := make([]string, cfg.Nodes)
	nodes := make([]string, cfg.Nodes)
	for n := range cfg.Nodes {
		node, token := fmt.Sprintf("bench-node-%d", n), fmt.Sprintf("bench-token-%d", n)
		nodes[n] = node
		auth[token] = node
		tokenFiles[n] = filepath.Join(dir, node+".token")
		if err := os.WriteFile(tokenFiles[n], []byte(token), 0o600); err != nil {
			return nil, err
		}
		states[n] = nodestate.New()
	}
	names := []string{ModelKubedag, ModelNaive, ModelPoll}
	trackers := make([]*tracker, len(names))
	for i := range trackers {
		trackers[i] = newTracker()
	}
	// The production core: store, node sink, claim gate and pusher
	// factory, the gate checking claims against the bench's pod view.
	view := newPodView()
	// Tags are registered without timeout here: the emulator's listing
	// does not report timeouts, and a TTL would make the pushers refresh
	// every listed tag at start (the restart phase measures that).
	// IP-reuse exposure: from the new pod's claim on its node until the
	// kubedag target acknowledged removing the old pod's tags.
	exposure := newTracker()
	core, gate, err := newCore(cfg, d, view, 0, push.Hooks{
		Applied: func(target string, ip netip.Addr, fs time.Time, _ trace.SpanContext, _ []string) {
			if i := slices.Index(names, target); i >= 0 {
				trackers[i].ack(ip, fs, time.Now())
			}
		},
		Removed: func(target string, ip netip.Addr, _ []string, _ trace.SpanContext) {
			if target == ModelKubedag {
				exposure.ackLatest(ip, time.Now())
			}
		},
	})
	if err != nil {
		return nil, err
	}
	st := core.Store()
	srv, err := stream.NewServer(stream.Config{Sink: core.Sink(), Authenticator: auth, Logger: log})
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}

	// Agent side: the initial pods (round 0), then one stream client per node.
	now := time.Now()
	for i := range cfg.IPs {
		view.set(podIP(i), nodes[i%cfg.Nodes], podIdentity(i, 0))
		states[i%cfg.Nodes].Set(nodestate.Claim{IP: podIP(i), Identity: podIdentity(i, 0), FirstSeen: now})
	}
	clients := make([]*agentstream.Client, cfg.Nodes)
	for n := range cfg.Nodes {
		clients[n], err = agentstream.New(agentstream.Config{
			Addr: lis.Addr().String(), Node: nodes[n], State: states[n],
			TLS: clientTLS, TokenFile: tokenFiles[n], Logger: log,
		})
		if err != nil {
			lis.Close()
			return nil, err
		}
	}
	pipeCtx, stopPipe := context.WithCancel(ctx)
	pipe, pipeCtx := errgroup.WithContext(pipeCtx)
	pipe.Go(func() error { return gate.Run(pipeCtx) })
	pipe.Go(func() error { return srv.Serve(pipeCtx, lis, serverTLS) })
	for _, c := range clients {
		pipe.Go(func() error { return c.Run(pipeCtx) })
	}
	defer func() { stopPipe(); _ = pipe.Wait() }()

	if err := waitFor(pipeCtx, 10*time.Millisecond, 2*time.Minute, "agent snapshots", func() bool {
		for _, c := range clients {
			if !c.Connected() {
				return false
			}
		}
		return st.Stats().IPs == cfg.IPs
	}); err != nil {
		return nil, err
	}

	// Targets: one emulator per model, all holding the initial state.
	ems := make([]*emulator, len(names))
	defer func() {
		for _, e := range ems {
			if e != nil {
				e.close()
			}
		}
	}()
	want := desiredOf(st)
	for i := range ems {
		if ems[i], err = startEmulator(2*cfg.IPs + 1000); err != nil {
			return nil, fmt.Errorf("emulator: %w", err)
		}
		if err := preRegister(ctx, ems[i].client, want, 0, cfg.MaxBatch); err != nil {
			return nil, err
		}
		ems[i].srv.Sim.SetLatency(cfg.FirewallLatency)
	}
	want = nil

	// The naive model is the same pusher sending one change per call.
	naive := core.PushOptions(ModelNaive)
	naive.MaxBatch = 1
	pushers := make([]*push.Pusher, 2)
	if pushers[0], err = core.Pusher(ModelKubedag, ems[0].client, nil); err != nil {
		return nil, err
	}
	if pushers[1], err = push.New(ems[1].client, st, naive); err != nil {
		return nil, err
	}
	poll := &pollModel{fw: ems[2].client, st: st, owns: d.Owns, interval: cfg.PollInterval, maxBatch: push.DefaultMaxBatch,
		applied: func(ip netip.Addr, fs time.Time) { trackers[2].ack(ip, fs, time.Now()) }}
	if err := poll.init(ctx); err != nil {
		return nil, err
	}

	pushCtx, stopPush := context.WithCancel(ctx)
	pushG, pushCtx := errgroup.WithContext(pushCtx)
	for _, p := range pushers {
		pushG.Go(func() error { return p.Run(pushCtx) })
	}
	defer func() { stopPush(); _ = pushG.Wait() }()
	if err := waitFor(pushCtx, 10*time.Millisecond, 2*time.Minute, "pushers' first reconcile", func() bool {
		for _, p := range pushers {
			if s := p.Status(); !s.Synced || s.Pending > 0 {
				return false
			}
		}
		return true
	}); err != nil {
		return nil, err
	}
	for _, e := range ems {
		e.srv.Sim.ResetStats()
	}
	log.Info("bench: change stream starts")

	// The change stream: round-robin over the IPs, each change a new pod
	// (round r+1) on the IP; every ReuseEvery-th on another node, claimed
	// there before the old node withdraws the old pod.
	nodeOf := make([]int, cfg.IPs)
	for i := range nodeOf {
		nodeOf[i] = i % cfg.Nodes
	}
	reuses := 0
	start := time.Now()
	pushG.Go(func() error { return poll.run(pushCtx) }) // its first poll comes one interval after start
	total := int(float64(cfg.Rate) * cfg.Duration.Seconds())
	issued := 0
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for issued < total {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-pushCtx.Done():
			return nil, fmt.Errorf("a model stopped: %w", pushG.Wait())
		case <-tick.C:
		}
		due := min(total, int(float64(cfg.Rate)*time.Since(start).Seconds()))
		for ; issued < due; issued++ {
			i, r := issued%cfg.IPs, 1+issued/cfg.IPs
			ip, id := podIP(i), podIdentity(i, r)
			fs := time.Now()
			for _, tr := range trackers {
				tr.issue(ip, fs)
			}
			old, n := nodeOf[i], nodeOf[i]
			if cfg.ReuseEvery > 0 && cfg.Nodes > 1 && issued%cfg.ReuseEvery == cfg.ReuseEvery-1 {
				n = (old + 1) % cfg.Nodes
				exposure.issue(ip, fs)
				reuses++
			}
			view.set(ip, nodes[n], id)
			states[n].Set(nodestate.Claim{IP: ip, Identity: id, FirstSeen: fs})
			if n != old {
				states[old].Delete(ip)
				nodeOf[i] = n
			}
		}
	}
	streamed := time.Since(start)
	log.Info("bench: change stream done; draining", "issued", issued, "in", streamed)
	_ = waitFor(ctx, 10*time.Millisecond, cfg.Drain, "acks", func() bool {
		for _, tr := range trackers {
			if !tr.idle() {
				return false
			}
		}
		return exposure.idle()
	})
	end := time.Now()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	rep := &LatencyReport{Issued: issued, AchievedRate: float64(issued) / streamed.Seconds()}
	descs := []string{
		fmt.Sprintf("agent stream -> claim gate -> store -> pusher (sends when no call is in flight, coalesces while one is; %d entries a call) -> userid client", cfg.MaxBatch),
		"the same pusher with MaxBatch 1: one User-ID call per change, in series",
		fmt.Sprintf("every %s list the desired state and push the difference in calls of %d entries (the Panorama plugins' model)", cfg.PollInterval, push.DefaultMaxBatch),
	}
	for i, name := range names {
		m := trackers[i].result(name, descs[i], end)
		s := ems[i].srv.Sim.Stats()
		m.Calls, m.Entries = s.UserIDCalls, s.RegisterEntries+s.UnregisterEntries
		if m.Calls > 0 {
			m.MappingsPerCall = float64(m.Entries) / float64(m.Calls)
		}
		rep.Models = append(rep.Models, m)
	}
	if reuses > 0 {
		x := exposure.result(ModelKubedag, "", end)
		rep.Reuse = &ExposureReport{Reuses: reuses, Acked: x.Acked, Unacked: x.Unacked, P50: x.P50, P90: x.P90, P99: x.P99, Max: x.Max}
	}
	rep.Stream = StreamStatsInfo{Agents: cfg.Nodes, Rejections: srv.Rejections()}
	for _, c := range clients {
		rep.Stream.Sessions += c.Sessions()
	}
	return rep, nil
}

// pollModel is the poll baseline: every interval it lists the whole
// desired state, diffs it against what it pushed before and pushes the
// difference.
type pollModel struct {
	fw       push.Firewall
	st       *store.Store
	owns     func(string) bool
	interval time.Duration
	maxBatch int
	applied  func(ip netip.Addr, firstSeen time.Time)

	actual map[netip.Addr]tags.Set // owned by run
}

// init reads what the target holds.
func (m *pollModel) init(ctx context.Context) error {
	regs, err := m.fw.RegisteredIPs(ctx, "")
	if err != nil {
		return fmt.Errorf("poll model: list: %w", err)
	}
	m.actual = make(map[netip.Addr]tags.Set, len(regs))
	for _, r := range regs {
		var owned []string
		for _, t := range r.Tags {
			if m.owns(t.Name) {
				owned = append(owned, t.Name)
			}
		}
		if len(owned) > 0 {
			m.actual[r.IP.Unmap()] = tags.NewSet(owned...)
		}
	}
	return nil
}

func (m *pollModel) run(ctx context.Context) error {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := m.poll(ctx); err != nil && ctx.Err() == nil {
			return err
		}
	}
}

func (m *pollModel) poll(ctx context.Context) error {
	ips := m.st.AppendIPs(nil)
	des := m.st.DesiredBatch(ips, nil)
	byIP := make(map[netip.Addr]store.Desired, len(ips))
	items := make([]diff.Item, 0, len(ips))
	for i, ip := range ips {
		byIP[ip] = des[i]
		items = append(items, diff.Item{IP: ip, Desired: des[i].Tags, Actual: m.actual[ip]})
	}
	for ip, a := range m.actual {
		if _, ok := byIP[ip]; !ok {
			items = append(items, diff.Item{IP: ip, Actual: a})
		}
	}
	for _, b := range diff.Plan(items, m.owns, m.maxBatch) {
		res, err := m.fw.Update(ctx, updateOf(b))
		if err != nil {
			return fmt.Errorf("poll model: update: %w", err)
		}
		failed := make(map[netip.Addr]bool, len(res.Failed))
		for _, f := range res.Failed {
			failed[f.IP.Unmap()] = true
		}
		for _, op := range b.Ops {
			if failed[op.IP] {
				continue // retried at the next poll
			}
			d := byIP[op.IP]
			if d.Tags.Len() == 0 {
				delete(m.actual, op.IP)
			} else {
				m.actual[op.IP] = d.Tags
			}
			if len(op.Register) > 0 {
				m.applied(op.IP, d.FirstSeen)
			}
		}
	}
	return nil
}

// updateOf is the User-ID update of one planned batch.
func updateOf(b diff.Batch) push.Update {
	var u push.Update
	for _, op := range b.Ops {
		if len(op.Unregister) > 0 {
			e := push.Entry{IP: op.IP}
			for _, t := range op.Unregister {
				e.Tags = append(e.Tags, push.Tag{Name: t})
			}
			u.Unregister = append(u.Unregister, e)
		}
		if len(op.Register) > 0 {
			e := push.Entry{IP: op.IP}
			for _, t := range op.Register {
				e.Tags = append(e.Tags, push.Tag{Name: t})
			}
			u.Register = append(u.Register, e)
		}
	}
	return u
}
