package aggregator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubedag/kubedag/aggregator/auth"
	"github.com/kubedag/kubedag/aggregator/config"
	"github.com/kubedag/kubedag/aggregator/explain"
	"github.com/kubedag/kubedag/aggregator/leader"
	"github.com/kubedag/kubedag/aggregator/nodewatch"
	"github.com/kubedag/kubedag/aggregator/podview"
	"github.com/kubedag/kubedag/aggregator/push"
	"github.com/kubedag/kubedag/aggregator/sandwich"
	"github.com/kubedag/kubedag/aggregator/servicewatch"
	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/aggregator/stream"
	"github.com/kubedag/kubedag/aggregator/verify"
	"github.com/kubedag/kubedag/tags"
	"github.com/kubedag/kubedag/telemetry"
	"github.com/kubedag/kubedag/userid"
)

// Defaults of Options.
const (
	DefaultSnapshotGrace = 30 * time.Second
	DefaultNodeGrace     = stream.DefaultGracePeriod
)

// DefaultCanaryIP is the IP of the reboot-detection canary: TEST-NET-1,
// which no pod or service can hold.
var DefaultCanaryIP = netip.MustParseAddr("192.0.2.254")

// Options configures Run.
type Options struct {
	// Config is the validated configuration file.
	Config *config.Config
	// Client talks to the API server.
	Client kubernetes.Interface
	// StreamListener is where agents connect (gRPC over TLS).
	StreamListener net.Listener
	// StreamTLS is the server TLS configuration of the agent stream.
	StreamTLS *tls.Config
	// HealthListener serves /healthz, /readyz and /metrics (optional).
	HealthListener net.Listener
	// ExplainListener serves `kubedag explain` over TLS with StreamTLS's
	// certificate (optional; see aggregator/explain).
	ExplainListener net.Listener
	// Telemetry provides /metrics (optional).
	Telemetry *telemetry.Telemetry

	// LeaderElection, when set, runs the pushers only while this replica
	// holds the Lease; nil means this replica always leads (single
	// replica, tests, demo).
	LeaderElection *leader.Options
	// SnapshotGrace bounds how long a new leader waits for every node's
	// agent snapshot before it may unregister tags of unclaimed IPs.
	// Default DefaultSnapshotGrace.
	SnapshotGrace time.Duration
	// AgentSelector, if set, is the label selector of the agent pods (in
	// AgentNamespace): the snapshot gate waits only for nodes that run a
	// (Running) agent pod. Empty: it waits for every Node, so nodes
	// without an agent (Fargate, virtual nodes) hold it for SnapshotGrace.
	AgentSelector  string
	AgentNamespace string
	// NodeGrace is how long a disconnected agent's claims are kept.
	// Default DefaultNodeGrace.
	NodeGrace time.Duration
	// AllowNodeIP lets agents claim their node's own IP (hostNetwork pods).
	AllowNodeIP bool
	// Multus accepts agents' claims on pods' secondary-interface IPs (the
	// agents' --multus), checked against the pods' network-status
	// annotations (podview.Options.Multus).
	Multus bool
	// ClaimWait bounds how long an agent claim the aggregator's own pod
	// view does not confirm yet waits for it before it is refused.
	// Default verify.DefaultWait.
	ClaimWait time.Duration
	// AgentUsers, if set, are the only ServiceAccount users allowed to
	// stream (e.g. system:serviceaccount:kubedag:kubedag-agent).
	AgentUsers []string

	// CanaryIP is the reboot-detection canary; the zero value means
	// DefaultCanaryIP. Set NoCanary to disable.
	CanaryIP netip.Addr
	NoCanary bool
	// CanaryInterval is how often each target's canary is checked (the
	// reboot-detection delay); default push.DefaultCanaryInterval.
	CanaryInterval time.Duration

	// NewFirewall builds a target's client; default userid.New with the
	// target's configuration (tests override it to add a CA pool).
	NewFirewall func(t config.Target, cfg userid.Config) (push.Firewall, error)

	// SandwichSource is the sandwich's inventory; default the static
	// inventory of the config's sandwich section.
	SandwichSource sandwich.Source
	// SandwichAWSCredentials replaces the AWS SDK's default credential
	// chain for sandwich.aws discovery (tests, the demo's simulated AWS).
	SandwichAWSCredentials awssdk.CredentialsProvider

	Logger *slog.Logger
}

func (o *Options) validate() error {
	switch {
	case o.Config == nil:
		return errors.New("aggregator: Config is required")
	case o.Client == nil:
		return errors.New("aggregator: Client is required")
	case o.StreamListener == nil || o.StreamTLS == nil:
		return errors.New("aggregator: StreamListener and StreamTLS are required")
	}
	if o.SnapshotGrace <= 0 {
		o.SnapshotGrace = DefaultSnapshotGrace
	}
	if o.NodeGrace <= 0 {
		o.NodeGrace = DefaultNodeGrace
	}
	if !o.CanaryIP.IsValid() {
		o.CanaryIP = DefaultCanaryIP
	}
	if o.NewFirewall == nil {
		o.NewFirewall = func(_ config.Target, cfg userid.Config) (push.Firewall, error) { return userid.New(cfg) }
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Aggregator is a wired aggregator; Run runs it.
type Aggregator struct {
	opts     Options
	ins      *instruments
	deriver  *tags.Deriver
	core     *Core
	store    *store.Store
	pods     *podview.View
	gate     *verify.Gate
	services *servicewatch.Watcher
	nodes    *nodewatch.Watcher // nil unless node tags are on
	server   *stream.Server
	elector  *leader.Elector
	targets  []target
	dags     map[string]*targetDAGs // targets whose DAGs are read (dags.go)
	sandwich *sandwichPart          // nil unless enabled
	explain  *explainPart           // nil unless ExplainListener (explain.go)
	recorder *explain.Recorder

	mu      sync.Mutex
	pushers []*push.Pusher // of the current leadership term
}

// target is one configured PAN-OS target and its client. Pushers are made
// anew each leadership term, so each term starts from a reconcile and has
// its own snapshot gate.
type target struct {
	name string
	fw   push.Firewall
}

// New builds every part; it starts nothing and performs no I/O beyond
// reading target credentials.
func New(opts Options) (*Aggregator, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	a := &Aggregator{opts: opts, dags: map[string]*targetDAGs{}}
	var err error
	if a.ins, err = newInstruments(); err != nil {
		return nil, err
	}
	if a.deriver, err = tags.NewDeriver(opts.Config.TagsConfig()); err != nil {
		return nil, fmt.Errorf("aggregator: %w", err)
	}
	ctx := context.Background()
	cfg := opts.Config
	copts := CoreOptions{
		Deriver: a.deriver,
		// Agent claims reach the store only as far as the aggregator's
		// own view of the API confirms them.
		NewValidator: func(sink stream.Sink) (ClaimValidator, error) {
			var err error
			if a.pods, err = podview.New(podview.Options{Client: opts.Client, Logger: opts.Logger, Multus: opts.Multus,
				OnChange: func(ips []netip.Addr) { a.gate.Changed(ips) }}); err != nil {
				return nil, err
			}
			a.gate, err = verify.New(verify.Options{View: a.pods, Sink: sink, Wait: opts.ClaimWait,
				AllowHostNetwork: opts.AllowNodeIP, Logger: opts.Logger,
				Streaming: func(node string) bool { _, ok := a.server.StreamingSince(node); return ok },
				OnRefuse:  func(r verify.Refusal) { a.ins.rejections.Add(ctx, 1, metricReason(string(r.Reason))) }})
			return a.gate, err
		},
		OnConflict: func(ip netip.Addr, started bool) {
			if started {
				a.ins.conflicts.Add(ctx, 1)
			}
			// A span event per conflict start and end, so a trace shows
			// when a reused IP carried only the intersection of two
			// owners' tags.
			_, span := a.ins.tracer.Start(ctx, "kubedag.ip.conflict", trace.WithAttributes(
				attribute.String("kubedag.ip", ip.String()), attribute.Bool("kubedag.conflict.started", started)))
			span.End()
		},
		OnProblem:         func(reason string) { a.ins.problems.Add(ctx, 1, metricProblem("Pod", reason)) },
		BatchInterval:     cfg.BatchInterval.Duration,
		MaxBatch:          cfg.MaxBatch,
		MaxCallsPerSecond: callLimits(cfg.Targets),
		TagTTL:            cfg.TagTTL.Duration,
		ResyncInterval:    cfg.ResyncInterval.Duration,
		SnapshotGrace:     opts.SnapshotGrace,
		// Every replica takes every agent's stream, so a replica taking
		// the Lease already holds the claims of the nodes streaming to it.
		StreamingSince: func(node string) (time.Time, bool) { return a.server.StreamingSince(node) },
		CanaryInterval: opts.CanaryInterval,
		Hooks:          a.explainHooks(a.ins.hooks()),
		Filter:         a.filterOf,
		Logger:         opts.Logger,
	}
	if !opts.NoCanary {
		copts.CanaryIP = opts.CanaryIP
	}
	if a.core, err = NewCore(copts); err != nil {
		return nil, err
	}
	a.store = a.core.Store()
	if a.services, err = servicewatch.New(servicewatch.Options{Client: opts.Client, Deriver: a.deriver, Sink: a.store, Logger: opts.Logger,
		OnProblem: func(reason string) { a.ins.problems.Add(ctx, 1, metricProblem("Service", reason)) }}); err != nil {
		return nil, err
	}
	if a.deriver.Config().Nodes {
		if opts.AllowNodeIP {
			// Both would claim a node IP under different owners, which the
			// store resolves to the intersection of their tags: none.
			return nil, errors.New("aggregator: node tags (tags.nodes) and --allow-node-ip exclude each other: a node IP would carry neither the node's nor its hostNetwork pods' tags")
		}
		if a.nodes, err = nodewatch.New(nodewatch.Options{Client: opts.Client, Deriver: a.deriver, Sink: a.store, Logger: opts.Logger,
			OnProblem: func(reason string) { a.ins.problems.Add(ctx, 1, metricProblem("Node", reason)) }}); err != nil {
			return nil, err
		}
	}
	tokens, err := auth.NewTokenAuthenticator(auth.TokenConfig{Client: opts.Client, Users: opts.AgentUsers})
	if err != nil {
		return nil, err
	}
	if opts.LeaderElection != nil {
		le := *opts.LeaderElection
		if le.Client == nil {
			le.Client = opts.Client
		}
		le.Logger = opts.Logger
		if a.elector, err = leader.New(le); err != nil {
			return nil, err
		}
	}
	// Every replica, leading or not, takes agent streams (hot standby).
	if a.server, err = stream.NewServer(stream.Config{
		Sink:          a.core.Sink(),
		Authenticator: tokens,
		GracePeriod:   opts.NodeGrace,
		// The stream itself refuses only malformed claims and other kinds
		// than Pod; the gate checks the rest against the API.
		OnReject: func(node string, _ netip.Addr, _ string) {
			a.ins.rejections.Add(ctx, 1, metricReason(reasonMalformed))
		},
		Logger: opts.Logger,
	}); err != nil {
		return nil, err
	}

	var sandwichTargets []sandwichTarget
	for _, t := range cfg.Targets {
		ccfg, err := t.ClientConfig(nil)
		if err != nil {
			return nil, fmt.Errorf("aggregator: %w", err)
		}
		ccfg.MaxEntries = cfg.MaxBatch
		ccfg.Logger = opts.Logger.With("target", t.Name)
		fw, err := opts.NewFirewall(t, ccfg)
		if err != nil {
			return nil, fmt.Errorf("aggregator: target %s: %w", t.Name, err)
		}
		if t.DAGs.Enabled() {
			if a.dags[t.Name], err = newTargetDAGs(t, fw, opts.Logger); err != nil {
				return nil, fmt.Errorf("aggregator: target %s: %w", t.Name, err)
			}
		}
		// Build one now, so a bad configuration fails at start.
		if _, err := a.core.Pusher(t.Name, fw, nil); err != nil {
			return nil, fmt.Errorf("aggregator: target %s: %w", t.Name, err)
		}
		a.targets = append(a.targets, target{name: t.Name, fw: fw})
		if slices.Contains(cfg.Sandwich.Targets, t.Name) {
			sandwichTargets = append(sandwichTargets, sandwichTarget{cfg: t, client: fw, admin: ccfg.Username})
		}
	}
	if cfg.Sandwich.Enabled {
		// The sandwich's config changes and commits are fenced like the
		// pushers' calls.
		var deadline func() time.Time
		if a.elector != nil {
			deadline = a.elector.LeaseDeadline
		}
		if a.sandwich, err = newSandwich(opts, sandwichTargets, deadline); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(cfg.Targets))
	for _, t := range cfg.Targets {
		names = append(names, t.Name)
	}
	a.ins.zero(names)
	if err := a.newExplain(); err != nil {
		return nil, err
	}
	return a, nil
}

// leading reports whether this replica pushes.
func (a *Aggregator) leading() bool {
	return a.elector == nil || a.elector.IsLeader()
}

// Leading reports whether this replica holds the Lease (always true
// without leader election).
func (a *Aggregator) Leading() bool { return a.leading() }

// StreamingSince reports whether node's agent streams to this replica and
// since when its current stream has.
func (a *Aggregator) StreamingSince(node string) (time.Time, bool) {
	return a.server.StreamingSince(node)
}

// Store exposes the desired state (tests, demo).
func (a *Aggregator) Store() *store.Store { return a.store }

// Statuses returns every target's pusher status.
func (a *Aggregator) Statuses() []push.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]push.Status, 0, len(a.pushers))
	for _, p := range a.pushers {
		out = append(out, p.Status())
	}
	return out
}

// Ready is the /readyz check: every replica whose sources have synced is
// ready, leader or standby: each takes agent streams and holds the whole
// desired state, so agents (through the headless Service) stream to all.
func (a *Aggregator) Ready() error {
	if !a.services.HasSynced() {
		return errors.New("services not synced")
	}
	if !a.gate.HasSynced() {
		return errors.New("pods not synced")
	}
	if a.nodes != nil && !a.nodes.HasSynced() {
		return errors.New("nodes not synced")
	}
	return nil
}

// Run runs until ctx ends or a part fails.
func (a *Aggregator) Run(ctx context.Context) error {
	// The gauges are observed only while Run runs: a stopped aggregator
	// must not keep reporting (nor stay reachable from the global meter).
	claims, _ := a.core.Validator().(claimCounts)
	reg, err := a.ins.observe(a.Statuses, a.server.ActiveNodes, a.leading, claims)
	if err != nil {
		return fmt.Errorf("aggregator metrics: %w", err)
	}
	defer reg.Unregister()
	dreg, err := a.observeDAGs()
	if err != nil {
		return fmt.Errorf("aggregator metrics: %w", err)
	}
	defer dreg.Unregister()
	g, ctx := errgroup.WithContext(ctx)
	// DAGs are read on every replica (explain), not only the leader's.
	for _, td := range a.dags {
		g.Go(func() error { return td.watcher.Run(ctx) })
	}
	g.Go(func() error { return a.services.Run(ctx) })
	if a.nodes != nil {
		g.Go(func() error { return a.nodes.Run(ctx) })
	}
	g.Go(func() error { return a.pods.Run(ctx) })
	g.Go(func() error { return a.gate.Run(ctx) })
	g.Go(func() error { return a.server.Serve(ctx, a.opts.StreamListener, a.opts.StreamTLS) })
	if a.explain != nil {
		g.Go(func() error { return a.explain.serve(ctx) })
	}
	if a.opts.HealthListener != nil {
		hs := telemetry.NewHealthServer("", a.opts.Telemetry, map[string]telemetry.Check{"aggregator": a.Ready})
		hs.Handle(SandwichStatusPath, a.sandwichHandler())
		g.Go(func() error { return hs.Serve(ctx, a.opts.HealthListener) })
	}
	if a.elector == nil {
		g.Go(func() error { a.lead(ctx); return nil })
	} else {
		g.Go(func() error { return a.elector.Run(ctx, a.lead) })
	}
	return g.Wait()
}

// lead runs the pushers while this replica leads. Unregistering tags of
// IPs nobody claims waits until every node's agent has sent a snapshot to
// this leader (or SnapshotGrace passes), so a failover never flaps live
// tags.
func (a *Aggregator) lead(ctx context.Context) {
	start := time.Now()
	ready := make(chan struct{})
	pushers := make([]*push.Pusher, 0, len(a.targets))
	for _, t := range a.targets {
		fw := t.fw
		if a.elector != nil {
			// Fencing: no call once the Lease may have passed to another
			// replica, even if this one has not noticed yet.
			fw = fencedFirewall{Firewall: fw, leaseFence: leaseFence{deadline: a.elector.LeaseDeadline, now: time.Now}}
		}
		p, err := a.core.Pusher(t.name, fw, ready)
		if err != nil { // validated in New: cannot happen
			a.opts.Logger.Error("pusher", "target", t.name, "err", err)
			return
		}
		pushers = append(pushers, p)
	}
	a.mu.Lock()
	a.pushers = pushers
	a.mu.Unlock()

	var g errgroup.Group
	g.Go(func() error {
		// Node tags are the aggregator's own source: read before anything
		// is unregistered, like Services.
		synced := []<-chan struct{}{a.services.Synced()}
		if a.nodes != nil {
			synced = append(synced, a.nodes.Synced())
		}
		a.core.WaitSnapshots(ctx, start, 5*time.Second, a.nodeNames, synced, ready)
		return nil
	})
	if a.sandwich != nil {
		g.Go(func() error { a.sandwich.run(ctx); return nil })
	}
	for _, p := range pushers {
		g.Go(func() error {
			a.dags[p.Status().Target].waitFirstRead(ctx)
			if err := p.Run(ctx); err != nil {
				a.opts.Logger.Error("pusher stopped", "target", p.Status().Target, "err", err)
			}
			return nil
		})
	}
	_ = g.Wait()
	// A replica that no longer leads reports no target status (and no
	// per-target gauges) rather than its last term's.
	a.mu.Lock()
	a.pushers = nil
	a.mu.Unlock()
}

// nodeNames lists the nodes the snapshot gate waits for: those running an
// agent pod when AgentSelector is set, else every Node.
func (a *Aggregator) nodeNames(ctx context.Context) ([]string, error) {
	if a.opts.AgentSelector != "" {
		pods, err := a.opts.Client.CoreV1().Pods(a.opts.AgentNamespace).List(ctx, metav1.ListOptions{LabelSelector: a.opts.AgentSelector, ResourceVersion: "0"})
		if err != nil {
			return nil, fmt.Errorf("list agent pods: %w", err)
		}
		var names []string
		for _, p := range pods.Items {
			// A Pending agent cannot stream yet; one that ended never will.
			if p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				names = append(names, p.Spec.NodeName)
			}
		}
		slices.Sort(names)
		return slices.Compact(names), nil
	}
	list, err := a.opts.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(list.Items))
	for _, n := range list.Items {
		names = append(names, n.Name)
	}
	return names, nil
}

// callLimits are the targets' maxCallsPerSecond by name.
func callLimits(ts []config.Target) map[string]float64 {
	m := make(map[string]float64, len(ts))
	for _, t := range ts {
		if t.MaxCallsPerSecond > 0 {
			m[t.Name] = t.MaxCallsPerSecond
		}
	}
	return m
}
