package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/kubedag/kubedag/agent/ipsource"
	"github.com/kubedag/kubedag/agent/nodestate"
	"github.com/kubedag/kubedag/agent/podwatch"
	"github.com/kubedag/kubedag/agent/routewatch"
	"github.com/kubedag/kubedag/agent/stream"
)

// Config configures an Agent.
type Config struct {
	// Source lists and watches the node's pods and the Namespaces
	// (agent/kubeapi in the agent binary). Required.
	Source podwatch.Source
	// NodeName is this node (downward API NODE_NAME). Required.
	NodeName string
	// IPSource is --ip-source; default ipsource.DefaultMode (both).
	IPSource ipsource.Mode
	// AllowHostNetwork lets hostNetwork pods claim the node's IPs.
	AllowHostNetwork bool
	// Multus claims pods' secondary-interface IPs (podwatch.Config.Multus).
	Multus bool
	// Routes configures the route watcher (its Sink is set by New); unused
	// with IPSource api.
	Routes routewatch.Config
	// Stream configures the aggregator stream (its State and Node are set by
	// New). A zero Addr disables the stream (tests, dry runs).
	Stream stream.Config
	// TracerProvider defaults to the global one.
	TracerProvider trace.TracerProvider
	// MeterProvider defaults to the global one.
	MeterProvider metric.MeterProvider
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Agent is one node's agent.
type Agent struct {
	// State is the node's desired state.
	State *nodestate.State
	// Combiner merges the sources into State.
	Combiner *ipsource.Combiner
	// Pods is the pod watcher.
	Pods *podwatch.Watcher
	// Routes is the route watcher; nil with IPSource api.
	Routes *routewatch.Watcher
	// Stream is the aggregator stream client; nil when disabled.
	Stream *stream.Client

	meterProvider metric.MeterProvider
}

// New builds an agent; it starts nothing and opens no socket.
func New(cfg Config) (*Agent, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.IPSource == "" {
		cfg.IPSource = ipsource.DefaultMode
	}
	if cfg.MeterProvider == nil {
		cfg.MeterProvider = otel.GetMeterProvider()
	}
	a := &Agent{State: nodestate.New(), meterProvider: cfg.MeterProvider}
	var err error
	a.Combiner, err = ipsource.New(ipsource.Config{
		Mode: cfg.IPSource, State: a.State, TracerProvider: cfg.TracerProvider, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	a.Pods, err = podwatch.New(podwatch.Config{
		Source: cfg.Source, NodeName: cfg.NodeName, Sink: a.Combiner,
		AllowHostNetwork: cfg.AllowHostNetwork, Multus: cfg.Multus, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	if cfg.IPSource.UsesNetlink() {
		rc := cfg.Routes
		rc.Sink = a.Combiner
		if rc.Logger == nil {
			rc.Logger = cfg.Logger
		}
		if a.Routes, err = routewatch.New(rc); err != nil {
			return nil, err
		}
	}
	if cfg.Stream.Addr != "" {
		sc := cfg.Stream
		sc.State, sc.Node = a.State, cfg.NodeName
		if sc.Logger == nil {
			sc.Logger = cfg.Logger
		}
		if a.Stream, err = stream.New(sc); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Run runs all components until ctx ends (nil) or one fails (its error);
// it returns after every component stopped.
func (a *Agent) Run(ctx context.Context) error {
	reg, err := a.registerMetrics(a.meterProvider.Meter("kubedag/agent"))
	if err != nil {
		return err
	}
	defer reg.Unregister()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return wrap("pod watcher", a.Pods.Run(ctx)) })
	if a.Routes != nil {
		g.Go(func() error { return wrap("route watcher", a.Routes.Run(ctx)) })
	}
	if a.Stream != nil {
		g.Go(func() error {
			// The first snapshot replaces the node's whole set on the
			// aggregator: sent before the watchers have synced, an empty
			// or partial snapshot would unregister live tags.
			if !a.waitSynced(ctx) {
				return nil
			}
			return wrap("aggregator stream", a.Stream.Run(ctx))
		})
	}
	return g.Wait()
}

// waitSynced waits until every IP source has synced (true) or ctx ends
// (false).
func (a *Agent) waitSynced(ctx context.Context) bool {
	synced := []<-chan struct{}{a.Pods.Synced()}
	if a.Routes != nil {
		synced = append(synced, a.Routes.Synced())
	}
	for _, c := range synced {
		select {
		case <-ctx.Done():
			return false
		case <-c:
		}
	}
	return true
}

func wrap(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Checks returns the readiness checks for /readyz: the agent's own health,
// informers synced and routes listed (unless api mode). The aggregator
// stream is left out on purpose: with it, a DaemonSet rollout would stall
// while the aggregator is down; its state is the
// kubedag_agent_stream_connected metric. Each check returns nil when
// ready; the type matches telemetry.Check.
func (a *Agent) Checks() map[string]func() error {
	m := map[string]func() error{
		"pods": func() error {
			if !a.Pods.HasSynced() {
				return errors.New("pod, EndpointSlice and namespace informers not synced")
			}
			return nil
		},
	}
	if a.Routes != nil {
		m["routes"] = func() error {
			if !a.Routes.HasSynced() {
				return errors.New("routes not listed yet")
			}
			return nil
		}
	}
	return m
}
