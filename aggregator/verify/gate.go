package verify

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubedag/kubedag/aggregator/podview"
	"github.com/kubedag/kubedag/aggregator/stream"
)

// DefaultWait is how long an unconfirmed claim waits for the view.
const DefaultWait = 500 * time.Millisecond

// View is what the Gate needs of the pod view (*podview.View).
type View interface {
	Holders(ip netip.Addr) []podview.Pod
	Synced() <-chan struct{}
}

// Options configures a Gate.
type Options struct {
	// View is the API server's view of pods. Required; its OnChange must
	// call Gate.Changed.
	View View
	// Sink receives the confirmed claims. Required.
	Sink Sink
	// Wait bounds how long a claim the view does not confirm yet waits
	// before it is refused. Default DefaultWait.
	Wait time.Duration
	// AllowHostNetwork lets nodes claim their hostNetwork pods' IPs (their
	// own node IPs). Default false.
	AllowHostNetwork bool
	// Streaming, if set, tells whether a node's agent has an open stream
	// (stream.Server.StreamingSince): while it has none, the node's
	// forwarded claims follow the view's identity of their pods (see
	// Orphan) rather than being refused for lack of the agent's update.
	// nil: every node is taken as streaming until NodeGone.
	Streaming func(node string) bool
	// OnRefuse, if set, is called for every refusal (metrics).
	OnRefuse func(Refusal)
	// Logger, default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Gate is a Core behind a mutex, implementing stream.Sink, plus the loop
// that re-checks claims when the view changes and refuses them when their
// wait is over. Build it with New, then Run it.
type Gate struct {
	opts     Options
	synced   atomic.Bool
	syncedCh chan struct{} // closed when synced turns true

	mu     sync.Mutex
	core   *Core
	logged map[string]map[Reason]bool // node -> reasons already logged

	dirtyMu sync.Mutex
	dirty   map[netip.Addr]struct{}
	poke    chan struct{}
}

var _ stream.Sink = (*Gate)(nil)

// New validates opts; it starts nothing.
func New(opts Options) (*Gate, error) {
	if opts.View == nil || opts.Sink == nil {
		return nil, errors.New("verify: View and Sink are required")
	}
	if opts.Wait <= 0 {
		opts.Wait = DefaultWait
	}
	if opts.OnRefuse == nil {
		opts.OnRefuse = func(Refusal) {}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	g := &Gate{opts: opts, syncedCh: make(chan struct{}), logged: map[string]map[Reason]bool{}, dirty: map[netip.Addr]struct{}{}, poke: make(chan struct{}, 1)}
	g.core = NewCore(opts.View.Holders, opts.Sink, opts.Wait, opts.AllowHostNetwork)
	g.core.streaming = opts.Streaming
	return g, nil
}

// HasSynced reports whether the view has synced and every claim received
// so far has been checked against it.
func (g *Gate) HasSynced() bool { return g.synced.Load() }

// Synced is closed once HasSynced is true.
func (g *Gate) Synced() <-chan struct{} { return g.syncedCh }

// Changed marks ips for re-checking (the view's OnChange).
func (g *Gate) Changed(ips []netip.Addr) {
	g.dirtyMu.Lock()
	for _, ip := range ips {
		g.dirty[ip] = struct{}{}
	}
	g.dirtyMu.Unlock()
	g.kick()
}

func (g *Gate) kick() {
	select {
	case g.poke <- struct{}{}:
	default:
	}
}

// Run re-checks claims on view changes and refuses those whose wait is
// over, until ctx ends.
func (g *Gate) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-g.opts.View.Synced():
	}
	g.mu.Lock()
	g.core.Synced(g.opts.Now())
	g.finish()
	g.mu.Unlock()
	if !g.synced.Swap(true) {
		close(g.syncedCh)
	}

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		g.dirtyMu.Lock()
		dirty := make([]netip.Addr, 0, len(g.dirty))
		for ip := range g.dirty {
			dirty = append(dirty, ip)
		}
		clear(g.dirty)
		g.dirtyMu.Unlock()

		g.mu.Lock()
		now := g.opts.Now()
		g.core.Recheck(dirty, now)
		next := g.core.Expire(now)
		g.finish()
		g.mu.Unlock()

		timer.Stop()
		var wake <-chan time.Time
		if !next.IsZero() {
			timer.Reset(max(next.Sub(g.opts.Now()), time.Millisecond))
			wake = timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-g.poke:
		case <-wake:
		}
	}
}

// finish reports the Core's refusals: each counted, each node and reason
// logged once. Called with g.mu held.
func (g *Gate) finish() {
	for _, r := range g.core.TakeRefusals() {
		g.opts.OnRefuse(r)
		seen := g.logged[r.Node]
		if seen == nil {
			seen = map[Reason]bool{}
			g.logged[r.Node] = seen
		}
		if !seen[r.Reason] {
			seen[r.Reason] = true
			g.opts.Logger.Warn("agent claim refused: the API server does not confirm it (logged once per node and reason)",
				"node", r.Node, "ip", r.IP, "reason", string(r.Reason))
		}
	}
}

// ReplaceNode implements stream.Sink.
func (g *Gate) ReplaceNode(node string, claims []stream.Claim) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.core.ReplaceNode(node, claims, g.opts.Now())
	g.finish()
	g.kickIfPending()
}

// Upsert implements stream.Sink.
func (g *Gate) Upsert(node string, c stream.Claim) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.core.Upsert(node, c, g.opts.Now())
	g.finish()
	g.kickIfPending()
}

// kickIfPending wakes the loop to arm the timer for new deadlines; confirmed
// claims (the honest path) cost no wake-up.
func (g *Gate) kickIfPending() {
	if g.core.Pending() > 0 {
		g.kick()
	}
}

// Delete implements stream.Sink.
func (g *Gate) Delete(node string, ip netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.core.Delete(node, ip)
}

// NodeGone implements stream.Sink: the node's claims the view still
// confirms stay (Core.NodeGone).
func (g *Gate) NodeGone(node string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	kept, withdrawn := g.core.NodeGone(node)
	delete(g.logged, node)
	g.opts.Logger.Info("agent gone past its grace period: keeping only its claims the API server still confirms",
		"node", node, "kept", kept, "withdrawn", withdrawn)
}

// Pending returns the number of claims awaiting confirmation.
func (g *Gate) Pending() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.core.Pending()
}

// Orphans returns the number of claims kept from the pod view alone for
// nodes whose agent stream is gone past the node grace period. It walks
// every claim: for metrics scrapes, not hot paths.
func (g *Gate) Orphans() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.core.Orphans()
}
