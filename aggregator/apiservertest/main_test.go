package apiservertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kubedag/kubedag/agent/nodestate"
	agentstream "github.com/kubedag/kubedag/agent/stream"
	"github.com/kubedag/kubedag/aggregator"
	"github.com/kubedag/kubedag/aggregator/auth"
	"github.com/kubedag/kubedag/aggregator/config"
	"github.com/kubedag/kubedag/aggregator/push"
	"github.com/kubedag/kubedag/aggregator/stream/streamtest"
	"github.com/kubedag/kubedag/e2e/cluster"
	"github.com/kubedag/kubedag/e2e/pki"
	"github.com/kubedag/kubedag/internal/syncbuf"
	"github.com/kubedag/kubedag/tags"
	"github.com/kubedag/kubedag/telemetry"
	"github.com/kubedag/kubedag/userid"
	"github.com/kubedag/kubedag/userid/panossim"
)

// One control plane and one set of OTel globals for the package: every
// aggregator the tests build records into spans and tel.
var (
	testCluster *cluster.Cluster
	spans       *tracetest.InMemoryExporter
	tel         *telemetry.Telemetry
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	spans = tracetest.NewInMemoryExporter()
	var err error
	tel, err = telemetry.Setup(ctx, telemetry.Options{Service: "kubedag-aggregator-test", SpanExporter: spans, Getenv: func(string) string { return "" }})
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: telemetry:", err)
		return 1
	}
	defer tel.Shutdown(context.Background())
	c, err := cluster.Start(ctx, cluster.Options{Kwok: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err) // fail, don't skip: says to run `make tools`
		return 1
	}
	defer c.Stop()
	testCluster = c
	return m.Run()
}

const (
	clusterName = "it"
	prefix      = "k8s.cl_" + clusterName // the k8s preset's ownership prefix
	canaryTag   = prefix + ".kubedag-canary"
	agentSA     = "kubedag-agent"
	simUser     = "kubedag"
)

// env is one test's world: its namespace and kwok nodes on the shared
// control plane, a PAN-OS emulator over TLS, the agent stream's TLS and a
// log of every User-ID update the aggregators under test sent.
type env struct {
	t        *testing.T
	ns       string
	nodes    []string
	cidrs    map[string]netip.Prefix
	sim      *panossim.Server
	password string
	tls      pki.TestTLS
	calls    *callLog
	logs     *syncbuf.Buffer // everything the aggregators and agents logged
}

func newEnv(t *testing.T, name string, nodes int) *env {
	t.Helper()
	ctx := t.Context()
	e := &env{t: t, cidrs: map[string]netip.Prefix{}, tls: pki.NewTestTLS(t, streamtest.ServerName), calls: &callLog{}, logs: &syncbuf.Buffer{},
		password: "pw-" + name + "-" + fmt.Sprint(time.Now().UnixNano())}
	ns, err := testCluster.CreateNamespace(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	e.ns = ns
	t.Cleanup(func() { testCluster.DeleteNamespace(context.Background(), ns) })
	if e.nodes, err = testCluster.CreateNodes(ctx, ns, nodes); err != nil {
		t.Fatal(err)
	}
	// Nodes are cluster-wide and the snapshot gate waits for every node's
	// agent: leave none behind for the next test.
	t.Cleanup(func() {
		for _, n := range e.nodes {
			_ = testCluster.Client.CoreV1().Nodes().Delete(context.Background(), n, metav1.DeleteOptions{})
		}
	})
	if err := testCluster.WaitNodesReady(ctx, e.nodes...); err != nil {
		t.Fatal(err)
	}
	for _, n := range e.nodes {
		node, err := testCluster.Client.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e.cidrs[n] = netip.MustParsePrefix(node.Spec.PodCIDRs[0])
	}
	if _, err := testCluster.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: agentSA}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if e.sim, err = panossim.Start(panossim.Config{Users: map[string]string{simUser: e.password}}, true, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.sim.Close() })
	return e
}

// logger writes to the test log and to e.logs (checked for secrets).
func (e *env) logger(name string) *slog.Logger {
	h := slog.NewTextHandler(io.MultiWriter(e.logs, testWriter{e.t}), &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(h).With("who", name)
}

// testWriter sends log lines to t.Log until the test ends (then drops them,
// so a late line of a stopping goroutine cannot panic).
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	defer func() { _ = recover() }()
	if !w.t.Failed() && !testing.Verbose() {
		return len(p), nil // keep quiet runs quiet; e.logs keeps everything
	}
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// runPods creates n pods app=<name> (plus labels) on node and waits until
// kwok runs them with IPs.
func (e *env) runPods(name string, n int, node string, labels map[string]string) []corev1.Pod {
	e.t.Helper()
	ctx := e.t.Context()
	if _, err := testCluster.CreatePods(ctx, cluster.PodBatch{Namespace: e.ns, Prefix: name, Count: n, Nodes: []string{node}, Labels: labels}); err != nil {
		e.t.Fatal(err)
	}
	pods, err := testCluster.WaitPodsRunning(ctx, e.ns, "app="+name, n)
	if err != nil {
		e.t.Fatal(err)
	}
	return pods
}

// createService creates a ClusterIP Service name selecting app=<name>
// (port 80 to 8080).
func (e *env) createService(name string) *corev1.Service {
	e.t.Helper()
	svc, err := testCluster.Client.CoreV1().Services(e.ns).Create(e.t.Context(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return svc
}

// podClaim is what a node's agent claims for a real pod: the aggregator
// accepts only the identity the API server gives it (services are those
// whose EndpointSlices list the pod; namespaces carry their name label).
func podClaim(p corev1.Pod, services ...string) nodestate.Claim {
	return nodestate.Claim{
		IP: netip.MustParseAddr(p.Status.PodIP),
		Identity: tags.Identity{Kind: tags.KindPod, Namespace: p.Namespace, Name: p.Name, UID: string(p.UID),
			Labels: maps.Clone(p.Labels), Services: services,
			NamespaceLabels: map[string]string{corev1.LabelMetadataName: p.Namespace}},
		FirstSeen: time.Now(),
	}
}

// fakeAgent is the real agent stream client with a hand-fed nodestate: the
// test plays the pod watcher.
type fakeAgent struct {
	node   string
	state  *nodestate.State
	client *agentstream.Client
	token  string
	stop   func() // ends the client and waits for it; idempotent
}

// startAgent runs an agent for node that reaches the aggregator at addr
// (extra dial options may route it), authenticating with a projected
// ServiceAccount token (audience kubedag) bound to an agent pod on node.
func (e *env) startAgent(node, addr string, dial ...grpc.DialOption) *fakeAgent {
	e.t.Helper()
	return e.startAgentWith(node, func(c *agentstream.Config) { c.Addr, c.DialOptions = addr, dial })
}

// startAgentWith is startAgent with the stream's address (and anything
// else) set by set.
func (e *env) startAgentWith(node string, set func(*agentstream.Config)) *fakeAgent {
	e.t.Helper()
	ctx := e.t.Context()
	pod, err := testCluster.Client.CoreV1().Pods(e.ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "agent-" + node},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			ServiceAccountName:            agentSA,
			AutomountServiceAccountToken:  new(false),
			TerminationGracePeriodSeconds: new(int64(0)),
			Containers:                    []corev1.Container{{Name: "agent", Image: "kubedag:test"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	tr, err := testCluster.Client.CoreV1().ServiceAccounts(e.ns).CreateToken(ctx, agentSA, &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{
		Audiences:         []string{auth.Audience},
		ExpirationSeconds: new(int64(3600)),
		BoundObjectRef:    &authnv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("TokenRequest: %v", err)
	}
	tokFile := filepath.Join(e.t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte(tr.Status.Token), 0o600); err != nil {
		e.t.Fatal(err)
	}
	a := &fakeAgent{node: node, state: nodestate.New(), token: tr.Status.Token}
	cfg := agentstream.Config{
		Node: node, State: a.state, TLS: e.tls.Client, TokenFile: tokFile,
		AckTimeout: 10 * time.Second, BackoffMin: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
		Logger: e.logger("agent " + node),
	}
	set(&cfg)
	a.client, err = agentstream.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.client.Run(runCtx) }()
	a.stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("agent %s: %v", node, err)
		}
	})
	e.t.Cleanup(a.stop)
	return a
}

// configYAML is the aggregator's configuration file for the test's
// emulator, credentials in files like a mounted Secret.
func (e *env) config(target, extra string) *config.Config {
	e.t.Helper()
	dir := e.t.TempDir()
	user, pass := filepath.Join(dir, "username"), filepath.Join(dir, "password")
	if err := os.WriteFile(user, []byte(simUser+"\n"), 0o600); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(pass, []byte(e.password+"\n"), 0o600); err != nil {
		e.t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf(`cluster: %s
batchInterval: 20ms
targets:
- name: %s
  url: %s
  usernameFile: %s
  passwordFile: %s
  timeout: 10s
%s`, clusterName, target, e.sim.URL, user, pass, extra)))
	if err != nil {
		e.t.Fatal(err)
	}
	return cfg
}

// runningAgg is an aggregator running in the background.
type runningAgg struct {
	agg    *aggregator.Aggregator
	addr   string // agent stream
	health string // /healthz, /readyz, /metrics
	stop   context.CancelFunc
	done   chan error
}

// kill stops the aggregator and waits for Run to return.
func (r *runningAgg) kill(t *testing.T) {
	t.Helper()
	r.stop()
	select {
	case err := <-r.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("aggregator Run: %v", err)
		}
		r.done <- nil // for the cleanup
	case <-time.After(time.Minute):
		t.Fatal("aggregator Run did not return within a minute of its ctx ending")
	}
}

// startAggregator builds and runs an aggregator on loopback listeners;
// tweak adjusts its Options. Its target clients trust the emulator's CA
// and record every update in e.calls under name.
func (e *env) startAggregator(name string, cfg *config.Config, tweak func(*aggregator.Options)) *runningAgg {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	opts := aggregator.Options{
		Config:         cfg,
		Client:         testCluster.Client,
		StreamListener: ln,
		StreamTLS:      e.tls.Server,
		HealthListener: hln,
		Telemetry:      tel,
		SnapshotGrace:  time.Minute,
		AgentUsers:     []string{"system:serviceaccount:" + e.ns + ":" + agentSA},
		NewFirewall: func(_ config.Target, c userid.Config) (push.Firewall, error) {
			c.RootCAs = e.sim.CAPool
			fw, err := userid.New(c)
			if err != nil {
				return nil, err
			}
			return &recordingFirewall{Client: fw, who: name, log: e.calls}, nil
		},
		Logger: e.logger(name),
	}
	if tweak != nil {
		tweak(&opts)
	}
	agg, err := aggregator.New(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningAgg{agg: agg, addr: ln.Addr().String(), health: hln.Addr().String(), stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- agg.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// recordingFirewall logs every Update before passing it on; the rest of
// the client (DAG reads, config) is the real one.
type recordingFirewall struct {
	*userid.Client
	who string
	log *callLog
}

func (f *recordingFirewall) Update(ctx context.Context, u push.Update) (push.UpdateResult, error) {
	f.log.add(f.who, u)
	return f.Client.Update(ctx, u)
}

// sentEntry is one entry of one Update an aggregator sent.
type sentEntry struct {
	At         time.Time
	Who        string
	Unregister bool
	IP         netip.Addr
	Tags       []string
}

type callLog struct {
	mu      sync.Mutex
	entries []sentEntry
}

func (l *callLog) add(who string, u push.Update) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	for _, en := range u.Unregister {
		l.entries = append(l.entries, sentEntry{At: now, Who: who, Unregister: true, IP: en.IP, Tags: tagNames(en.Tags)})
	}
	for _, en := range u.Register {
		l.entries = append(l.entries, sentEntry{At: now, Who: who, IP: en.IP, Tags: tagNames(en.Tags)})
	}
}

func (l *callLog) all() []sentEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.entries)
}

func tagNames(ts []userid.Tag) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Name
	}
	return out
}

// eventually polls cond until it holds or timeout passes; cond returns a
// description of the state for the failure message.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s: still %s", timeout, what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// owned returns the emulator's registrations restricted to tags with our
// prefix (IPs left with none are dropped).
func owned(reg map[netip.Addr][]string) map[netip.Addr][]string {
	out := map[netip.Addr][]string{}
	for ip, ts := range reg {
		var mine []string
		for _, t := range ts {
			// The TTL floor marker (on aggregator.DefaultFloorIP) changes
			// with time: the canary stands for it.
			if strings.HasPrefix(t, prefix+".") && !strings.HasPrefix(t, canaryTag+".ttl-floor.") {
				mine = append(mine, t)
			}
		}
		if len(mine) > 0 {
			out[ip] = mine
		}
	}
	return out
}

// sorted returns ts sorted (a copy).
func sorted(ts ...string) []string {
	out := slices.Clone(ts)
	slices.Sort(out)
	return out
}

func equalRegs(a, b map[netip.Addr][]string) bool {
	return maps.EqualFunc(a, b, func(x, y []string) bool { return slices.Equal(sorted(x...), sorted(y...)) })
}

// withAPIServerService adds the default/kubernetes Service's ClusterIP to
// want, with the k8s preset's tags for it (namespace, service, labels):
// the aggregator tags every Service of the cluster.
func withAPIServerService(t *testing.T, want map[netip.Addr][]string) map[netip.Addr][]string {
	t.Helper()
	svc, err := testCluster.Client.CoreV1().Services("default").Get(t.Context(), "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns := prefix + ".ns_default"
	ts := []string{ns, ns + ".svc_kubernetes"}
	for k, v := range svc.Labels {
		ts = append(ts, ns+"."+k+"."+v)
	}
	want[netip.MustParseAddr(svc.Spec.ClusterIP)] = ts
	return want
}
