package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/kubedag/kubedag/aggregator"
	"github.com/kubedag/kubedag/aggregator/push"
	"github.com/kubedag/kubedag/aggregator/stream"
	"github.com/kubedag/kubedag/aggregator/verify"
	"github.com/kubedag/kubedag/tags"
)

// Defaults of Config.
const (
	DefaultRate            = 2000
	DefaultDuration        = 10 * time.Second
	DefaultIPs             = 20000
	DefaultNodes           = 4
	DefaultPollInterval    = 10 * time.Second
	DefaultFirewallLatency = 5 * time.Millisecond
	DefaultThroughputIPs   = 100000
	DefaultRestartIPs      = 100000
	DefaultReuseEvery      = 10
)

// Phase names, for Config.Phases.
const (
	PhaseLatency    = "latency"
	PhaseThroughput = "throughput" // includes the memory measurement
	PhaseRestart    = "restart"
)

// Config configures Run. Zero values take the defaults.
type Config struct {
	// Rate of pod changes per second in the latency phase (default 2,000).
	Rate int
	// Duration of the change stream (default 10s).
	Duration time.Duration
	// IPs is the pod IP population of the latency phase (default 20,000);
	// changes go round-robin over it, so an IP changes again only after
	// IPs/Rate seconds.
	IPs int
	// Nodes is the number of agents (node streams) the IPs spread over
	// (default 4).
	Nodes int
	// PollInterval of the poll baseline (default 10s).
	PollInterval time.Duration
	// Drain is how long the latency phase waits after the change stream
	// for acknowledgements still due (default PollInterval + 3s); changes
	// unacknowledged by then are reported as censored.
	Drain time.Duration
	// FirewallLatency is added by every emulator to every API call
	// (default 5ms, like a real device's round trip; negative means none).
	FirewallLatency time.Duration
	// BatchInterval and MaxBatch of the kubedag pusher (defaults those of
	// package push).
	BatchInterval time.Duration
	MaxBatch      int
	// MaxCallsPerSecond is the kubedag pusher's per-target call limit
	// (default 0: none).
	MaxCallsPerSecond float64
	// ReuseEvery makes every ReuseEvery-th change of the latency phase an
	// IP reuse across nodes: the IP's new pod runs on another node, whose
	// agent claims it before the old node's agent withdraws the old pod
	// (default 10; negative: none).
	ReuseEvery int
	// ThroughputIPs is the IP count of the throughput and memory phases
	// (default 100,000).
	ThroughputIPs int
	// RestartIPs is the IP count of the restart phase (default 100,000).
	RestartIPs int
	// RestartNoFloor leaves the previous leader's TTL floor marker off the
	// restart phase's target: the new leader must re-register every tag
	// whose timeout the listing omits (the baseline).
	RestartNoFloor bool
	// Phases to run (PhaseLatency, PhaseThroughput, PhaseRestart); empty
	// means all.
	Phases []string
	// Logger receives progress lines and the components' logs (default:
	// discard).
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.Rate < 0 || c.Duration < 0 || c.IPs < 0 || c.Nodes < 0 || c.PollInterval < 0 || c.Drain < 0 ||
		c.MaxBatch < 0 || c.BatchInterval < 0 || c.MaxCallsPerSecond < 0 || c.ThroughputIPs < 0 || c.RestartIPs < 0 {
		return errors.New("bench: negative Config value")
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Rate, DefaultRate)
	def(&c.IPs, DefaultIPs)
	def(&c.Nodes, DefaultNodes)
	def(&c.MaxBatch, push.DefaultMaxBatch)
	def(&c.ReuseEvery, DefaultReuseEvery)
	def(&c.ThroughputIPs, DefaultThroughputIPs)
	def(&c.RestartIPs, DefaultRestartIPs)
	defD(&c.Duration, DefaultDuration)
	defD(&c.PollInterval, DefaultPollInterval)
	defD(&c.Drain, c.PollInterval+3*time.Second)
	defD(&c.BatchInterval, push.DefaultBatchInterval)
	switch {
	case c.FirewallLatency == 0:
		c.FirewallLatency = DefaultFirewallLatency
	case c.FirewallLatency < 0:
		c.FirewallLatency = 0
	}
	if c.Nodes > c.IPs {
		return fmt.Errorf("bench: Nodes %d exceeds IPs %d", c.Nodes, c.IPs)
	}
	if c.IPs > 1<<20 || c.ThroughputIPs > 1<<22 || c.RestartIPs > 1<<20 {
		return errors.New("bench: IP counts above 1Mi (latency, restart) or 4Mi (throughput) are not supported")
	}
	if len(c.Phases) == 0 {
		c.Phases = []string{PhaseLatency, PhaseThroughput, PhaseRestart}
	}
	for _, p := range c.Phases {
		switch p {
		case PhaseLatency, PhaseThroughput, PhaseRestart:
		default:
			return fmt.Errorf("bench: unknown phase %q (want %s, %s or %s)", p, PhaseLatency, PhaseThroughput, PhaseRestart)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

func (c *Config) has(phase string) bool {
	for _, p := range c.Phases {
		if p == phase {
			return true
		}
	}
	return false
}

// Run runs the configured phases one after the other and returns their
// report. It returns early with an error if ctx ends or a phase cannot run.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rep := &Report{Started: time.Now().UTC(), Machine: machine(), Config: reportConfig(cfg)}
	log := cfg.Logger
	deriver, err := newDeriver()
	if err != nil {
		return nil, err
	}
	if cfg.has(PhaseLatency) {
		log.Info("bench: tag latency phase", "rate", cfg.Rate, "duration", cfg.Duration, "ips", cfg.IPs)
		r, err := runLatency(ctx, cfg, deriver)
		if err != nil {
			return nil, fmt.Errorf("latency phase: %w", err)
		}
		rep.Latency = r
	}
	if cfg.has(PhaseThroughput) {
		log.Info("bench: throughput and memory phase", "ips", cfg.ThroughputIPs)
		t, m, err := runThroughput(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("throughput phase: %w", err)
		}
		rep.Throughput, rep.Memory = t, m
	}
	if cfg.has(PhaseRestart) {
		log.Info("bench: restart phase", "ips", cfg.RestartIPs)
		r, err := runRestart(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("restart phase: %w", err)
		}
		rep.Restart = r
	}
	rep.Elapsed = Duration(time.Since(rep.Started))
	return rep, nil
}

// cluster is the tag configuration of every phase.
const cluster = "bench"

func newDeriver() (*tags.Deriver, error) {
	d, err := tags.NewDeriver(tags.Config{Cluster: cluster})
	if err != nil {
		return nil, fmt.Errorf("bench: tags: %w", err)
	}
	return d, nil
}

// newCore is the aggregator's core as aggregator.New wires it, its claim
// gate (the production verify.Gate) checking claims against view. ttl and
// hooks are those of its pushers.
func newCore(cfg Config, d *tags.Deriver, view *podView, ttl time.Duration, hooks push.Hooks) (*aggregator.Core, *verify.Gate, error) {
	var gate *verify.Gate
	core, err := aggregator.NewCore(aggregator.CoreOptions{
		Deriver: d,
		NewValidator: func(sink stream.Sink) (aggregator.ClaimValidator, error) {
			var err error
			gate, err = verify.New(verify.Options{View: view, Sink: sink, Logger: cfg.Logger})
			return gate, err
		},
		BatchInterval:     cfg.BatchInterval,
		MaxBatch:          cfg.MaxBatch,
		MaxCallsPerSecond: map[string]float64{ModelKubedag: cfg.MaxCallsPerSecond},
		TagTTL:            ttl,
		CanaryIP:          aggregator.DefaultCanaryIP, // as in production
		Hooks:             hooks,
		Logger:            cfg.Logger,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("bench: core: %w", err)
	}
	return core, gate, nil
}

// machine describes where the bench ran.
func machine() Machine {
	m := Machine{
		GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version(),
		NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}

// waitFor polls cond every interval until it is true, ctx ends or timeout
// passes.
func waitFor(ctx context.Context, interval, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(interval)
	defer t.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}
