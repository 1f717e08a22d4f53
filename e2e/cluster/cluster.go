package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubedag/kubedag/e2e/pki"
)

// Defaults for Options.
const (
	DefaultPodCIDR          = "10.244.0.0/16"
	DefaultNodeCIDRMaskSize = 24
	DefaultNodeAddressCIDR  = "172.30.0.0/16"
	DefaultServiceCIDR      = "10.96.0.0/24"
	DefaultStartTimeout     = 3 * time.Minute

	// DualStackPodCIDR and DualStackServiceCIDR are the IPv6 families
	// Options.DualStack adds: node i gets fd00:10:244:<i>::/64.
	DualStackPodCIDR     = "fd00:10:244::/56"
	DualStackServiceCIDR = "fd00:10:96::/112"

	// ServiceAccountIssuer is the apiserver's --service-account-issuer, also
	// the first (default) audience of ServiceAccount tokens.
	ServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
	// KubedagAudience is an extra audience the apiserver accepts in
	// TokenReview, for tokens minted for kubedag's aggregator.
	KubedagAudience = "kubedag"
)

// Options configures Start. The zero value is a control plane without kwok.
type Options struct {
	// ToolsDir holds the binaries; empty means ToolsDir().
	ToolsDir string
	// Kwok starts the kwok controller, which plays the kubelet for nodes
	// annotated kwok.x-k8s.io/node=fake (as CreateNodes makes them): they go
	// Ready and their pods Running with an IP. Without it, pods stay Pending.
	Kwok bool
	// PodCIDR is the pod network. CreateNodes gives node i the i+1'th
	// subnet of size NodeCIDRMaskSize as spec.podCIDR, and kwok allocates
	// pod IPs from the pod's node's podCIDR; nodes created without one draw
	// from the first subnet. Default DefaultPodCIDR (IPv4 only).
	PodCIDR string
	// NodeCIDRMaskSize is the prefix length of each node's podCIDR, larger
	// than PodCIDR's. Default 24 (253 pod IPs per node).
	NodeCIDRMaskSize int
	// NodeAddressCIDR is where CreateNodes takes each node's InternalIP
	// (which becomes its pods' hostIP). Default DefaultNodeAddressCIDR.
	NodeAddressCIDR string
	// ServiceCIDR is the apiserver's --service-cluster-ip-range. Default
	// DefaultServiceCIDR.
	ServiceCIDR string
	// DualStack adds IPv6: the apiserver's service range gets
	// DualStackServiceCIDR as its second family (Services asking for
	// PreferDualStack or RequireDualStack get an IPv6 ClusterIP too; the
	// default SingleStack stays IPv4), and CreateNodes gives every node an
	// IPv6 podCIDR from DualStackPodCIDR after its IPv4 one, so kwok gives
	// its pods an IPv4 and an IPv6 IP (status.podIPs, IPv4 first).
	DualStack bool
	// LogDir receives one log file per component (etcd.log,
	// kube-apiserver.log, ...) and is kept after Stop. Empty means a logs
	// directory inside the cluster's temp dir, removed by Stop.
	LogDir string
	// APIServerFlags are extra kube-apiserver flags, appended last (a later
	// flag overrides an earlier one), e.g. "--audit-log-path=...".
	APIServerFlags []string
	// Verbosity is the components' klog -v level. Default 0.
	Verbosity int
	// StartTimeout bounds Start when ctx has no earlier deadline. Default
	// DefaultStartTimeout (generous: the machine may be busy compiling).
	StartTimeout time.Duration
	// Logger receives progress messages. Default slog.Default().
	Logger *slog.Logger
}

func (o *Options) setDefaults() error {
	if o.PodCIDR == "" {
		o.PodCIDR = DefaultPodCIDR
	}
	if o.NodeCIDRMaskSize == 0 {
		o.NodeCIDRMaskSize = DefaultNodeCIDRMaskSize
	}
	if o.NodeAddressCIDR == "" {
		o.NodeAddressCIDR = DefaultNodeAddressCIDR
	}
	if o.ServiceCIDR == "" {
		o.ServiceCIDR = DefaultServiceCIDR
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	for _, c := range []struct{ name, cidr string }{
		{"PodCIDR", o.PodCIDR}, {"NodeAddressCIDR", o.NodeAddressCIDR}, {"ServiceCIDR", o.ServiceCIDR},
	} {
		p, err := netip.ParsePrefix(c.cidr)
		if err != nil {
			return fmt.Errorf("options: %s: %w", c.name, err)
		}
		if !p.Addr().Is4() {
			return fmt.Errorf("options: %s %s: only IPv4 is supported", c.name, c.cidr)
		}
	}
	if netip.MustParsePrefix(o.NodeAddressCIDR).Bits() > 30 {
		return fmt.Errorf("options: NodeAddressCIDR %s: need at least /30", o.NodeAddressCIDR)
	}
	pod := netip.MustParsePrefix(o.PodCIDR)
	if o.NodeCIDRMaskSize <= pod.Bits() || o.NodeCIDRMaskSize > 30 {
		return fmt.Errorf("options: NodeCIDRMaskSize %d must be in (%d, 30]", o.NodeCIDRMaskSize, pod.Bits())
	}
	return nil
}

// Cluster is a running control plane: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and optionally kwok, each a child
// process. Stop it when done; its methods are safe for concurrent use.
type Cluster struct {
	// Config authenticates as an administrator (client certificate,
	// CN=kubedag-admin, O=system:masters). QPS and Burst are raised so
	// tests can create objects quickly; copy it (rest.CopyConfig) before
	// changing it.
	Config *rest.Config
	// Client is a clientset for Config.
	Client kubernetes.Interface

	opts       Options
	host       string // https://127.0.0.1:<port>
	dir        string
	logDir     string
	kubeconfig string
	ca         *pki.CA
	spawner    *spawner
	procs      []*process // in start order

	stopOnce sync.Once
	stopErr  error

	mu       sync.Mutex
	nextNode int // index of the next node CreateNodes names a podCIDR for
}

// Start runs a control plane in a new temp dir and waits until it serves:
// kube-apiserver /readyz, the controller manager and scheduler /healthz, the
// "default" ServiceAccount (made by the controller manager), and kwok's
// /healthz when Options.Kwok is set. ctx bounds only the start; the
// processes run until Stop, and die with the calling process if it exits
// without calling Stop. On error nothing is left running; a component that
// exits early is reported with the tail of its log.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()

	toolsDir := opts.ToolsDir
	if toolsDir == "" {
		d, err := ToolsDir()
		if err != nil {
			return nil, err
		}
		toolsDir = d
	}
	names := []string{Etcd, KubeAPIServer, KubeControllerManager, KubeScheduler}
	if opts.Kwok {
		names = append(names, Kwok)
	}
	bins := map[string]string{}
	for _, n := range names {
		p, err := toolIn(toolsDir, n)
		if err != nil {
			return nil, err
		}
		bins[n] = p
	}

	removeStaleDirs(opts.Logger)
	// Ports are picked free but released before the components bind them,
	// so another process (tests of other packages run in parallel) can take
	// one in between: retry a start that lost such a race.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		c, err := startOnce(ctx, opts, bins)
		if err == nil {
			opts.Logger.Info("control plane ready", "took", time.Since(began).Round(time.Millisecond),
				"apiserver", c.Config.Host, "kubeconfig", c.kubeconfig, "logs", c.logDir, "kwok", opts.Kwok)
			return c, nil
		}
		if attempt == attempts || ctx.Err() != nil || !strings.Contains(err.Error(), "address already in use") {
			return nil, err
		}
		opts.Logger.Warn("control plane lost a port race; retrying", "attempt", attempt, "err", err)
	}
}

// startOnce makes a fresh temp dir and starts the components in it; on
// error it leaves nothing behind.
func startOnce(ctx context.Context, opts Options, bins map[string]string) (*Cluster, error) {
	dir, err := os.MkdirTemp("", tempDirPrefix)
	if err != nil {
		return nil, fmt.Errorf("create cluster dir: %w", err)
	}
	// Node subnet and address 0 are kwok's defaults; CreateNodes starts at 1.
	c := &Cluster{opts: opts, dir: dir, logDir: opts.LogDir, nextNode: 1}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		c.Stop()
		return nil, fmt.Errorf("write owner pid: %w", err)
	}
	if c.logDir == "" {
		c.logDir = filepath.Join(dir, "logs")
	}
	if err := os.MkdirAll(c.logDir, 0o755); err != nil {
		c.Stop()
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	if err := c.start(ctx, bins); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

const (
	tempDirPrefix = "kubedag-cluster-"
	ownerFile     = "owner.pid"
)

// ports is one free loopback port per listener the components open.
type ports struct {
	etcdClient, etcdPeer, etcdMetrics, apiserver, controllerManager, scheduler, kwok int
}

func (c *Cluster) start(ctx context.Context, bins map[string]string) error {
	p, err := freePorts(7)
	if err != nil {
		return err
	}
	pt := ports{p[0], p[1], p[2], p[3], p[4], p[5], p[6]}
	if err := c.writePKI(pt); err != nil {
		return err
	}
	c.spawner = startSpawner()

	etcdURL := func(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }
	if err := c.run(Etcd, bins[Etcd],
		"--name=default",
		"--data-dir="+c.path("etcd"),
		"--listen-client-urls="+etcdURL(pt.etcdClient),
		"--advertise-client-urls="+etcdURL(pt.etcdClient),
		"--listen-peer-urls="+etcdURL(pt.etcdPeer),
		"--initial-advertise-peer-urls="+etcdURL(pt.etcdPeer),
		"--initial-cluster=default="+etcdURL(pt.etcdPeer),
		"--listen-metrics-urls="+etcdURL(pt.etcdMetrics),
		"--unsafe-no-fsync", // throwaway data: durability only costs time
		"--log-level=warn",
	); err != nil {
		return err
	}
	v := "--v=" + strconv.Itoa(c.opts.Verbosity)
	if err := c.run(KubeAPIServer, bins[KubeAPIServer], append([]string{
		"--etcd-servers=" + etcdURL(pt.etcdClient),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--endpoint-reconciler-type=none", // required with a loopback advertise address
		"--secure-port=" + strconv.Itoa(pt.apiserver),
		"--cert-dir=" + c.path("apiserver"),
		"--tls-cert-file=" + c.path("apiserver.crt"),
		"--tls-private-key-file=" + c.path("apiserver.key"),
		"--client-ca-file=" + c.path("ca.crt"),
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		// Without the node lifecycle controller nothing would lift the
		// not-ready taint this plugin puts on new nodes.
		"--disable-admission-plugins=TaintNodesByCondition",
		"--service-account-issuer=" + ServiceAccountIssuer,
		"--api-audiences=" + ServiceAccountIssuer + "," + KubedagAudience,
		"--service-account-key-file=" + c.path("sa.pub"),
		"--service-account-signing-key-file=" + c.path("sa.key"),
		"--service-cluster-ip-range=" + c.serviceRange(),
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false",
		"--max-requests-inflight=2000",
		"--max-mutating-requests-inflight=1000",
		"--profiling=false",
		v,
	}, c.opts.APIServerFlags...)...); err != nil {
		return err
	}

	kp, err := c.clientKeyPair("kubedag-admin", "system:masters")
	if err != nil {
		return err
	}
	c.Config = c.restConfig(kp)
	c.Config.QPS, c.Config.Burst = 1000, 2000
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return fmt.Errorf("admin clientset: %w", err)
	}
	c.Client = cs
	c.kubeconfig = c.path("admin.kubeconfig")
	if err := writeKubeconfig(c.kubeconfig, c.Config, "kubedag-admin"); err != nil {
		return err
	}
	if err := c.waitFor(ctx, "kube-apiserver /readyz", func(ctx context.Context) error {
		_, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err
	}); err != nil {
		return err
	}

	// The remaining components only talk to the apiserver: start them together.
	if err := c.runComponents(bins, pt, v); err != nil {
		return err
	}
	tlsClient := c.httpsClient()
	healthz := func(client *http.Client, url string) func(context.Context) error {
		return func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %s", url, resp.Status)
			}
			return nil
		}
	}
	checks := []struct {
		what  string
		check func(context.Context) error
	}{
		{"kube-controller-manager /healthz", healthz(tlsClient, fmt.Sprintf("https://127.0.0.1:%d/healthz", pt.controllerManager))},
		{"kube-scheduler /healthz", healthz(tlsClient, fmt.Sprintf("https://127.0.0.1:%d/healthz", pt.scheduler))},
		{`ServiceAccount "default" (made by the controller manager)`, func(ctx context.Context) error {
			_, err := cs.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
			return err
		}},
	}
	if c.opts.Kwok {
		checks = append(checks, struct {
			what  string
			check func(context.Context) error
		}{"kwok /healthz", healthz(&http.Client{Timeout: 2 * time.Second}, fmt.Sprintf("http://127.0.0.1:%d/healthz", pt.kwok))})
	}
	for _, ch := range checks {
		if err := c.waitFor(ctx, ch.what, ch.check); err != nil {
			return err
		}
	}
	return nil
}

// controllers are the kube-controller-manager controllers tests rely on;
// the rest (volumes, certificates, node lifecycle, ...) would only cost
// start time.
var controllers = []string{
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"root-ca-certificate-publisher-controller",
	"namespace-controller",
	"garbage-collector-controller",
	"endpoints-controller",
	"endpointslice-controller",
	"deployment-controller",
	"replicaset-controller",
	"daemonset-controller",
	"statefulset-controller",
	"job-controller",
	"pod-garbage-collector-controller",
	"clusterrole-aggregation-controller",
	// PodDisruptionBudget status, which evictions (drains) check.
	"disruption-controller",
}

func (c *Cluster) runComponents(bins map[string]string, pt ports, v string) error {
	if err := c.run(KubeControllerManager, bins[KubeControllerManager],
		"--kubeconfig="+c.path("controller-manager.kubeconfig"),
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(pt.controllerManager),
		"--tls-cert-file="+c.path("component.crt"),
		"--tls-private-key-file="+c.path("component.key"),
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+c.path("sa.key"),
		"--root-ca-file="+c.path("ca.crt"),
		"--controllers="+strings.Join(controllers, ","),
		"--kube-api-qps=300",
		"--kube-api-burst=600",
		"--profiling=false",
		v,
	); err != nil {
		return err
	}
	if err := c.run(KubeScheduler, bins[KubeScheduler],
		"--config="+c.path("scheduler.yaml"),
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(pt.scheduler),
		"--tls-cert-file="+c.path("component.crt"),
		"--tls-private-key-file="+c.path("component.key"),
		v,
	); err != nil {
		return err
	}
	if !c.opts.Kwok {
		return nil
	}
	return c.run(Kwok, bins[Kwok],
		"--kubeconfig="+c.path("kwok.kubeconfig"),
		"--config="+c.path("kwok.yaml"),
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector="+KwokNodeAnnotation+"=fake",
		"--cidr="+c.defaultNodePodCIDR(),
		"--node-ip="+c.defaultNodeIP(),
		"--server-address="+fmt.Sprintf("127.0.0.1:%d", pt.kwok),
		v,
	)
}

// writePKI writes the CA, serving and client certificates, the
// service-account key, and the components' kubeconfigs and configs.
func (c *Cluster) writePKI(pt ports) error {
	ca, err := pki.NewCA("kubedag-test-ca")
	if err != nil {
		return err
	}
	c.ca = ca
	if err := ca.WriteCert(c.path("ca.crt")); err != nil {
		return err
	}
	svcIP, err := firstServiceIP(c.opts.ServiceCIDR)
	if err != nil {
		return err
	}
	loopback := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	serving, err := ca.Server("kube-apiserver",
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		append(loopback, svcIP))
	if err != nil {
		return err
	}
	if err := serving.WriteFiles(c.path("apiserver.crt"), c.path("apiserver.key")); err != nil {
		return fmt.Errorf("apiserver serving certificate: %w", err)
	}
	component, err := ca.Server("kubedag-component", []string{"localhost"}, loopback)
	if err != nil {
		return err
	}
	if err := component.WriteFiles(c.path("component.crt"), c.path("component.key")); err != nil {
		return fmt.Errorf("component serving certificate: %w", err)
	}
	saPriv, saPub, err := serviceAccountKey()
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.path("sa.key"), saPriv, 0o600); err != nil {
		return fmt.Errorf("write service-account key: %w", err)
	}
	if err := os.WriteFile(c.path("sa.pub"), saPub, 0o644); err != nil {
		return fmt.Errorf("write service-account public key: %w", err)
	}

	c.host = fmt.Sprintf("https://127.0.0.1:%d", pt.apiserver)
	for _, u := range []struct{ file, user, group string }{
		{"controller-manager.kubeconfig", "system:kube-controller-manager", ""},
		{"scheduler.kubeconfig", "system:kube-scheduler", ""},
		{"kwok.kubeconfig", "kubedag-kwok", "system:masters"},
	} {
		var groups []string
		if u.group != "" {
			groups = append(groups, u.group)
		}
		kp, err := c.clientKeyPair(u.user, groups...)
		if err != nil {
			return err
		}
		if err := writeKubeconfig(c.path(u.file), c.restConfig(kp), u.user); err != nil {
			return err
		}
	}
	sched := fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: 500
  burst: 1000
leaderElection:
  leaderElect: false
`, c.path("scheduler.kubeconfig"))
	if err := os.WriteFile(c.path("scheduler.yaml"), []byte(sched), 0o644); err != nil {
		return fmt.Errorf("write scheduler config: %w", err)
	}
	if err := os.WriteFile(c.path("kwok.yaml"), kwokStages, 0o644); err != nil {
		return fmt.Errorf("write kwok stages: %w", err)
	}
	return nil
}

func (c *Cluster) clientKeyPair(user string, groups ...string) (pki.KeyPair, error) {
	kp, err := c.ca.Client(user, groups...)
	if err != nil {
		return pki.KeyPair{}, fmt.Errorf("client certificate for %s: %w", user, err)
	}
	return kp, nil
}

func (c *Cluster) restConfig(kp pki.KeyPair) *rest.Config {
	return &rest.Config{
		Host: c.host,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   c.ca.CertPEM(),
			CertData: kp.CertPEM,
			KeyData:  kp.KeyPEM,
		},
	}
}

// httpsClient trusts the cluster CA, for the components' /healthz.
func (c *Cluster) httpsClient() *http.Client {
	return &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: c.ca.ClientTLS("")},
	}
}

func writeKubeconfig(path string, cfg *rest.Config, user string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["kubedag-test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts["kubedag-test"] = &clientcmdapi.Context{Cluster: "kubedag-test", AuthInfo: user}
	kc.CurrentContext = "kubedag-test"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// run starts one component and records it for Stop.
func (c *Cluster) run(name, bin string, args ...string) error {
	p, err := startProcess(c.spawner, name, bin, c.dir, c.logDir, args)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return nil
}

// waitFor polls check until it succeeds, a component exits, or ctx ends.
func (c *Cluster) waitFor(ctx context.Context, what string, check func(context.Context) error) error {
	const interval = 100 * time.Millisecond
	t := time.NewTicker(interval)
	defer t.Stop()
	var last error
	for {
		for _, p := range c.procs {
			if p.exited() {
				return fmt.Errorf("waiting for %s: %w", what, p.failure())
			}
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		last = check(cctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			var tails strings.Builder
			for _, p := range c.procs {
				fmt.Fprintf(&tails, "\n--- last lines of %s:\n%s", p.logPath, tail(p.logPath, 15))
			}
			return fmt.Errorf("timed out waiting for %s (last error: %v): %w%s", what, last, ctx.Err(), tails.String())
		case <-t.C:
		}
	}
}

// Stop kills every component (SIGKILL to each process group), waits for them
// to exit and removes the temp dir (Options.LogDir is kept). It is safe to
// call more than once and from several goroutines; later calls return the
// first call's result.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		var errs []error
		for i := len(c.procs) - 1; i >= 0; i-- {
			p := c.procs[i]
			if !p.exited() {
				if err := syscall.Kill(-p.Pid(), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
					errs = append(errs, fmt.Errorf("kill %s: %w", p.name, err))
				}
			}
		}
		for i := len(c.procs) - 1; i >= 0; i-- {
			if err := c.procs[i].kill(); err != nil {
				errs = append(errs, err)
			}
		}
		if c.spawner != nil {
			c.spawner.stop()
		}
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", c.dir, err))
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// Healthy returns an error, with the log tail, if a component has exited
// since Start; nil while all are running. Tests can call it to explain a
// failure.
func (c *Cluster) Healthy() error {
	var errs []error
	for _, p := range c.procs {
		if p.exited() {
			errs = append(errs, p.failure())
		}
	}
	return errors.Join(errs...)
}

// Kubeconfig returns the path of an admin kubeconfig file (for kubectl and
// helm). It is removed by Stop.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// Dir returns the cluster's temp dir (certificates, kubeconfigs, etcd data).
func (c *Cluster) Dir() string { return c.dir }

// LogDir returns the directory holding one log file per component.
func (c *Cluster) LogDir() string { return c.logDir }

// CAFile returns the path of the cluster CA certificate (PEM).
func (c *Cluster) CAFile() string { return c.path("ca.crt") }

// UserConfig returns a rest.Config that authenticates with a fresh client
// certificate as user, member of groups. RBAC decides what it may do.
func (c *Cluster) UserConfig(user string, groups ...string) (*rest.Config, error) {
	kp, err := c.clientKeyPair(user, groups...)
	if err != nil {
		return nil, err
	}
	return c.restConfig(kp), nil
}

// NodeConfig returns a rest.Config with the identity of a kubelet on node:
// CN=system:node:<node>, O=system:nodes. The Node authorizer and the
// NodeRestriction admission plugin apply, so it may, for example, list and
// watch only pods with the field selector spec.nodeName=<node>.
func (c *Cluster) NodeConfig(node string) (*rest.Config, error) {
	return c.UserConfig("system:node:"+node, "system:nodes")
}

// NodeKubeconfig writes a kubeconfig file with NodeConfig(node)'s identity,
// for an agent running as a separate process, and returns its path.
func (c *Cluster) NodeKubeconfig(node string) (string, error) {
	cfg, err := c.NodeConfig(node)
	if err != nil {
		return "", err
	}
	dir := c.path("nodes")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("node kubeconfig dir: %w", err)
	}
	p := filepath.Join(dir, node+".kubeconfig")
	if err := writeKubeconfig(p, cfg, "system:node:"+node); err != nil {
		return "", err
	}
	return p, nil
}

func (c *Cluster) path(name string) string { return filepath.Join(c.dir, name) }

// freePorts reserves n distinct free loopback ports. They are released
// before the components bind them, so a concurrent process could steal one;
// the component then fails to start with "address already in use".
func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ps := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("reserve loopback port: %w", err)
		}
		ls = append(ls, l)
		ps = append(ps, l.Addr().(*net.TCPAddr).Port)
	}
	return ps, nil
}

// firstServiceIP is the apiserver's in-cluster address: the first host of
// the service range.
func firstServiceIP(cidr string) (net.IP, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("service CIDR: %w", err)
	}
	return net.IP(p.Masked().Addr().Next().AsSlice()), nil
}

// removeStaleDirs deletes cluster dirs whose owning process is gone (a test
// binary killed before Stop); its children died with it through Pdeathsig.
func removeStaleDirs(log *slog.Logger) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempDirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			if err := os.RemoveAll(d); err == nil {
				log.Info("removed stale cluster dir", "dir", d, "owner", pid)
			}
		}
	}
}

// isNotFound reports whether err is a Kubernetes NotFound error.
func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
