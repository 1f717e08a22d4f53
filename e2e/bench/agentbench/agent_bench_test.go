//go:build linux

package agentbench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kubedag/kubedag/aggregator/stream"
	"github.com/kubedag/kubedag/aggregator/stream/streamtest"
	"github.com/kubedag/kubedag/e2e/childproc"
	"github.com/kubedag/kubedag/e2e/cluster"
	"github.com/kubedag/kubedag/e2e/pki"
)

// The workload: ownPods on the agent's node and podsPerOther on each of
// otherNodes, each group spread over groups Services (so EndpointSlices
// exist). Churn, every tick: one own and one foreign pod relabelled; every
// replaceEvery ticks: one own and one foreign pod deleted and replaced by a
// new pod (new name, same Service). That is 10 relabels/s and 2
// replacements/s on the agent's node, and as much elsewhere.
const (
	ownPods      = 250
	otherNodes   = 4
	podsPerOther = 250
	groups       = 10
	tick         = 100 * time.Millisecond
	replaceEvery = 5
	churnFor     = 20 * time.Second
	idleFor      = 5 * time.Second
	sampleEvery  = 250 * time.Millisecond
	waitLimit    = 3 * time.Minute
)

const token = "agent-bench-token"

type benchPod struct{ name, app, node string }

type env struct {
	c         *cluster.Cluster
	ns, me    string
	bins      string
	dir       string
	aggAddr   string
	caFile    string
	tokenFile string
	sink      *streamtest.Sink
	own, far  []benchPod // live pods, on the agent's node and elsewhere
	gen, k    int        // replacement and relabel counters
	ticks     int        // churn ticks of the last churn
	results   []result   // one per measured process, for -agentbench.report
}

// BenchmarkAgentRSS runs `kubedag agent --ip-source api` for a node with
// 250 pods (1250 in the cluster) and measures its RSS and CPU after sync,
// under churn and idle; then the allpods baseline the same way. The agent
// must end up streaming exactly its node's pods with their current labels.
// Metrics (per sub-benchmark): MiB-RSS-synced, MiB-RSS-churn-max,
// MiB-RSS-churn-avg, MiB-RSS-idle, MiB-HWM (peak of the process's life),
// cpu-ms/s-churn, cpu-ms/s-idle (CPU milliseconds per second).
func BenchmarkAgentRSS(b *testing.B) {
	e := setup(b)
	defer func() {
		if *reportFile != "" && !b.Failed() {
			if err := writeReport(*reportFile, e.results); err != nil {
				b.Error(err)
			}
		}
	}()
	// The shipped agent binary, then the same agent command run from the
	// all-in-one kubedag binary (what the DaemonSet ran before
	// kubedag-agent existed): the difference is the binary's pages.
	b.Run("agent", func(b *testing.B) {
		p := e.startAgent(b, "kubedag-agent")
		e.measure(b, p, e.agentConverged)
	})
	b.Run("agent-allinone", func(b *testing.B) {
		p := e.startAgent(b, "kubedag")
		e.measure(b, p, e.agentConverged)
	})
	b.Run("allpods", func(b *testing.B) {
		p := e.startAllPods(b)
		e.measure(b, p, func(context.Context) string { return "" })
	})
}

func setup(b *testing.B) *env {
	b.Helper()
	e := &env{c: sharedCluster(b), dir: b.TempDir()}
	e.bins = buildBinaries(b, e.dir) // before the deadline: a cold build may take minutes
	ctx, cancel := context.WithTimeout(b.Context(), waitLimit)
	defer cancel()

	var err error
	if e.ns, err = e.c.CreateNamespace(ctx, "agentbench"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.c.DeleteNamespace(context.Background(), e.ns) })
	nodes, err := e.c.CreateNodes(ctx, "agentbench", 1+otherNodes)
	if err != nil {
		b.Fatal(err)
	}
	if err := e.c.WaitNodesReady(ctx, nodes...); err != nil {
		b.Fatal(err)
	}
	e.me = nodes[0]
	e.grantWatch(b)

	// Pods and the Services they back.
	for g := range groups {
		for _, side := range []struct {
			prefix string
			n      int
			nodes  []string
			into   *[]benchPod
		}{
			{fmt.Sprintf("own%d", g), ownPods / groups, nodes[:1], &e.own},
			{fmt.Sprintf("far%d", g), podsPerOther * otherNodes / groups, nodes[1:], &e.far},
		} {
			if err := e.createService(ctx, side.prefix); err != nil {
				b.Fatal(err)
			}
			names, err := e.c.CreatePods(ctx, cluster.PodBatch{Namespace: e.ns, Prefix: side.prefix, Count: side.n, Nodes: side.nodes})
			if err != nil {
				b.Fatal(err)
			}
			for i, n := range names {
				*side.into = append(*side.into, benchPod{name: n, app: side.prefix, node: side.nodes[i%len(side.nodes)]})
			}
		}
	}
	if _, err := e.c.WaitPodsRunning(ctx, e.ns, "", ownPods+podsPerOther*otherNodes); err != nil {
		b.Fatal(err)
	}

	// The aggregator's stream server, in process, trusting one token.
	tlsc := pki.NewTestTLS(b, streamtest.ServerName)
	e.caFile = tlsc.CAFile
	e.tokenFile = filepath.Join(e.dir, "token")
	if err := os.WriteFile(e.tokenFile, []byte(token), 0o600); err != nil {
		b.Fatal(err)
	}
	e.sink = streamtest.NewSink()
	srv, err := stream.NewServer(stream.Config{Sink: e.sink, Authenticator: streamtest.StaticAuth{token: e.me}})
	if err != nil {
		b.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	e.aggAddr = lis.Addr().String()
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, lis, tlsc.Server) }()
	b.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			b.Errorf("stream server: %v", err)
		}
	})
	return e
}

// buildBinaries builds kubedag-agent, kubedag and allpods into dir the way
// `make build` builds the shipped binaries (static, trimmed, stripped; no -race), so the
// RSS measured is the RSS of what runs in the DaemonSet.
func buildBinaries(b *testing.B, dir string) string {
	b.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		b.Fatalf("go env GOMOD: %v", err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", dir+"/", "./cmd/kubedag-agent", "./cmd/kubedag", "./e2e/bench/agentbench/allpods")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// grantWatch lets the node identity list and watch namespaces, as the
// chart's agent role does (its own pods the Node authorizer allows with the
// spec.nodeName field selector; EndpointSlices the agent does not read).
func (e *env) grantWatch(b *testing.B) {
	b.Helper()
	ctx := b.Context()
	name := "agentbench-" + e.me
	rbac := e.c.Client.RbacV1()
	cr := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"list", "watch"}},
		},
	}
	if _, err := rbac.ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = rbac.ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "system:node:" + e.me}},
	}
	if _, err := rbac.ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = rbac.ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

func (e *env) createService(ctx context.Context, app string) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: e.ns},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": app},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := e.c.Client.CoreV1().Services(e.ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create service %s: %w", app, err)
	}
	return nil
}

// proc is a measured child process (e2e/childproc: its own process group,
// Pdeathsig from a locked thread, stderr to a log file), its stdout read
// line by line.
type proc struct {
	*childproc.Proc
	name  string
	lines chan string // stdout lines; closed at EOF
	// metrics is the address serving /metrics with Go runtime metrics, if
	// any.
	metrics string
}

// spawner forks every child; its thread lives as long as the benchmark
// binary, so the children die with it.
var spawner = sync.OnceValue(childproc.NewSpawner)

func startProc(b *testing.B, dir, name, bin string, args ...string) *proc {
	b.Helper()
	pr, pw := io.Pipe()
	p := &proc{name: name, lines: make(chan string, 16)}
	p.Proc = childproc.New(spawner(), childproc.Config{Name: name, Bin: bin, Args: args,
		LogPath: filepath.Join(dir, name+".log"), Truncate: true, Stdout: pw})
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { <-p.Done(); pw.Close() }()
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default: // nobody listens: drop
			}
		}
	}()
	b.Cleanup(func() { p.stop(b) })
	return p
}

// alive returns an error with the log's tail if the process exited.
func (p *proc) alive() error { return p.Alive() }

// stop sends SIGTERM and waits, then kills after 20s. Safe to call twice.
func (p *proc) stop(b *testing.B) {
	if err := p.Stop(20 * time.Second); err != nil {
		b.Error(err)
	}
}

// startAgent runs the agent command of binary (kubedag-agent or kubedag).
func (e *env) startAgent(b *testing.B, binary string) *proc {
	b.Helper()
	kc, err := e.c.NodeKubeconfig(e.me)
	if err != nil {
		b.Fatal(err)
	}
	health := freeAddr(b)
	p := startProc(b, e.dir, binary, filepath.Join(e.bins, binary), "agent",
		"--node-name", e.me, "--kubeconfig", kc, "--ip-source", "api",
		"--aggregator", e.aggAddr, "--ca-file", e.caFile, "--server-name", streamtest.ServerName,
		"--token-file", e.tokenFile, "--health-listen", health, "--log-level", "warn")
	p.metrics = health
	return p
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(b *testing.B) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// heapInuse scrapes go_memstats_heap_inuse_bytes from addr's /metrics.
func heapInuse(ctx context.Context, addr string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("go_memstats_heap_inuse_bytes %q: %w", v, err)
			}
			return int64(f), nil
		}
	}
	return 0, fmt.Errorf("no go_memstats_heap_inuse_bytes in /metrics of %s (%v)", addr, sc.Err())
}

func (e *env) startAllPods(b *testing.B) *proc {
	b.Helper()
	metrics := freeAddr(b)
	p := startProc(b, e.dir, "allpods", filepath.Join(e.bins, "allpods"), "--kubeconfig", e.c.Kubeconfig(), "--metrics-listen", metrics)
	p.metrics = metrics
	want := fmt.Sprintf("pods=%d ", len(e.own)+len(e.far))
	timeout := time.After(waitLimit)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				b.Fatalf("allpods: no sync line: %v", p.alive())
			}
			if strings.HasPrefix(line, "synced ") {
				if !strings.Contains(line, want) {
					b.Fatalf("allpods %q, want %s(the whole cluster)", line, want)
				}
				b.Logf("allpods %s", line)
				return p
			}
		case <-timeout:
			b.Fatalf("allpods not synced in %v", waitLimit)
		}
	}
}

// agentConverged returns "" once the aggregator holds exactly the IPs of
// the Running pods on the agent's node, each with the pod's current
// labels; else what differs.
func (e *env) agentConverged(ctx context.Context) string {
	list, err := e.c.Client.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", e.me).String(),
	})
	if err != nil {
		return fmt.Sprintf("list pods: %v", err)
	}
	want := map[netip.Addr]*corev1.Pod{}
	for i := range list.Items {
		p := &list.Items[i]
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		for _, pip := range p.Status.PodIPs {
			if ip, err := netip.ParseAddr(pip.IP); err == nil {
				want[ip] = p
			}
		}
	}
	got, _ := e.sink.Claims(e.me)
	var diffs []string
	for ip, c := range got {
		p, ok := want[ip]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("unexpected %s (%s)", ip, c.Identity.Name))
		case c.Identity.Name != p.Name || c.Identity.Labels["churn"] != p.Labels["churn"]:
			diffs = append(diffs, fmt.Sprintf("%s: streamed %s churn=%q, API has %s churn=%q", ip,
				c.Identity.Name, c.Identity.Labels["churn"], p.Name, p.Labels["churn"]))
		}
	}
	for ip, p := range want {
		if _, ok := got[ip]; !ok {
			diffs = append(diffs, fmt.Sprintf("missing %s (%s)", ip, p.Name))
		}
	}
	if len(want) != ownPods {
		diffs = append(diffs, fmt.Sprintf("%d pods Running on %s, want %d", len(want), e.me, ownPods))
	}
	if len(diffs) > 5 {
		diffs = append(diffs[:5], fmt.Sprintf("... %d differences", len(diffs)))
	}
	return strings.Join(diffs, "\n")
}

// await polls converged (and that p lives) every 100ms until it returns "".
func await(b *testing.B, p *proc, what string, converged func(context.Context) string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), waitLimit)
	defer cancel()
	last := ""
	for {
		if err := p.alive(); err != nil {
			b.Fatal(err)
		}
		if last = converged(ctx); last == "" {
			return
		}
		select {
		case <-ctx.Done():
			b.Fatalf("%s: %s not reached in %v:\n%s", p.name, what, waitLimit, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (e *env) measure(b *testing.B, p *proc, converged func(context.Context) string) {
	b.Helper()
	pid := p.Pid()
	sample := func() childproc.Usage {
		s, err := childproc.ReadUsage(pid)
		if err != nil {
			b.Fatalf("%v (%v)", err, p.alive())
		}
		return s
	}
	await(b, p, "initial sync", converged)
	synced := sample()

	// Churn, sampling RSS on the side.
	var (
		mu       sync.Mutex
		maxRSS   int64
		sumRSS   float64
		nSamples int
	)
	sctx, stopSampling := context.WithCancel(b.Context())
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
			s, err := childproc.ReadUsage(pid)
			if err != nil {
				continue // alive() reports it below
			}
			mu.Lock()
			maxRSS = max(maxRSS, s.RSS)
			sumRSS += float64(s.RSS)
			nSamples++
			mu.Unlock()
		}
	}()
	b.ResetTimer()
	start := sample()
	e.churn(b, p, churnFor)
	end := sample()
	stopSampling()
	<-sampled
	b.StopTimer()

	await(b, p, "convergence after churn", converged)
	time.Sleep(time.Second) // let the last events' work finish: idle starts here
	idle0 := sample()
	time.Sleep(idleFor)
	idle1 := sample()
	heap := int64(-1)
	if p.metrics != "" {
		var err error
		if heap, err = heapInuse(b.Context(), p.metrics); err != nil {
			b.Fatalf("%s: %v", p.name, err)
		}
	}
	if err := p.alive(); err != nil {
		b.Fatal(err)
	}
	p.stop(b)

	res := result{name: p.name, synced: synced.RSS, churnMax: max(maxRSS, end.RSS), idle: idle1.RSS, anon: idle1.Anon,
		file: idle1.File, heap: heap, hwm: idle1.HWM, cpuChurn: start.CPURate(end), cpuIdle: idle0.CPURate(idle1)}
	e.results = append(e.results, res)
	b.ReportMetric(mib(synced.RSS), "MiB-RSS-synced")
	b.ReportMetric(mib(max(maxRSS, end.RSS)), "MiB-RSS-churn-max")
	if nSamples > 0 {
		b.ReportMetric(sumRSS/float64(nSamples)/(1<<20), "MiB-RSS-churn-avg")
	}
	b.ReportMetric(mib(idle1.RSS), "MiB-RSS-idle")
	b.ReportMetric(mib(idle1.Anon), "MiB-RssAnon-idle")
	b.ReportMetric(mib(idle1.File), "MiB-RssFile-idle")
	if heap >= 0 {
		b.ReportMetric(mib(heap), "MiB-heap-inuse-idle")
	}
	b.ReportMetric(mib(idle1.HWM), "MiB-HWM")
	b.ReportMetric(start.CPURate(end), "cpu-ms/s-churn")
	b.ReportMetric(idle0.CPURate(idle1), "cpu-ms/s-idle")
	b.ReportMetric(float64(e.ticks)/end.At.Sub(start.At).Seconds(), "churn-ticks/s")
}

// churn applies the workload's churn for d.
func (e *env) churn(b *testing.B, p *proc, d time.Duration) {
	b.Helper()
	ctx := b.Context()
	t := time.NewTicker(tick)
	defer t.Stop()
	deadline := time.Now().Add(d)
	e.ticks = 0
	for time.Now().Before(deadline) {
		<-t.C
		if err := p.alive(); err != nil {
			b.Fatal(err)
		}
		e.k++
		e.ticks++
		for _, pods := range [][]benchPod{e.own, e.far} {
			if err := e.relabel(ctx, pods[e.k%len(pods)]); err != nil {
				b.Fatal(err)
			}
		}
		if e.k%replaceEvery == 0 {
			for _, pods := range [][]benchPod{e.own, e.far} {
				i := (e.k / replaceEvery) % len(pods)
				np, err := e.replace(ctx, pods[i])
				if err != nil {
					b.Fatal(err)
				}
				pods[i] = np
			}
		}
	}
}

func (e *env) relabel(ctx context.Context, p benchPod) error {
	patch := fmt.Sprintf(`{"metadata":{"labels":{"churn":%q}}}`, strconv.Itoa(e.k))
	if _, err := e.c.Client.CoreV1().Pods(e.ns).Patch(ctx, p.name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("relabel %s: %w", p.name, err)
	}
	return nil
}

func (e *env) replace(ctx context.Context, p benchPod) (benchPod, error) {
	if err := e.c.Client.CoreV1().Pods(e.ns).Delete(ctx, p.name, metav1.DeleteOptions{}); err != nil {
		return p, fmt.Errorf("delete %s: %w", p.name, err)
	}
	e.gen++
	names, err := e.c.CreatePods(ctx, cluster.PodBatch{
		Namespace: e.ns, Prefix: fmt.Sprintf("%s-r%d", p.app, e.gen), Count: 1,
		Nodes: []string{p.node}, Labels: map[string]string{"app": p.app},
	})
	if err != nil {
		return p, err
	}
	return benchPod{name: names[0], app: p.app, node: p.node}, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
