package aggregator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kubedag/kubedag/aggregator/config"
	"github.com/kubedag/kubedag/aggregator/sandwich"
	sandwichaws "github.com/kubedag/kubedag/aggregator/sandwich/aws"
	"github.com/kubedag/kubedag/aggregator/sandwich/kube"
)

// SandwichStatusPath is where the health port serves the sandwich status
// (kubedag sandwich status reads it).
const SandwichStatusPath = "/sandwich/status"

// sandwichPart is the aggregator's EKS load-balancer sandwich: the engine,
// the labelled-Service watcher feeding it, and their metrics. It runs only
// while this replica leads.
type sandwichPart struct {
	cluster string
	engine  *sandwich.Engine
	watcher *kube.Watcher
	// discovery is the AWS inventory source when sandwich.aws is set.
	discovery *sandwichaws.Discovery
	source    sandwich.Source

	commits   metric.Int64Counter
	failures  metric.Int64Counter
	latency   metric.Float64Histogram
	problems  metric.Int64Counter
	entries   metric.Int64ObservableGauge
	labelled  metric.Int64ObservableGauge
	meterName string
}

// sandwichTarget is a configured target the sandwich programs, with the
// client the aggregator built for it (which must also be a
// sandwich.Client, as *userid.Client is) and the administrator its
// credentials belong to.
type sandwichTarget struct {
	cfg    config.Target
	client any // push.Firewall; must also be a sandwich.Client
	admin  string
}

// newSandwich builds the sandwich over targets; with deadline set (the
// Lease's, leader.Elector.LeaseDeadline) every config change and commit is
// fenced on it.
func newSandwich(opts Options, targets []sandwichTarget, deadline func() time.Time) (*sandwichPart, error) {
	cfg := opts.Config
	sc := cfg.Sandwich
	p := &sandwichPart{cluster: cfg.Cluster, meterName: "kubedag/aggregator/sandwich"}
	if err := p.instruments(); err != nil {
		return nil, err
	}
	var tcs []sandwich.TargetClient
	for _, t := range targets {
		c, ok := t.client.(sandwich.Client)
		if !ok {
			return nil, fmt.Errorf("aggregator: sandwich target %s: its client cannot change config (%T)", t.cfg.Name, t.client)
		}
		if deadline != nil {
			c = fencedSandwichClient{Client: c, leaseFence: leaseFence{deadline: deadline, now: time.Now}}
		}
		tcs = append(tcs, sandwich.TargetClient{Target: sc.Target(t.cfg, t.admin), Client: c})
	}
	ctx := context.Background()
	src := opts.SandwichSource
	var eng *sandwich.Engine
	var err error
	switch {
	case src != nil:
	case sc.AWS != nil:
		d, err := sandwichaws.New(ctx, sc.AWS.Discovery(), sandwichaws.Options{
			Logger:      opts.Logger.With("part", "sandwich"),
			Credentials: opts.SandwichAWSCredentials,
			// A new inventory (a subnet added, a firewall replaced) is
			// applied at once, not at the next resync.
			OnChange: func() { eng.Kick() },
		})
		if err != nil {
			return nil, fmt.Errorf("aggregator: %w", err)
		}
		p.discovery, src = d, d
	default:
		src = sandwich.NewStatic(sc.StaticInventory())
	}
	var w *kube.Watcher
	eng, err = sandwich.New(sandwich.Options{
		Cluster:        cfg.Cluster,
		Targets:        tcs,
		Source:         src,
		Quiet:          sc.Quiet.Duration,
		ResyncInterval: sc.ResyncInterval.Duration,
		OnProblem:      func(pr sandwich.Problem) { w.Report(pr) },
		OnCommit: func(target, kind string, err error) {
			attrs := metric.WithAttributes(attribute.String("target", target), attribute.String("kind", kind), attribute.String("result", result(err)))
			p.commits.Add(ctx, 1, attrs)
			if err != nil {
				p.failures.Add(ctx, 1, metric.WithAttributes(attribute.String("target", target), attribute.String("kind", kind)))
			}
		},
		OnCommitted: func(target, service string, latency time.Duration) {
			p.latency.Record(ctx, latency.Seconds(), metric.WithAttributes(attribute.String("target", target)))
			w.Programmed(target, service, latency)
		},
		Logger: opts.Logger.With("part", "sandwich"),
	})
	if err != nil {
		return nil, fmt.Errorf("aggregator: %w", err)
	}
	w, err = kube.New(kube.Options{
		Client:    opts.Client,
		LabelKey:  sc.LabelKey,
		Engine:    eng,
		Source:    src,
		OnProblem: func(reason string) { p.problems.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason))) },
		Logger:    opts.Logger.With("part", "sandwich"),
	})
	if err != nil {
		return nil, fmt.Errorf("aggregator: %w", err)
	}
	p.engine, p.watcher, p.source = eng, w, src
	return p, nil
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

func (p *sandwichPart) instruments() error {
	m := otel.Meter(p.meterName)
	var errs []error
	var err error
	p.commits, err = m.Int64Counter("kubedag_sandwich_commits", metric.WithDescription("Sandwich commits (kind commit) and Panorama pushes (kind push) per target and result."))
	errs = append(errs, err)
	p.failures, err = m.Int64Counter("kubedag_sandwich_commit_failures", metric.WithDescription("Sandwich commits and pushes that failed, per target and kind."))
	errs = append(errs, err)
	p.latency, err = m.Float64Histogram("kubedag_sandwich_commit_latency_seconds",
		metric.WithDescription("Time from a labelled Service's change to its firewall config committed (and pushed)."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.5, 1, 2, 5, 10, 30, 60, 120, 300))
	errs = append(errs, err)
	p.problems, err = m.Int64Counter("kubedag_sandwich_problems", metric.WithDescription("Sandwich problems reported (each also an Event on the Service when it is one Service's), by reason."))
	errs = append(errs, err)
	p.entries, err = m.Int64ObservableGauge("kubedag_sandwich_entries", metric.WithDescription("Objects, rules and routes kubedag keeps on each sandwich target."))
	errs = append(errs, err)
	p.labelled, err = m.Int64ObservableGauge("kubedag_sandwich_services", metric.WithDescription("Services labelled for the sandwich, by state (programmable or with a problem)."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("aggregator sandwich metrics: %w", err)
	}
	return nil
}

// run runs the watcher and the engine until ctx ends (the leadership term).
func (p *sandwichPart) run(ctx context.Context) {
	reg, err := otel.Meter(p.meterName).RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for target, n := range p.engine.Managed() {
			o.ObserveInt64(p.entries, int64(n), metric.WithAttributes(attribute.String("target", target)))
		}
		ok, bad := 0, 0
		for _, s := range p.watcher.Services() {
			if len(s.Problems) == 0 {
				ok++
			} else {
				bad++
			}
		}
		o.ObserveInt64(p.labelled, int64(ok), metric.WithAttributes(attribute.String("state", "ok")))
		o.ObserveInt64(p.labelled, int64(bad), metric.WithAttributes(attribute.String("state", "problem")))
		return nil
	}, p.entries, p.labelled)
	if err == nil {
		defer func() { _ = reg.Unregister() }()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.engine.Run(ctx)
	}()
	if p.discovery != nil {
		// AWS is read only while leading, like the targets are written.
		discovered := make(chan struct{})
		go func() {
			defer close(discovered)
			_ = p.discovery.Run(ctx)
		}()
		defer func() { <-discovered }()
	}
	if err := p.watcher.Run(ctx); err != nil {
		// The engine keeps the targets as they are; the next term retries.
		otel.Handle(fmt.Errorf("sandwich service watcher: %w", err))
	}
	<-done
}

// Status is the sandwich status page's content.
func (p *sandwichPart) Status() sandwich.Status {
	st := sandwich.Status{Cluster: p.cluster, Services: p.watcher.Services(), Targets: p.engine.Targets()}
	inv, err := p.source.Inventory(context.Background())
	if p.discovery == nil {
		st.Inventory = sandwich.NewInventoryStatus("static", inv, err)
		return st
	}
	st.Inventory = sandwich.NewInventoryStatus("aws", inv, err)
	st.Inventory.ReadAt = p.discovery.LastGood()
	for _, pr := range p.discovery.Problems() {
		st.Inventory.Problems = append(st.Inventory.Problems, pr.Kind+": "+pr.Message)
	}
	return st
}

// SandwichStatus returns the sandwich status; ok is false when the
// sandwich is not enabled.
func (a *Aggregator) SandwichStatus() (sandwich.Status, bool) {
	if a.sandwich == nil {
		return sandwich.Status{}, false
	}
	return a.sandwich.Status(), true
}

func (a *Aggregator) sandwichHandler() http.Handler {
	status := sandwich.StatusHandler(func() sandwich.Status { s, _ := a.SandwichStatus(); return s })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case a.sandwich == nil:
			http.Error(w, "the sandwich is not enabled (config sandwich.enabled)", http.StatusNotFound)
		case !a.leading():
			http.Error(w, "not the leader: only the leading replica programs the sandwich", http.StatusServiceUnavailable)
		default:
			status.ServeHTTP(w, r)
		}
	})
}
