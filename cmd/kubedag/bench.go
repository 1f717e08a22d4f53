package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubedag/kubedag/e2e/bench"
)

// benchOptions are the flags of kubedag bench: the harness's Config (flags
// bound to its fields) plus how to print.
type benchOptions struct {
	bench.Config
	JSON    bool
	Verbose bool
}

func newBenchCmd() *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure kubedag against its performance goals, with baselines",
		Long: `bench runs kubedag's performance benchmarks in one process against the PAN-OS
emulator over loopback HTTPS and prints the goals of DESIGN.md next to what it
measured:

  latency     pod changes at --rate for --duration are made in the agents' node
              state and flow through the agent stream (TLS), the aggregator's
              core as in production (claim gate, store, pusher) and the
              User-ID client to an emulator; the time
              from first seen to the firewall's ack is reported with two
              baselines fed the same changes: naive (one API call per change)
              and poll (every --poll-interval push the difference, like the
              Panorama plugins); every --reuse-every-th change gives its IP
              to a new pod on another node: the IP-reuse exposure is the
              time until the old pod's tags are off the IP
  throughput  mapping changes/s through store + pusher on one core
              (GOMAXPROCS 1) against a no-op firewall, mappings per API call,
              and aggregator heap bytes per registered IP
  restart     --restart-ips IPs registered on an emulator with the previous
              leader's TTL floor marker (--restart-no-floor: without); a fresh
              pusher re-verifies them: time to converge, re-registers,
              unregisters of live tags

The default run takes about a minute and uses every core it can get: run it
alone.

Examples:
  kubedag bench
  kubedag bench --rate 5000 --duration 20s --fw-latency 20ms
  kubedag bench --phases throughput --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Rate, "rate", bench.DefaultRate, "pod changes per second in the latency phase")
	f.DurationVar(&o.Duration, "duration", bench.DefaultDuration, "length of the change stream")
	f.IntVar(&o.IPs, "ips", bench.DefaultIPs, "pod IPs of the latency phase (changes go round-robin over them)")
	f.IntVar(&o.Nodes, "nodes", bench.DefaultNodes, "agents (node streams) the IPs spread over")
	f.DurationVar(&o.PollInterval, "poll-interval", bench.DefaultPollInterval, "interval of the poll baseline")
	f.DurationVar(&o.Drain, "drain", 0, "wait after the change stream for outstanding acks (default poll interval + 3s)")
	f.DurationVar(&o.FirewallLatency, "fw-latency", bench.DefaultFirewallLatency, "latency the emulators add to every API call (0 for none)")
	f.DurationVar(&o.BatchInterval, "batch-interval", 0, "longest the call limit may hold a change back (default the aggregator's, 50ms)")
	f.IntVar(&o.MaxBatch, "max-batch", 0, "kubedag pusher entries per call (default the aggregator's, 1000)")
	f.Float64Var(&o.MaxCallsPerSecond, "max-calls-per-second", 0, "kubedag pusher's limit on calls per second to its target (default none; at least 1/--batch-interval)")
	f.IntVar(&o.ReuseEvery, "reuse-every", bench.DefaultReuseEvery, "every Nth latency change gives the IP to a new pod on another node (IP-reuse exposure); 0 for none")
	f.IntVar(&o.ThroughputIPs, "throughput-ips", bench.DefaultThroughputIPs, "IPs of the throughput and memory phase")
	f.IntVar(&o.RestartIPs, "restart-ips", bench.DefaultRestartIPs, "registered IPs of the restart phase")
	f.BoolVar(&o.RestartNoFloor, "restart-no-floor", false, "restart phase without the previous leader's TTL floor marker (the baseline: every tag re-registered)")
	f.StringSliceVar(&o.Phases, "phases", nil, "phases to run: latency, throughput, restart (default all)")
	f.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	f.BoolVar(&o.Verbose, "verbose", false, "log progress and the components' logs to stderr")
	return cmd
}

// Validate checks the flags.
func (o *benchOptions) Validate() error {
	for name, v := range map[string]int{"--rate": o.Rate, "--ips": o.IPs, "--nodes": o.Nodes, "--throughput-ips": o.ThroughputIPs, "--restart-ips": o.RestartIPs} {
		if v < 1 {
			return fmt.Errorf("%s must be at least 1, got %d", name, v)
		}
	}
	if o.MaxCallsPerSecond < 0 || o.ReuseEvery < 0 {
		return fmt.Errorf("--max-calls-per-second and --reuse-every must not be negative")
	}
	if o.MaxBatch < 0 {
		return fmt.Errorf("--max-batch must not be negative, got %d", o.MaxBatch)
	}
	for name, v := range map[string]time.Duration{"--duration": o.Duration, "--poll-interval": o.PollInterval} {
		if v <= 0 {
			return fmt.Errorf("%s must be positive, got %s", name, v)
		}
	}
	for name, v := range map[string]time.Duration{"--drain": o.Drain, "--fw-latency": o.FirewallLatency, "--batch-interval": o.BatchInterval} {
		if v < 0 {
			return fmt.Errorf("%s must not be negative, got %s", name, v)
		}
	}
	if float64(o.Rate)*o.Duration.Seconds() < 1 {
		return fmt.Errorf("--rate %d for --duration %s makes no change", o.Rate, o.Duration)
	}
	if o.Nodes > o.IPs {
		return fmt.Errorf("--nodes %d exceeds --ips %d", o.Nodes, o.IPs)
	}
	return nil
}

// Run runs the bench and prints the report to out.
func (o *benchOptions) Run(ctx context.Context, out, errOut io.Writer) error {
	logger := slog.New(slog.DiscardHandler)
	if o.Verbose {
		logger = slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	cfg := o.Config
	if cfg.FirewallLatency == 0 {
		cfg.FirewallLatency = -1 // the flag's 0 is the harness's "none"
	}
	cfg.Logger = logger
	if cfg.ReuseEvery == 0 {
		cfg.ReuseEvery = -1 // the flag's 0 is the harness's "none"
	}
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if o.JSON {
		return rep.WriteJSON(out)
	}
	return rep.WriteText(out)
}
