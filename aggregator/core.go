package aggregator

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/kubedag/kubedag/aggregator/push"
	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/aggregator/stream"
	"github.com/kubedag/kubedag/tags"
)

// ClaimValidator sits between the agent streams and the node sink: it
// forwards only the claims it confirms. In production it is a
// *verify.Gate fed by the aggregator's pod view; `kubedag bench` uses the
// same Gate over a view it fills itself.
type ClaimValidator interface {
	stream.Sink
	// Synced is closed once the validator's view is complete, so the
	// failover snapshot gate does not open on a partial view.
	Synced() <-chan struct{}
}

// CoreOptions configures NewCore.
type CoreOptions struct {
	// Deriver derives tags from identities. Required.
	Deriver *tags.Deriver
	// NewValidator builds the claim validator in front of the node sink
	// (sink). Required.
	NewValidator func(sink stream.Sink) (ClaimValidator, error)
	// OnConflict and OnProblem are the store's conflict and the sink's
	// untaggable-identity callbacks (metrics); optional.
	OnConflict func(ip netip.Addr, started bool)
	OnProblem  func(reason string)

	// Pusher settings shared by every target (zero values: package push
	// defaults; TagTTL zero means no PAN-OS timeout).
	BatchInterval  time.Duration
	MaxBatch       int
	TagTTL         time.Duration
	ResyncInterval time.Duration
	// MaxCallsPerSecond is the per-target call limit by target name
	// (absent: no limit).
	MaxCallsPerSecond map[string]float64
	// SnapshotGrace is each pusher's ReadyTimeout.
	SnapshotGrace time.Duration
	// StreamingSince, if set, tells whether a node has an open agent
	// stream and since when (stream.Server.StreamingSince): the snapshot
	// gate does not wait for a node whose open stream's snapshot is
	// applied already.
	StreamingSince func(node string) (time.Time, bool)
	// CanaryIP, if valid, is the reboot-detection canary of every target.
	CanaryIP       netip.Addr
	CanaryInterval time.Duration
	Hooks          push.Hooks
	// Filter, if set, returns a target's tag pruning filter (nil: none).
	Filter func(target string) *push.FilterVar

	Logger *slog.Logger
}

// DefaultFloorIP carries every cluster's TTL floor marker (push
// Canary.FloorIP), next to the canary: TEST-NET-3, which no pod or
// service has.
var DefaultFloorIP = netip.MustParseAddr("203.0.113.254")

// Core is the aggregator logic that needs no Kubernetes client: the
// desired-state store, the node sink, the claim validator in front of it,
// the failover snapshot gate and the pusher factory. aggregator.New and
// `kubedag bench` both build it with NewCore, so the benchmark measures
// the production wiring.
type Core struct {
	opts      CoreOptions
	store     *store.Store
	sink      *NodeSink
	validator ClaimValidator
}

// NewCore wires the core; it starts nothing.
func NewCore(opts CoreOptions) (*Core, error) {
	if opts.Deriver == nil || opts.NewValidator == nil {
		return nil, errors.New("aggregator: core: Deriver and NewValidator are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.OnProblem == nil {
		opts.OnProblem = func(string) {}
	}
	c := &Core{opts: opts}
	c.store = store.New(store.Options{OnConflict: opts.OnConflict})
	c.sink = NewNodeSink(c.store, opts.Deriver, opts.Logger, opts.OnProblem)
	var err error
	if c.validator, err = opts.NewValidator(c.sink); err != nil {
		return nil, err
	}
	return c, nil
}

// Store is the desired state.
func (c *Core) Store() *store.Store { return c.store }

// Sink is what the agent stream server delivers claims to: the validator,
// which forwards confirmed claims to the node sink.
func (c *Core) Sink() stream.Sink { return c.validator }

// Validator is the claim validator.
func (c *Core) Validator() ClaimValidator { return c.validator }

// PushOptions are the pusher options of target name.
func (c *Core) PushOptions(name string) push.Options {
	o := push.Options{
		Name:              name,
		Owns:              c.opts.Deriver.Owns,
		BatchInterval:     c.opts.BatchInterval,
		MaxBatch:          c.opts.MaxBatch,
		MaxCallsPerSecond: c.opts.MaxCallsPerSecond[name],
		TagTTL:            c.opts.TagTTL,
		ResyncInterval:    c.opts.ResyncInterval,
		ReadyTimeout:      c.opts.SnapshotGrace,
		Logger:            c.opts.Logger, // the pusher adds "target" itself
		Hooks:             c.opts.Hooks,
	}
	if c.opts.Filter != nil {
		o.Filter = c.opts.Filter(name)
	}
	if c.opts.CanaryIP.IsValid() {
		o.Canary = push.Canary{IP: c.opts.CanaryIP, Tag: c.opts.Deriver.Prefix() + ".kubedag-canary", Interval: c.opts.CanaryInterval,
			FloorIP: DefaultFloorIP}
	}
	return o
}

// Pusher builds target name's pusher of fw over the store; ready is its
// snapshot gate (nil: open).
func (c *Core) Pusher(name string, fw push.Firewall, ready <-chan struct{}) (*push.Pusher, error) {
	o := c.PushOptions(name)
	o.Ready = ready
	return push.New(fw, c.store, o)
}

// WaitSnapshots is the failover snapshot gate: it closes ready once the
// validator and synced are all synced and every node listed by nodes has
// current claims (a snapshot since start, or an open stream whose snapshot
// is applied), re-listing every recheck.
func (c *Core) WaitSnapshots(ctx context.Context, start time.Time, recheck time.Duration, nodes func(context.Context) ([]string, error), synced []<-chan struct{}, ready chan<- struct{}) {
	c.sink.waitSnapshots(ctx, start, recheck, nodes, c.opts.StreamingSince, append([]<-chan struct{}{c.validator.Synced()}, synced...), ready)
}
