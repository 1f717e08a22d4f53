package main

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubedag/kubedag/e2e/demo"
)

// demoOptions are the flags of kubedag demo.
type demoOptions struct {
	once          bool
	nodes         int
	churnInterval time.Duration
	stepTimeout   time.Duration
	batchInterval time.Duration
	logDir        string
	seed          uint64
	metricsListen string
}

func newDemoCmd() *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run kubedag end to end on this machine and watch the firewall follow the pods",
		Long: `demo starts a real Kubernetes control plane (etcd, kube-apiserver,
controller-manager, scheduler) with kwok playing the kubelet of fake nodes, the
PAN-OS emulator, the kubedag aggregator and one kubedag agent per node, all on
loopback. It then creates a Deployment and a Service, relabels, scales and
deletes pods, reuses a freed IP for another workload, and after each step prints
the IPs and tags the emulated firewall holds and the measured tag latency.
After the scripted steps it keeps churning until Ctrl-C (or exits with --once).

Telemetry as in a cluster: /metrics on --metrics-listen, and spans exported as
the standard OTEL_* environment says (e.g. OTEL_EXPORTER_OTLP_ENDPOINT).

The control-plane binaries come from 'make tools' (make demo builds them).

Examples:
  make demo
  kubedag demo --nodes 4 --churn-interval 2s
  kubedag demo --once`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return demo.Run(cmd.Context(), demo.Options{
				Out:           cmd.OutOrStdout(),
				Nodes:         o.nodes,
				Once:          o.once,
				ChurnInterval: o.churnInterval,
				StepTimeout:   o.stepTimeout,
				BatchInterval: o.batchInterval,
				LogDir:        o.logDir,
				Seed:          o.seed,
				MetricsListen: o.metricsListen,
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.once, "once", false, "exit after the scripted steps (fails if the firewall does not follow a step)")
	f.IntVar(&o.nodes, "nodes", demo.DefaultNodes, "number of fake (kwok) nodes, one agent each (at least 2)")
	f.DurationVar(&o.churnInterval, "churn-interval", demo.DefaultChurnInterval, "pause between random churn steps after the script")
	f.DurationVar(&o.stepTimeout, "step-timeout", demo.DefaultStepTimeout, "how long a step may take to settle and reach the firewall")
	f.DurationVar(&o.batchInterval, "batch-interval", 0, "aggregator batch interval (0: the default, 50ms)")
	f.StringVar(&o.logDir, "log-dir", "", "directory for the components' logs (default $TMPDIR/kubedag-demo-logs)")
	f.Uint64Var(&o.seed, "seed", 0, "seed of the churn's random choices (0: random)")
	f.StringVar(&o.metricsListen, "metrics-listen", demo.DefaultMetricsListen, "address of the demo's /metrics (Prometheus); traces follow the standard OTEL_* environment")
	return cmd
}

// Validate checks the flags.
func (o *demoOptions) Validate() error {
	switch {
	case o.nodes < 2:
		return errors.New("--nodes: at least 2 (the IP-reuse step cordons one node)")
	case o.churnInterval <= 0:
		return errors.New("--churn-interval: must be positive")
	case o.stepTimeout <= 0:
		return errors.New("--step-timeout: must be positive")
	case o.batchInterval < 0:
		return errors.New("--batch-interval: must not be negative")
	}
	return nil
}
