package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubedag/kubedag/aggregator"
	"github.com/kubedag/kubedag/aggregator/config"
	"github.com/kubedag/kubedag/aggregator/leader"
	"github.com/kubedag/kubedag/aggregator/push"
	"github.com/kubedag/kubedag/cmd/internal/daemon"
	"github.com/kubedag/kubedag/telemetry"
	"github.com/kubedag/kubedag/tlsreload"
)

type aggregatorOptions struct {
	configPath     string
	kubeconfig     string
	listen         string
	tlsCert        string
	tlsKey         string
	healthListen   string
	explainListen  string
	batchInterval  time.Duration
	maxBatch       int
	resyncInterval time.Duration
	tagTTL         time.Duration
	snapshotGrace  time.Duration
	nodeGrace      time.Duration
	canaryInterval time.Duration
	canaryIP       string
	leaderElect    bool
	leaseNamespace string
	leaseName      string
	leaseDuration  time.Duration
	kubeQPS        float32
	kubeBurst      int
	renewDeadline  time.Duration
	retryPeriod    time.Duration
	agentSelector  string
	agentNamespace string
	allowNodeIP    bool
	multus         bool
	agentUsers     []string
	allowAnyAgent  bool
	logLevel       string

	// set flags, so only explicit flags override the file
	changed func(name string) bool
}

func newAggregatorCmd() *cobra.Command {
	o := &aggregatorOptions{}
	cmd := &cobra.Command{
		Use:   "aggregator",
		Short: "Run the aggregator: desired IP->tags state, pushed to PAN-OS targets",
		Long: `Run the aggregator. It accepts agent streams (gRPC over TLS, ServiceAccount
token auth), watches Services, and keeps every configured firewall or Panorama's
User-ID IP-tag registrations in step. Every replica accepts every agent's stream
and holds the whole desired state (hot standby); with --leader-elect only the
replica holding the Lease pushes, and it stops calling the targets once its
Lease may have lapsed (fencing), even before it notices it lost it.

Examples:
  kubedag aggregator --config /etc/kubedag/config.yaml \
    --tls-cert-file /etc/kubedag/tls/tls.crt --tls-key-file /etc/kubedag/tls/tls.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.changed = func(n string) bool { return cmd.Flags().Changed(n) }
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.configPath, "config", "/etc/kubedag/config.yaml", "YAML configuration file")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (in-cluster configuration when empty)")
	f.StringVar(&o.listen, "listen", ":9443", "address of the agent stream (gRPC over TLS)")
	f.StringVar(&o.tlsCert, "tls-cert-file", "", "serving certificate of the agent stream (PEM)")
	f.StringVar(&o.tlsKey, "tls-key-file", "", "private key of the serving certificate (PEM)")
	f.StringVar(&o.healthListen, "health-listen", ":9090", "address of /healthz, /readyz and /metrics")
	f.StringVar(&o.explainListen, "explain-listen", "", "address of the kubedag explain endpoint, e.g. :9444 (HTTPS with the stream's certificate; callers authenticate with their Kubernetes token); empty: off (the chart turns it on)")
	f.DurationVar(&o.batchInterval, "batch-interval", config.DefaultBatchInterval, "longest a target's call limit may hold a change back; changes go at once when no call is in flight (overrides the file)")
	f.IntVar(&o.maxBatch, "max-batch", config.DefaultMaxBatch, "most entries per API call (overrides the file)")
	f.DurationVar(&o.resyncInterval, "resync-interval", config.DefaultResyncInterval, "full reconcile period (overrides the file)")
	f.DurationVar(&o.tagTTL, "tag-ttl", config.DefaultTagTTL, "PAN-OS timeout on registered tags, refreshed before expiry; 0 disables (overrides the file)")
	f.DurationVar(&o.snapshotGrace, "snapshot-grace", aggregator.DefaultSnapshotGrace, "after becoming leader, wait this long for agent snapshots before unregistering tags of unclaimed IPs")
	f.DurationVar(&o.nodeGrace, "node-grace", aggregator.DefaultNodeGrace, "keep a disconnected agent's claims this long")
	f.DurationVar(&o.canaryInterval, "canary-interval", push.DefaultCanaryInterval, "how often each target's reboot-detection canary is checked")
	f.StringVar(&o.canaryIP, "canary-ip", aggregator.DefaultCanaryIP.String(), "IP of the reboot-detection canary registration (tag <prefix>.kubedag-canary); one no pod or Service can hold. PAN-OS allows 32 tags per IP: give each group of at most 32 clusters sharing a target its own")
	f.BoolVar(&o.leaderElect, "leader-elect", true, "run the pushers only while holding the Lease")
	f.StringVar(&o.leaseNamespace, "leader-election-namespace", os.Getenv("POD_NAMESPACE"), "namespace of the Lease (default $POD_NAMESPACE)")
	f.StringVar(&o.leaseName, "leader-election-id", "kubedag-aggregator", "name of the Lease")
	f.DurationVar(&o.leaseDuration, "lease-duration", leader.DefaultLeaseDuration, "Lease duration: a standby takes over this long after the leader's last renew (hard failure)")
	f.DurationVar(&o.renewDeadline, "renew-deadline", leader.DefaultRenewDeadline, "the leader stops pushing this long after its last successful renew began (below --lease-duration)")
	f.Float32Var(&o.kubeQPS, "kube-api-qps", 50, "API requests per second this replica may make (TokenReviews of reconnecting agents, SubjectAccessReviews, Events); the Lease has its own client and budget")
	f.IntVar(&o.kubeBurst, "kube-api-burst", 100, "burst above --kube-api-qps")
	f.DurationVar(&o.retryPeriod, "retry-period", leader.DefaultRetryPeriod, "how often each replica renews or tries the Lease (one API request each)")
	f.StringVar(&o.agentSelector, "agent-selector", "", "label selector of the agent pods: after a leader change the snapshot gate waits only for nodes running one (empty: every Node)")
	f.StringVar(&o.agentNamespace, "agent-namespace", os.Getenv("POD_NAMESPACE"), "namespace of the agent pods (default $POD_NAMESPACE)")
	f.BoolVar(&o.allowNodeIP, "allow-node-ip", false, "let agents claim their node's own IP (hostNetwork pods)")
	f.BoolVar(&o.multus, "multus", false, "accept agents' claims on pods' secondary (Multus) interface IPs, checked against their k8s.v1.cni.cncf.io/network-status annotation (agents need --multus too)")
	f.StringSliceVar(&o.agentUsers, "agent-users", nil, "ServiceAccount users allowed to stream, e.g. system:serviceaccount:kubedag:kubedag-agent (required unless --allow-any-agent)")
	f.BoolVar(&o.allowAnyAgent, "allow-any-agent", false, "accept streams from any pod's node-bound token for audience kubedag: any pod could then tag its node's IPs (tests and demos only)")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// Validate checks the flags that need no I/O.
func (o *aggregatorOptions) Validate() error {
	if o.tlsCert == "" || o.tlsKey == "" {
		return errors.New("--tls-cert-file and --tls-key-file are required: agents stream over TLS only")
	}
	if o.leaderElect && o.leaseNamespace == "" {
		return errors.New("--leader-election-namespace (or $POD_NAMESPACE) is required with --leader-elect")
	}
	if o.leaderElect {
		if err := leader.ValidateTimings(o.leaseDuration, o.renewDeadline, o.retryPeriod); err != nil {
			return fmt.Errorf("--lease-duration, --renew-deadline, --retry-period: %w", err)
		}
	}
	if o.kubeQPS <= 0 || o.kubeBurst < 1 {
		return fmt.Errorf("--kube-api-qps %v and --kube-api-burst %d must be positive", o.kubeQPS, o.kubeBurst)
	}
	if o.agentSelector != "" {
		if _, err := labels.Parse(o.agentSelector); err != nil {
			return fmt.Errorf("--agent-selector: %w", err)
		}
		if o.agentNamespace == "" {
			return errors.New("--agent-namespace (or $POD_NAMESPACE) is required with --agent-selector")
		}
	}
	if o.canaryInterval <= 0 || o.canaryInterval >= push.DefaultCanaryTTL {
		return fmt.Errorf("--canary-interval %s: must be positive and below the canary's %s timeout", o.canaryInterval, push.DefaultCanaryTTL)
	}
	if _, err := netip.ParseAddr(o.canaryIP); err != nil {
		return fmt.Errorf("--canary-ip %q: %w", o.canaryIP, err)
	}
	if o.maxBatch <= 0 {
		return fmt.Errorf("--max-batch %d: must be positive", o.maxBatch)
	}
	// Without a user restriction every pod holding a token for audience
	// kubedag could stream claims for its node's IPs with labels it chose.
	switch {
	case len(o.agentUsers) == 0 && !o.allowAnyAgent:
		return errors.New("--agent-users is required (the agents' ServiceAccount user, e.g. system:serviceaccount:kubedag:kubedag-agent): " +
			"without it any pod could stream tag claims for its node's IPs; pass --allow-any-agent to accept that anyway (tests and demos only)")
	case len(o.agentUsers) > 0 && o.allowAnyAgent:
		return errors.New("--agent-users and --allow-any-agent exclude each other")
	}
	for _, u := range o.agentUsers {
		if !strings.HasPrefix(u, "system:serviceaccount:") || strings.Count(u, ":") != 3 {
			return fmt.Errorf("--agent-users %q: want system:serviceaccount:<namespace>:<name>", u)
		}
	}
	return nil
}

// applyFlags lets explicitly set flags override the file, then revalidates.
func (o *aggregatorOptions) applyFlags(c *config.Config) error {
	if o.changed("batch-interval") {
		c.BatchInterval.Duration = o.batchInterval
	}
	if o.changed("max-batch") {
		c.MaxBatch = o.maxBatch
	}
	if o.changed("resync-interval") {
		c.ResyncInterval.Duration = o.resyncInterval
	}
	if o.changed("tag-ttl") {
		c.TagTTL = &config.Duration{Duration: o.tagTTL}
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("config after flags: %w", err)
	}
	return nil
}

func (o *aggregatorOptions) Run(cmd *cobra.Command) error {
	ctx := cmd.Context()
	logger, err := newLogger(o.logLevel)
	if err != nil {
		return err
	}
	cfg, err := config.Load(o.configPath)
	if err != nil {
		return err
	}
	if err := o.applyFlags(cfg); err != nil {
		return err
	}
	// Reloaded when the mounted Secret is rotated (cert-manager renewals).
	cert, err := tlsreload.NewCertificate(o.tlsCert, o.tlsKey)
	if err != nil {
		return fmt.Errorf("agent stream TLS: %w", err)
	}
	// Every local check (telemetry environment included) before the API
	// client, so a bad value fails at start wherever the pod runs.
	attrs := append(telemetry.K8sAttributes(nil), semconv.K8SClusterName(cfg.Cluster))
	tel, err := telemetry.Setup(ctx, telemetry.Options{Service: "kubedag-aggregator", Version: version, Attributes: attrs})
	if err != nil {
		return err
	}
	defer tel.Shutdown(ctx)
	restCfg, err := daemon.RESTConfig(o.kubeconfig, "kubedag-aggregator/"+version)
	if err != nil {
		return err
	}
	client, leaseClient, err := aggregatorClients(restCfg, o.kubeQPS, o.kubeBurst)
	if err != nil {
		return err
	}

	streamLn, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("agent stream listen %s: %w", o.listen, err)
	}
	var explainLn net.Listener
	healthLn, err := net.Listen("tcp", o.healthListen)
	if err != nil {
		streamLn.Close()
		return fmt.Errorf("health listen %s: %w", o.healthListen, err)
	}
	if o.explainListen != "" {
		ln, err := net.Listen("tcp", o.explainListen)
		if err != nil {
			streamLn.Close()
			healthLn.Close()
			return fmt.Errorf("explain listen %s: %w", o.explainListen, err)
		}
		defer ln.Close()
		explainLn = ln
	}
	opts := aggregator.Options{
		ExplainListener: explainLn,
		Config:          cfg,
		Client:          client,
		StreamListener:  streamLn,
		StreamTLS:       cert.ServerConfig(),
		HealthListener:  healthLn,
		Telemetry:       tel,
		SnapshotGrace:   o.snapshotGrace,
		NodeGrace:       o.nodeGrace,
		CanaryInterval:  o.canaryInterval,
		CanaryIP:        netip.MustParseAddr(o.canaryIP), // checked in Validate
		AllowNodeIP:     o.allowNodeIP,
		Multus:          o.multus,
		AgentUsers:      o.agentUsers,
		AgentSelector:   o.agentSelector,
		AgentNamespace:  o.agentNamespace,
		Logger:          logger,
	}
	if o.leaderElect {
		id := os.Getenv("POD_NAME")
		if id == "" {
			if id, err = os.Hostname(); err != nil {
				return fmt.Errorf("leader identity: %w", err)
			}
		}
		opts.LeaderElection = &leader.Options{Client: leaseClient, Namespace: o.leaseNamespace, Name: o.leaseName, Identity: id,
			LeaseDuration: o.leaseDuration, RenewDeadline: o.renewDeadline, RetryPeriod: o.retryPeriod}
	}
	agg, err := aggregator.New(opts)
	if err != nil {
		streamLn.Close()
		healthLn.Close()
		return err
	}
	if o.allowAnyAgent {
		logger.Warn("INSECURE: --allow-any-agent is set: any pod with a token for audience kubedag can stream tag claims for its node's IPs; set --agent-users to the agents' ServiceAccount")
	}
	logger.Info("aggregator starting", "version", version, "cluster", cfg.Cluster, "targets", len(cfg.Targets),
		"listen", streamLn.Addr().String(), "health", healthLn.Addr().String(), "leader_elect", o.leaderElect,
		"agent_users", o.agentUsers)
	return agg.Run(ctx)
}

// aggregatorClients returns the aggregator's API client, limited to qps
// and burst, and the Lease's own client. The Lease gets a client and a
// rate limiter of its own, as kube-controller-manager's does: with a 3 s
// renew deadline, a renew queued behind a burst of TokenReviews (every
// agent reconnecting) in a shared client-side limiter costs the
// leadership ("client rate limiter Wait ... would exceed context
// deadline", seen under load).
func aggregatorClients(cfg *rest.Config, qps float32, burst int) (client, lease kubernetes.Interface, err error) {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = qps, burst
	if client, err = kubernetes.NewForConfig(c); err != nil {
		return nil, nil, fmt.Errorf("kubernetes client: %w", err)
	}
	l := rest.CopyConfig(cfg)
	l.UserAgent += "/leader-election"
	l.QPS, l.Burst = 10, 20 // one Lease request per retry period
	if lease, err = kubernetes.NewForConfig(l); err != nil {
		return nil, nil, fmt.Errorf("kubernetes client (leader election): %w", err)
	}
	return client, lease, nil
}
