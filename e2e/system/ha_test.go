package system

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubedag/kubedag/e2e/childproc"
	"github.com/kubedag/kubedag/e2e/cluster"
	"github.com/kubedag/kubedag/e2e/dnstest"
)

// haPrefix is the tag prefix of the HA pair's cluster: its tags never mix
// with those of the system's own aggregator on the shared emulator.
const haPrefix = "k8s.cl_ha"

// haAgg is one aggregator replica of the HA pair.
type haAgg struct {
	*proc
	ip     netip.Addr // its stream listens here
	health string
}

func (a *haAgg) metric(ctx context.Context, name string) float64 {
	v, err := metricSum(ctx, a.health, name)
	if err != nil {
		return -1
	}
	return v
}

// TestHAKillAndFreeze runs a second cluster's aggregators as a hot-standby
// pair of processes (own tag prefix, own Lease) on the real kube-apiserver,
// with agent processes that resolve one DNS name (e2e/dnstest standing in
// for the headless Service) and stream to both. Under pod churn it kills
// the leader with SIGKILL and measures the time until the new leader's
// first registration shows on the emulator; no live tag may go missing.
// Then it freezes the new leader with SIGSTOP until the other replica
// leads, resumes it, and checks it made no successful firewall call after
// it was frozen (its Lease had lapsed: fencing).
func TestHAKillAndFreeze(t *testing.T) {
	ctx := t.Context()
	bin := e2eBinary(t)
	dns, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	port := haPort(t)
	cfgPath := haConfig(t)
	aggs := map[string]*haAgg{}
	for i, id := range []string{"ha-a", "ha-b"} {
		aggs[id] = startHAAgg(t, bin, id, netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)}), port, cfgPath)
	}
	dns.Set("aggregator.ha.test", aggs["ha-a"].ip, aggs["ha-b"].ip)

	nodes := sys.webNodes[:2]
	for _, node := range nodes {
		a := haAgent(ctx, t, bin, node, fmt.Sprintf("dns://%s/aggregator.ha.test:%d", dns.Addr(), port))
		t.Cleanup(func() { _ = a.kill() })
	}
	leaderOf := func() (*haAgg, *haAgg) {
		for id, a := range aggs {
			if a.metric(ctx, "kubedag_leader") == 1 {
				other := aggs["ha-a"]
				if id == "ha-a" {
					other = aggs["ha-b"]
				}
				return a, other
			}
		}
		return nil, nil
	}
	poll(ctx, t, time.Minute, "a leader, and both replicas streamed by both agents", func() bool {
		l, s := leaderOf()
		return l != nil && l.metric(ctx, "kubedag_stream_connections") == 2 && s.metric(ctx, "kubedag_stream_connections") == 2
	})

	ns := sys.newNamespace(t, "ha")
	haTag := haPrefix + ".ns_" + sanitize(ns)
	ch := startChurn(ctx, t, ns, nodes)
	// Pods exist and are tagged before the kill: they must stay tagged.
	poll(ctx, t, time.Minute, "churned pods tagged", func() bool { return len(ch.tagged(ctx, t, haTag)) >= 5 })
	live := state{}
	for _, ip := range ch.tagged(ctx, t, haTag) {
		live[ip] = []string{haTag}
	}
	sm := sys.startSampler(ctx, keepsLive(live))

	leader, standby := leaderOf()
	// A standby holds the same state as the leader: report both (the
	// 10k-pod comparison issue 15 asks for is not measured here).
	t.Logf("before the kill, %d churned pods: leader %s, standby %s", len(ch.tagged(ctx, t, haTag)), procUsage(leader.Pid()), procUsage(standby.Pid()))
	before := ch.tagged(ctx, t, haTag)
	killed := time.Now()
	if err := leader.kill(); err != nil {
		t.Fatal(err)
	}
	// The first IP tagged after the kill was registered by the new leader.
	var firstPush time.Duration
	poll(ctx, t, 30*time.Second, "a registration by the new leader", func() bool {
		if len(ch.tagged(ctx, t, haTag)) > len(before) {
			firstPush = time.Since(killed)
			return true
		}
		return false
	})
	if n, err := sm.stop(); err != nil {
		t.Errorf("after %d samples: %v", n, err)
	}
	t.Logf("kill -9 of the leader: new leader's first registration on the emulator %s after the kill (goal 5s; includes up to 100ms of sampling)", firstPush.Round(time.Millisecond))
	if firstPush > 15*time.Second {
		t.Errorf("takeover took %s", firstPush)
	}

	// The killed replica comes back as a standby; then the leader freezes.
	if err := leader.start(); err != nil {
		t.Fatal(err)
	}
	leader, standby = standby, leader
	poll(ctx, t, time.Minute, "the restarted replica streamed by both agents", func() bool {
		return standby.metric(ctx, "kubedag_stream_connections") == 2
	})
	ch.pause(true)
	okCalls := func(a *haAgg) float64 { return metricWhere(ctx, a.health, "kubedag_api_calls_total", `result="ok"`) }
	var frozenCalls float64
	poll(ctx, t, 30*time.Second, "the leader idle", func() bool {
		c := okCalls(leader)
		time.Sleep(time.Second) // no event says "idle": two readings a second apart agree
		frozenCalls = okCalls(leader)
		return c == frozenCalls && c >= 0
	})
	if err := syscall.Kill(leader.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	ch.pause(false)
	poll(ctx, t, 30*time.Second, "the standby leads", func() bool { return standby.metric(ctx, "kubedag_leader") == 1 })
	took := time.Since(frozen)
	n := len(ch.tagged(ctx, t, haTag))
	poll(ctx, t, 30*time.Second, "the new leader registers churn", func() bool { return len(ch.tagged(ctx, t, haTag)) > n })
	if err := syscall.Kill(leader.Pid(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	poll(ctx, t, 30*time.Second, "the resumed replica knows it does not lead", func() bool { return leader.metric(ctx, "kubedag_leader") == 0 })
	time.Sleep(2 * time.Second) // absence of calls: nothing to wait for
	if c := okCalls(leader); c != frozenCalls {
		t.Errorf("the frozen leader made %v successful firewall calls after it resumed with its Lease lapsed", c-frozenCalls)
	}
	fenced := strings.Count(readFile(t, leader.logPath), "fenced")
	t.Logf("SIGSTOP of the leader: the standby led %s after the freeze; the resumed replica made no successful call (%d fenced attempts logged)", took.Round(time.Millisecond), fenced)
	ch.stop()
}

func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func poll(ctx context.Context, t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) { return cond(), nil }); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// metricWhere sums the samples of name whose labels contain label; -1 if
// /metrics cannot be read.
func metricWhere(ctx context.Context, addr, name, label string) float64 {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return -1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return -1
	}
	var sum float64
	for line := range strings.Lines(string(b)) {
		if !strings.HasPrefix(line, name+"{") || !strings.Contains(line, label) {
			continue
		}
		var v float64
		if f := strings.Fields(line[strings.LastIndex(line, "}")+1:]); len(f) > 0 {
			if _, err := fmt.Sscan(f[0], &v); err == nil {
				sum += v
			}
		}
	}
	return sum
}

// e2eBinary is the kubedag binary setup built.
func e2eBinary(t *testing.T) string {
	return filepath.Join(sys.dir, "kubedag")
}

// haAgent starts an agent process for node streaming to addr, with a
// token bound to its own pod (labelled for the HA pair's snapshot gate).
func haAgent(ctx context.Context, t *testing.T, bin, node, addr string) *proc {
	t.Helper()
	pod, err := sys.c.Client.CoreV1().Pods(systemNS).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "kubedag-ha-agent-" + node, Labels: map[string]string{"app": "kubedag-ha-agent"}},
		Spec: corev1.PodSpec{NodeName: node, HostNetwork: true, ServiceAccountName: "kubedag-agent",
			AutomountServiceAccountToken: new(false), TerminationGracePeriodSeconds: new(int64(0)),
			Containers: []corev1.Container{{Name: "agent", Image: "kubedag:e2e"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sys.c.Client.CoreV1().Pods(systemNS).Delete(context.Background(), pod.Name, metav1.DeleteOptions{})
	})
	tr, err := sys.c.Client.CoreV1().ServiceAccounts(systemNS).CreateToken(ctx, "kubedag-agent", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{cluster.KubedagAudience}, ExpirationSeconds: new(int64(3600)),
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok := filepath.Join(sys.dir, "ha-token-"+node)
	if err := os.WriteFile(tok, []byte(tr.Status.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := sys.c.NodeKubeconfig(node)
	if err != nil {
		t.Fatal(err)
	}
	hp, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	p := newProc(sys.sp, sys.dir, "ha-agent-"+node, bin, "agent", "--node-name", node, "--aggregator", addr,
		"--aggregator-resolve-interval", "200ms", "--server-name", "127.0.0.1",
		"--ca-file", filepath.Join(sys.dir, "stream-ca.pem"), "--token-file", tok, "--ip-source", "api",
		"--health-listen", fmt.Sprintf("127.0.0.1:%d", hp[0]), "--kubeconfig", kubeconfig)
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	return p
}

// churn creates a pod every 150ms on nodes, round robin, until stopped.
type churn struct {
	ns     string
	mu     sync.Mutex
	paused bool
	cancel context.CancelFunc
	done   chan struct{}
}

func startChurn(ctx context.Context, t *testing.T, ns string, nodes []string) *churn {
	ctx, cancel := context.WithCancel(ctx)
	c := &churn{ns: ns, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for i := 0; ctx.Err() == nil; i++ {
			c.mu.Lock()
			paused := c.paused
			c.mu.Unlock()
			if !paused {
				_, err := sys.c.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("churn-%d", i), Labels: map[string]string{"app": "churn"}},
					Spec: corev1.PodSpec{NodeName: nodes[i%len(nodes)], AutomountServiceAccountToken: new(false),
						TerminationGracePeriodSeconds: new(int64(0)),
						Containers:                    []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}}},
				}, metav1.CreateOptions{})
				if err != nil && ctx.Err() == nil {
					t.Errorf("churn: %v", err)
					return
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(150 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(c.stop)
	return c
}

func (c *churn) pause(p bool) {
	c.mu.Lock()
	c.paused = p
	c.mu.Unlock()
}

func (c *churn) stop() {
	c.cancel()
	<-c.done
}

// tagged lists the IPs of the churn namespace's Running pods whose tag is
// on the emulator.
func (c *churn) tagged(ctx context.Context, t *testing.T, tag string) []string {
	pods, err := sys.c.Client.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	reg, err := sys.simRegistered(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, p := range pods.Items {
		if p.Status.PodIP == "" {
			continue
		}
		ip := canonical(p.Status.PodIP)
		for _, tg := range reg[ip] {
			if tg == tag {
				out = append(out, ip)
				break
			}
		}
	}
	return out
}

// haConfig writes the HA pair's configuration: cluster "ha" on the
// system's emulator.
func haConfig(t *testing.T) string {
	t.Helper()
	cfg := fmt.Sprintf(`cluster: ha
targets:
  - name: fw1
    url: %s
    kind: firewall
    apiKeyFile: %s
    caFile: %s
    timeout: 5s
`, sys.simURL, filepath.Join(sys.dir, "api-key"), filepath.Join(sys.dir, "panos-sim-ca.pem"))
	cfgPath := filepath.Join(sys.dir, "ha.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath
}

// startHAAgg starts replica id of the HA pair, its stream on ip:port.
func startHAAgg(t *testing.T, bin, id string, ip netip.Addr, port int, cfgPath string) *haAgg {
	t.Helper()
	hp, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	a := &haAgg{ip: ip, health: fmt.Sprintf("127.0.0.1:%d", hp[0])}
	args := []string{"aggregator", "--config", cfgPath, "--kubeconfig", sys.c.Kubeconfig(),
		"--listen", fmt.Sprintf("%s:%d", a.ip, port),
		"--tls-cert-file", filepath.Join(sys.dir, "stream.crt"), "--tls-key-file", filepath.Join(sys.dir, "stream.key"),
		"--health-listen", a.health,
		"--leader-elect=true", "--leader-election-namespace", systemNS, "--leader-election-id", "kubedag-ha",
		"--agent-users", "system:serviceaccount:" + systemNS + ":kubedag-agent",
		"--agent-selector", "app=kubedag-ha-agent", "--agent-namespace", systemNS,
		"--resync-interval", "30m"}
	logPath := filepath.Join(sys.dir, id+".log")
	a.proc = &proc{Proc: childproc.New(sys.sp.Spawner, childproc.Config{Name: id, Bin: bin, Args: args, LogPath: logPath,
		Env: []string{"POD_NAME=" + id, "POD_NAMESPACE=" + systemNS}}), logPath: logPath, args: args}
	if err := a.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(a.Pid(), syscall.SIGCONT)
		_ = a.kill()
		if t.Failed() {
			t.Logf("%s log:\n%s", id, tail(logPath, 40))
		}
	})
	return a
}

// haPort is a port free on 127.0.0.2 (and, most likely, the other
// loopback addresses the replicas use).
func haPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestHARollingUpdate replaces both replicas of the HA pair one at a time,
// as the chart's rolling update does (a new replica up and streamed by
// the agents, then an old one stopped with SIGTERM), under pod churn, and
// measures the longest gap between registrations: at most about one Lease
// retry period at the leader's handover.
func TestHARollingUpdate(t *testing.T) {
	ctx := t.Context()
	bin := e2eBinary(t)
	dns, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	port := haPort(t)
	cfgPath := haConfig(t)
	ips := []netip.Addr{}
	for i := range 4 {
		ips = append(ips, netip.AddrFrom4([4]byte{127, 0, 0, byte(12 + i)}))
	}
	aggs := []*haAgg{startHAAgg(t, bin, "ru-a", ips[0], port, cfgPath), startHAAgg(t, bin, "ru-b", ips[1], port, cfgPath)}
	dns.Set("aggregator.ha.test", ips[0], ips[1])
	nodes := sys.webNodes[:2]
	for _, node := range nodes {
		a := haAgent(ctx, t, bin, node, fmt.Sprintf("dns://%s/aggregator.ha.test:%d", dns.Addr(), port))
		t.Cleanup(func() { _ = a.kill() })
	}
	streamed := func(a *haAgg) func() bool {
		return func() bool { return a.metric(ctx, "kubedag_stream_connections") == 2 }
	}
	poll(ctx, t, time.Minute, "both replicas streamed", func() bool { return streamed(aggs[0])() && streamed(aggs[1])() })

	ns := sys.newNamespace(t, "harollout")
	haTag := haPrefix + ".ns_" + sanitize(ns)
	ch := startChurn(ctx, t, ns, nodes)
	poll(ctx, t, time.Minute, "churned pods tagged", func() bool { return len(ch.tagged(ctx, t, haTag)) >= 5 })
	// Watch the registrations: the longest time without a new one.
	var (
		mu      sync.Mutex
		maxGap  time.Duration
		gapDone = make(chan struct{})
	)
	gctx, stopGaps := context.WithCancel(ctx)
	go func() {
		defer close(gapDone)
		last, n := time.Now(), len(ch.tagged(gctx, t, haTag))
		for gctx.Err() == nil {
			if m := len(ch.tagged(gctx, t, haTag)); m > n {
				mu.Lock()
				maxGap = max(maxGap, time.Since(last))
				mu.Unlock()
				last, n = time.Now(), m
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	// Roll: for each old replica, a new one joins (the headless Service
	// lists it once Ready), the agents stream to it, then the old one goes.
	for i, old := range aggs {
		nu := startHAAgg(t, bin, fmt.Sprintf("ru-new-%d", i), ips[2+i], port, cfgPath)
		if i == 0 {
			dns.Set("aggregator.ha.test", ips[0], ips[1], ips[2])
		} else {
			dns.Set("aggregator.ha.test", ips[1], ips[2], ips[3])
		}
		poll(ctx, t, time.Minute, "the new replica streamed", streamed(nu))
		if i == 0 {
			dns.Set("aggregator.ha.test", ips[1], ips[2])
		} else {
			dns.Set("aggregator.ha.test", ips[2], ips[3])
		}
		if err := old.Stop(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second) // churn under the new set: no event marks "enough"
	}
	stopGaps()
	<-gapDone
	ch.stop()
	t.Logf("rolling update of both replicas under churn (a pod every 150ms): longest gap between registrations %s (Lease retry period 1s)", maxGap.Round(time.Millisecond))
	if maxGap > 3*time.Second {
		t.Errorf("a %s gap in pushing during the rolling update", maxGap)
	}
}

// procUsage reports a process's resident memory and CPU time so far.
func procUsage(pid int) string {
	u, err := childproc.ReadUsage(pid)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("RSS %d kB, CPU %s", u.RSS>>10, u.CPU)
}
