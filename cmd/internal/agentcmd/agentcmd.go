// Package agentcmd is the agent command, the same in the all-in-one kubedag
// binary (kubedag agent) and in the agent-only kubedag-agent, which links
// nothing else so the DaemonSet's resident memory stays small.
package agentcmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubedag/kubedag/agent"
	"github.com/kubedag/kubedag/agent/ipsource"
	"github.com/kubedag/kubedag/agent/kubeapi"
	"github.com/kubedag/kubedag/agent/routewatch"
	"github.com/kubedag/kubedag/agent/stream"
	"github.com/kubedag/kubedag/cmd/internal/daemon"
	"github.com/kubedag/kubedag/telemetry"
	"github.com/kubedag/kubedag/tlsreload"
)

// DefaultHealthPort is the agent's /healthz, /readyz and /metrics port
// on the node. No major CNI or node agent uses it (Calico Felix takes 9091,
// Cilium 9962-9965, kube-proxy 10249/10256, kubelet 10248/10250, node-exporter
// 9100); the chart's agent.healthPort defaults to it too.
const DefaultHealthPort = 10271

type agentOptions struct {
	nodeName       string
	aggregatorAddr string
	resolveEvery   time.Duration
	caFile         string
	serverName     string
	tokenFile      string
	ipSource       string
	tagHostNetwork bool
	multus         bool
	healthListen   string
	kubeconfig     string
	linkPrefixes   []string
	anyScopeLink   bool
	neighbours     bool
	logLevel       string
	version        string
	// derived by Validate
	mode       ipsource.Mode
	serverHost string
}

// New returns the agent command; version is the build's version.
func New(version string) *cobra.Command {
	o := &agentOptions{version: version}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the node agent: this node's pod IPs and identities, streamed to the aggregator",
		Long: `Run the node agent (one per node, DaemonSet with hostNetwork). It watches the
pods of its node and the Services they back, optionally watches the node's pod
routes through netlink (no privileges needed: it only listens), and streams the
node's IP identities to the aggregator over gRPC/TLS, authenticated with a
projected ServiceAccount token. --aggregator names every aggregator replica (a
headless Service): the agent keeps one stream to each address it resolves to,
so every replica holds the whole cluster's state and a standby can take over
at once.

Examples:
  NODE_NAME=node-1 kubedag agent --aggregator kubedag-aggregator.kubedag.svc:9443 \
    --ca-file /etc/kubedag/ca/ca.crt --token-file /var/run/secrets/kubedag/token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.nodeName, "node-name", os.Getenv("NODE_NAME"), "this node's name (default $NODE_NAME, from the downward API)")
	f.StringVar(&o.aggregatorAddr, "aggregator", "kubedag-aggregator:9443", "aggregator agent-stream address: host:port or dns://[server:port]/host:port; one stream per address host resolves to (every replica)")
	f.DurationVar(&o.resolveEvery, "aggregator-resolve-interval", 5*time.Second, "how often --aggregator is resolved again to follow replicas coming and going")
	f.StringVar(&o.caFile, "ca-file", "", "CA bundle that signed the aggregator's certificate (system roots when empty)")
	f.StringVar(&o.serverName, "server-name", "", "name to verify in the aggregator's certificate (default: host of --aggregator)")
	f.StringVar(&o.tokenFile, "token-file", "/var/run/secrets/kubedag/token", "projected ServiceAccount token (audience kubedag), re-read on every connect")
	f.StringVar(&o.ipSource, "ip-source", string(ipsource.DefaultMode), "where pod IP liveness comes from: api, netlink or both")
	f.BoolVar(&o.tagHostNetwork, "tag-host-network", false, "let hostNetwork pods claim the node's IP (off: the node IP never carries a pod's tags)")
	f.BoolVar(&o.multus, "multus", false, "also claim the IPs of pods' secondary (Multus) interfaces from their k8s.v1.cni.cncf.io/network-status annotation, tagged with the pod's identity plus the network; the aggregator needs --multus too")
	f.StringVar(&o.healthListen, "health-listen", ":"+strconv.Itoa(DefaultHealthPort), "address of /healthz, /readyz and /metrics (a port of the node: the agent uses the host network)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (in-cluster configuration when empty)")
	f.StringSliceVar(&o.linkPrefixes, "link-prefixes", routewatch.DefaultLinkPrefixes, "netlink: host routes via links with these name prefixes are pod routes")
	f.BoolVar(&o.anyScopeLink, "any-scope-link", false, "netlink: treat every scope-link host route as a pod route, whatever its link")
	f.BoolVar(&o.neighbours, "neighbours", true, "netlink: use neighbour entries to timestamp pod IPs")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// Validate checks the flags that need no I/O.
func (o *agentOptions) Validate() error {
	if o.nodeName == "" {
		return errors.New("--node-name (or $NODE_NAME) is required")
	}
	mode, err := ipsource.ParseMode(o.ipSource)
	if err != nil {
		return fmt.Errorf("--ip-source: %w", err)
	}
	o.mode = mode
	target, err := stream.ParseTarget(o.aggregatorAddr)
	if err != nil {
		return fmt.Errorf("--aggregator: %w", err)
	}
	if target.Raw != "" {
		return fmt.Errorf("--aggregator %q: want host:port or dns://[server:port]/host:port", o.aggregatorAddr)
	}
	if o.resolveEvery <= 0 {
		return errors.New("--aggregator-resolve-interval must be positive")
	}
	o.serverHost = o.serverName
	if o.serverHost == "" {
		o.serverHost = target.Host
	}
	if o.tokenFile == "" {
		return errors.New("--token-file is required: agents authenticate with a projected ServiceAccount token")
	}
	return nil
}

func (o *agentOptions) Run(cmd *cobra.Command) error {
	ctx := cmd.Context()
	logger, err := daemon.NewLogger(o.logLevel)
	if err != nil {
		return err
	}
	logger = logger.With("node", o.nodeName)
	// Every local check (CA, telemetry environment) before the API client,
	// so a bad value fails at start wherever the pod runs.
	// A CA file (a mounted Secret) is read again when it changes, so a
	// rotated CA needs no restart; without one, the system roots.
	tlsCfg, err := stream.TLSConfig("", o.serverHost)
	if o.caFile != "" {
		tlsCfg, err = tlsreload.ClientConfig(o.caFile, o.serverHost)
	}
	if err != nil {
		return fmt.Errorf("aggregator TLS: %w", err)
	}
	tel, err := telemetry.Setup(ctx, telemetry.Options{Service: "kubedag-agent", Version: o.version,
		Attributes: telemetry.K8sAttributes(nil)})
	if err != nil {
		return err
	}
	defer tel.Shutdown(ctx)
	// The host network is shared with CNI and other node agents: say which
	// port is taken and how to move.
	ln, err := net.Listen("tcp", o.healthListen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("--health-listen %s: the port is already in use on this node (another node agent holds it; the agent shares the host network): choose a free port with --health-listen (chart value agent.healthPort): %w", o.healthListen, err)
		}
		return fmt.Errorf("--health-listen %s: %w", o.healthListen, err)
	}
	rc, err := daemon.RESTConfig(o.kubeconfig, "kubedag-agent/"+o.version)
	if err != nil {
		ln.Close()
		return err
	}
	src, err := kubeapi.New(rc)
	if err != nil {
		ln.Close()
		return err
	}

	a, err := agent.New(agent.Config{
		Source:           src,
		NodeName:         o.nodeName,
		IPSource:         o.mode,
		AllowHostNetwork: o.tagHostNetwork,
		Multus:           o.multus,
		Routes:           routewatch.Config{LinkPrefixes: o.linkPrefixes, AnyScopeLink: o.anyScopeLink, Neighbours: o.neighbours},
		Stream:           stream.Config{Addr: o.aggregatorAddr, ResolveInterval: o.resolveEvery, TLS: tlsCfg, TokenFile: o.tokenFile},
		Logger:           logger,
	})
	if err != nil {
		ln.Close()
		return err
	}
	checks := map[string]telemetry.Check{}
	for name, c := range a.Checks() {
		checks[name] = c
	}
	hs := telemetry.NewHealthServer("", tel, checks)
	hctx, stopHealth := context.WithCancel(ctx)
	hdone := make(chan error, 1)
	go func() { hdone <- hs.Serve(hctx, ln) }()

	logger.Info("agent starting", "version", o.version, "aggregator", o.aggregatorAddr, "ip_source", o.mode)
	err = a.Run(ctx)
	stopHealth()
	return errors.Join(err, <-hdone)
}
