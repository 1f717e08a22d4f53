package demo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"golang.org/x/sync/errgroup"

	"github.com/kubedag/kubedag/telemetry"
)

// Defaults for Options.
const (
	DefaultNodes         = 3
	DefaultChurnInterval = 4 * time.Second
	DefaultStepTimeout   = 90 * time.Second
	// ConnectTimeout bounds the wait for the agents' streams and the
	// target's first reconcile after start.
	ConnectTimeout = 2 * time.Minute
)

// Options configures Run. The zero value runs the default demo, printing to
// os.Stdout.
type Options struct {
	// Out receives the demo's output. Default os.Stdout.
	Out io.Writer
	// Nodes is the number of kwok nodes, one agent each. Default 3; at
	// least 2 (the IP-reuse step cordons one node).
	Nodes int
	// Once exits after the scripted steps; a step whose firewall state does
	// not match the cluster within StepTimeout then fails Run. Without it,
	// Run keeps churning the workload every ChurnInterval until ctx ends.
	Once bool
	// ChurnInterval is the pause between churn steps. Default 4s.
	ChurnInterval time.Duration
	// StepTimeout bounds how long a step waits for the cluster to settle
	// and the firewall to follow. Default 90s (generous: the machine may be
	// busy).
	StepTimeout time.Duration
	// BatchInterval is the aggregator's batch interval; 0 keeps the
	// configuration default (50ms).
	BatchInterval time.Duration
	// LogDir receives the logs of every component (control plane, emulator,
	// aggregator, agents) and is kept. Default $TMPDIR/kubedag-demo-logs.
	LogDir string
	// ToolsDir holds the control-plane binaries; empty means
	// cluster.ToolsDir() ($KUBEDAG_TOOLS_DIR or e2e/tools/tools.sh
	// --print-dir).
	ToolsDir string
	// Seed seeds the churn's choices; 0 picks one at random.
	Seed uint64
	// Now is the clock of the printed timestamps. Default time.Now.
	Now func() time.Time
	// MetricsListen is where /metrics (Prometheus) is served. Default
	// DefaultMetricsListen; "127.0.0.1:0" picks a free port.
	MetricsListen string
	// Getenv reads the OTEL_* environment. Default os.Getenv.
	Getenv func(string) string
}

// DefaultMetricsListen is the demo's /metrics address.
const DefaultMetricsListen = "127.0.0.1:9464"

func (o *Options) setDefaults() error {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Nodes == 0 {
		o.Nodes = DefaultNodes
	}
	if o.Nodes < 2 {
		return fmt.Errorf("demo: Nodes = %d, want at least 2", o.Nodes)
	}
	if o.ChurnInterval <= 0 {
		o.ChurnInterval = DefaultChurnInterval
	}
	if o.StepTimeout <= 0 {
		o.StepTimeout = DefaultStepTimeout
	}
	if o.BatchInterval < 0 {
		return fmt.Errorf("demo: BatchInterval = %s, want >= 0", o.BatchInterval)
	}
	if o.LogDir == "" {
		o.LogDir = filepath.Join(os.TempDir(), "kubedag-demo-logs")
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MetricsListen == "" {
		o.MetricsListen = DefaultMetricsListen
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	return nil
}

// startTelemetry installs the process's telemetry as a deployed kubedag
// has it: spans exported as the standard OTEL_* environment says, metrics
// on /metrics (plus the reader of the step latencies). It says where to
// look, and returns a stop function.
func startTelemetry(ctx context.Context, opts *Options, lat *latencyReader, p *printer) (func(), error) {
	tel, err := telemetry.Setup(ctx, telemetry.Options{Service: "kubedag-demo", Getenv: opts.Getenv,
		Attributes: []attribute.KeyValue{semconv.K8SClusterName(clusterName)}, Readers: []sdkmetric.Reader{lat.reader}})
	if err != nil {
		return nil, fmt.Errorf("demo: telemetry: %w", err)
	}
	ln, err := net.Listen("tcp", opts.MetricsListen)
	if err != nil {
		_ = tel.Shutdown(ctx)
		return nil, fmt.Errorf("demo: --metrics-listen %s: %w", opts.MetricsListen, err)
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = telemetry.NewHealthServer("", tel, nil).Serve(hctx, ln)
	}()
	p.note("metrics: http://%s/metrics (kubedag_tag_latency_seconds, kubedag_mappings, kubedag_api_calls_total, ...)", ln.Addr())
	if ep := cmp.Or(opts.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), opts.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")); ep != "" {
		p.note("traces: exported over OTLP to %s (service kubedag-demo); look for spans kubedag.tag.applied (tag latency) and kubedag.push.batch", ep)
	} else if exp := opts.Getenv("OTEL_TRACES_EXPORTER"); exp != "" && exp != "none" {
		p.note("traces: exported with OTEL_TRACES_EXPORTER=%s", exp)
	} else {
		p.note("traces: not exported; set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://localhost:4318 with OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf) to send them to a collector")
	}
	return func() {
		cancel()
		<-done
		_ = tel.Shutdown(context.WithoutCancel(ctx))
	}, nil
}

// Run runs the demo until ctx ends (or, with Once, until the scripted steps
// are done) and stops everything it started before returning. A cancelled
// ctx (Ctrl-C) is a normal end: Run then returns nil.
//
// It installs the OTel providers as the global ones (spans exported as the
// OTEL_* environment says, metrics on MetricsListen), and reads the
// aggregator's tag-latency histogram from them.
func Run(ctx context.Context, opts Options) (err error) {
	if err := opts.setDefaults(); err != nil {
		return err
	}
	if err := os.MkdirAll(opts.LogDir, 0o755); err != nil {
		return fmt.Errorf("demo: log dir: %w", err)
	}
	logFile, err := os.Create(filepath.Join(opts.LogDir, "kubedag.log"))
	if err != nil {
		return fmt.Errorf("demo: log file: %w", err)
	}
	defer logFile.Close()
	log := slog.New(slog.NewJSONHandler(logFile, nil))
	p := &printer{out: opts.Out, now: opts.Now}

	p.progress("kubedag demo: a real control plane with %d kwok nodes, one kubedag agent per node, the aggregator and a PAN-OS emulator", opts.Nodes)
	p.note("component logs: %s", opts.LogDir)
	lat := newLatencyReader()
	stopTelemetry, err := startTelemetry(ctx, &opts, lat, p)
	if err != nil {
		return err
	}
	defer stopTelemetry()
	// Say why the demo ends early on the demo's own output: it is what the
	// user is watching.
	defer func() {
		if err != nil {
			p.progress("demo failed; component logs are in %s", opts.LogDir)
		}
	}()
	s, err := start(ctx, &opts, log, p)
	if err != nil {
		return interrupted(ctx, err)
	}
	defer func() {
		began := time.Now()
		if stopErr := s.stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("demo: stop: %w", stopErr))
		}
		p.progress("stopped the agents, the aggregator, the emulator and the control plane (%s); nothing left running", since(began))
	}()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error { return s.run(gctx) })
	g.Go(func() error {
		defer cancel() // the scenario's end (Once) stops the stack
		return s.show(gctx, lat, p)
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	if ctx.Err() != nil {
		p.raw("\n")
		p.progress("interrupted; shutting down")
	}
	return interrupted(ctx, err)
}

// show waits for kubedag to connect, then plays the script and, unless
// Once, the churn.
func (s *stack) show(ctx context.Context, lat *latencyReader, p *printer) error {
	began := time.Now()
	if err := s.waitConnected(ctx, ConnectTimeout); err != nil {
		return err
	}
	p.progress("kubedag running (%s): aggregator (cluster %q, preset k8s, target %s) and %d agents, streams over TLS, each authenticated by a pod-bound ServiceAccount token (audience kubedag)",
		since(began), clusterName, targetName, len(s.agents))
	pr := preset{Cluster: clusterName, Deny: deniedLabels}
	sc := &scenario{
		c:        s.cluster.Client,
		p:        p,
		table:    newTable(pr, demoNS),
		preset:   pr,
		latency:  lat,
		firewall: s.sim.Sim.Registered,
		timeout:  s.opts.StepTimeout,
		strict:   s.opts.Once,
	}
	if err := s.showNodes(ctx, p, pr, s.opts.StepTimeout); err != nil {
		return err
	}
	p.raw("\n")
	p.note("%s", sc.table.legend())
	defer func() {
		if sc.total.Count > 0 {
			p.note("tag latency over the whole run: %s", sc.total)
		}
	}()
	steps := sc.script()
	for i, act := range steps {
		if err := sc.play(ctx, fmt.Sprintf("step %d/%d", i+1, len(steps)), act); err != nil {
			return err
		}
	}
	if err := s.showSandwich(ctx, p, s.opts.StepTimeout); err != nil {
		return err
	}
	if s.opts.Once {
		p.raw("\n")
		p.progress("all %d steps done: the firewall followed every change", len(steps))
		return nil
	}
	p.raw("\n")
	p.progress("scripted steps done; now churning every %s until Ctrl-C", s.opts.ChurnInterval)
	sc.rng = rand.New(rand.NewPCG(s.opts.Seed, s.opts.Seed>>1|1))
	return sc.churn(ctx, s.opts.ChurnInterval)
}

// interrupted returns nil once ctx was cancelled (Ctrl-C): whatever failed
// then failed because it was being stopped.
func interrupted(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return err
}
