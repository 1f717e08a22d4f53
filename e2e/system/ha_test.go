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
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubedag/kubedag/aggregator/leader"
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
// for the headless Service) and stream to both. Under pod churn, and with
// IPs handed from pod to pod across two VPC-style nodes all along (see
// reuser), it kills the leader with SIGKILL and measures the time until
// the new leader's first registration shows on the emulator. Then it
// freezes the new leader with SIGSTOP until the other replica leads,
// resumes it, and checks it made no successful firewall call after it was
// frozen (its Lease had lapsed: fencing). haWatch samples the emulator
// every 25 ms throughout: no live tag unregistered, no reused IP with a
// tag its owner lacks.
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

	addr := fmt.Sprintf("dns://%s/aggregator.ha.test:%d", dns.Addr(), port)
	nodes := sys.webNodes[:2]
	for _, node := range nodes {
		a := haAgent(ctx, t, bin, node, addr)
		t.Cleanup(func() { _ = a.kill() })
	}
	vpc := vpcNodes(ctx, t, "sys-havpc-kill", 2, addr)
	agents := float64(len(nodes) + len(vpc))
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
	poll(ctx, t, time.Minute, "a leader, and both replicas streamed by every agent", func() bool {
		l, s := leaderOf()
		return l != nil && l.metric(ctx, "kubedag_stream_connections") == agents && s.metric(ctx, "kubedag_stream_connections") == agents
	})

	ns := sys.newNamespace(t, "ha")
	ch := startChurn(ctx, t, ns, nodes)
	re := startReuse(ctx, t, sys.newNamespace(t, "hareuse"), vpc, []string{"10.251.1.1", "10.251.1.2", "10.251.1.3"})
	w := startWatch(ctx, t, ns, re)
	// Pods exist and are tagged before the kill: they must stay tagged.
	poll(ctx, t, time.Minute, "churned pods tagged", func() bool { return len(ch.tagged(ctx, t, haPrefix+".ns_"+sanitize(ns))) >= 5 })

	leader, standby := leaderOf()
	// A standby holds the same state as the leader: report both (the
	// comparison at 10,000 pods is the scale run's, e2e/bench/scale).
	t.Logf("before the kill: leader %s, standby %s", procUsage(leader.Pid()), procUsage(standby.Pid()))
	// Each round kills the leader with SIGKILL, times the new leader's first
	// registration and brings the killed replica back as the standby.
	var kills [][2]time.Time
	var took []time.Duration
	for range haKills(t) {
		killed := time.Now()
		if err := leader.kill(); err != nil {
			t.Fatal(err)
		}
		// The first churned pod tagged after the kill was registered by the new leader.
		var firstPush time.Time
		poll(ctx, t, 30*time.Second, "a registration by the new leader", func() bool {
			firstPush = w.firstPushAfter(killed)
			return !firstPush.IsZero()
		})
		if d := firstPush.Sub(killed); d > 15*time.Second {
			t.Errorf("takeover took %s", d)
		}
		kills = append(kills, [2]time.Time{killed, firstPush})
		took = append(took, firstPush.Sub(killed))
		if err := leader.start(); err != nil {
			t.Fatal(err)
		}
		leader, standby = standby, leader
		poll(ctx, t, time.Minute, "the restarted replica streamed by every agent", func() bool {
			return standby.metric(ctx, "kubedag_stream_connections") == agents
		})
	}

	// Then the leader freezes.
	ch.pause(true)
	re.pause(true)
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
	re.pause(false)
	poll(ctx, t, 30*time.Second, "the standby leads", func() bool { return standby.metric(ctx, "kubedag_leader") == 1 })
	led := time.Since(frozen)
	var pushed time.Time
	poll(ctx, t, 30*time.Second, "the new leader registers churn", func() bool {
		pushed = w.firstPushAfter(frozen)
		return !pushed.IsZero()
	})
	if err := syscall.Kill(leader.Pid(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	poll(ctx, t, 30*time.Second, "the resumed replica knows it does not lead", func() bool { return leader.metric(ctx, "kubedag_leader") == 0 })
	time.Sleep(2 * time.Second) // absence of calls: nothing to wait for
	if c := okCalls(leader); c != frozenCalls {
		t.Errorf("the frozen leader made %v successful firewall calls after it resumed with its Lease lapsed", c-frozenCalls)
	}
	fenced := strings.Count(readFile(t, leader.logPath), "fenced")
	ch.stop()
	re.stop(ctx, t)
	w.stop()
	all := w.reuseStats(time.Time{}, time.Now())
	for i, k := range kills {
		t.Logf("kill -9 of the leader (%d of %d): the new leader's first registration showed on the emulator %s after the kill (goal 5s; sampled every %s); in the takeover: %s",
			i+1, len(kills), took[i].Round(time.Millisecond), haSampleEvery, w.reuseStats(k[0], k[1]))
	}
	t.Logf("kill -9 of the leader, %d times: the new leader's first registration %s after the kill", len(took), durationRange(took))
	t.Logf("SIGSTOP of the leader: the standby led %s after the freeze, its first registration showed %s after it; the resumed replica's fence refused %d calls (logged); in the takeover: %s",
		led.Round(time.Millisecond), pushed.Sub(frozen).Round(time.Millisecond), fenced, w.reuseStats(frozen, pushed))
	t.Logf("whole scenario: %d samples: %d with a live tag missing, %d with a reused IP carrying a tag its owner lacks, %d with a reused IP still carrying an earlier owner's tags; %s",
		all.samples, all.lost, all.wrong, all.stale, all)
	w.mustHold(t)
	checkReuse(t, w, all, append(kills, [2]time.Time{frozen, pushed}))
}

// checkReuse fails the test if the reuse proved nothing (no reuse in a
// takeover window, no new owner's tags ever shown) or an earlier owner's
// tags outlived a takeover by far.
func checkReuse(t *testing.T, w *haWatch, all reuseStats, windows [][2]time.Time) {
	t.Helper()
	for _, win := range windows {
		if st := w.reuseStats(win[0], win[1]); st.reuses == 0 {
			t.Errorf("no IP was reused in the takeover from %s to %s", win[0].Format("15:04:05.000"), win[1].Format("15:04:05.000"))
		}
	}
	if all.shown == 0 {
		t.Error("no reused IP's new owner was ever shown on the emulator: the reuse checks proved nothing")
	}
	if all.exp > 15*time.Second {
		t.Errorf("a reused IP kept an earlier owner's tags for %s", all.exp)
	}
}

// haKills is how many times TestHAKillAndFreeze kills the leader:
// $KUBEDAG_HA_KILLS, default 3 (make bench's takeover section asks for
// more, for the distribution).
func haKills(t *testing.T) int {
	v := os.Getenv("KUBEDAG_HA_KILLS")
	if v == "" {
		return 3
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("KUBEDAG_HA_KILLS=%q: want a positive integer", v)
	}
	return n
}

// durationRange says "min-max (median M, N of K within 5s)" of ds.
func durationRange(ds []time.Duration) string {
	s := slices.Sorted(slices.Values(ds))
	within := 0
	for _, d := range s {
		if d <= 5*time.Second {
			within++
		}
	}
	return fmt.Sprintf("%s-%s (median %s, %d of %d within 5s)", s[0].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond),
		s[len(s)/2].Round(time.Millisecond), within, len(s))
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
// the agents, then an old one stopped with SIGTERM), under pod churn and
// IP reuse, and measures the longest gap between registrations: at most
// about one Lease retry period at the leader's handover. haWatch checks
// every sample as in TestHAKillAndFreeze.
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
	addr := fmt.Sprintf("dns://%s/aggregator.ha.test:%d", dns.Addr(), port)
	nodes := sys.webNodes[:2]
	for _, node := range nodes {
		a := haAgent(ctx, t, bin, node, addr)
		t.Cleanup(func() { _ = a.kill() })
	}
	vpc := vpcNodes(ctx, t, "sys-havpc-roll", 2, addr)
	agents := float64(len(nodes) + len(vpc))
	streamed := func(a *haAgg) func() bool {
		return func() bool { return a.metric(ctx, "kubedag_stream_connections") == agents }
	}
	poll(ctx, t, time.Minute, "both replicas streamed", func() bool { return streamed(aggs[0])() && streamed(aggs[1])() })

	ns := sys.newNamespace(t, "harollout")
	ch := startChurn(ctx, t, ns, nodes)
	re := startReuse(ctx, t, sys.newNamespace(t, "hareuse"), vpc, []string{"10.251.2.1", "10.251.2.2", "10.251.2.3"})
	w := startWatch(ctx, t, ns, re)
	poll(ctx, t, time.Minute, "churned pods tagged", func() bool { return len(ch.tagged(ctx, t, haPrefix+".ns_"+sanitize(ns))) >= 5 })
	// Roll: for each old replica, a new one joins (the headless Service
	// lists it once Ready), the agents stream to it, then the old one goes.
	rolled := time.Now()
	var stops [][2]time.Time
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
		stopped := time.Now()
		if err := old.Stop(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		// Churn under the new set: ten registrations after the stop (the
		// Lease handed over, the new leader pushing).
		poll(ctx, t, 30*time.Second, "ten registrations after the stop", func() bool { return w.pushesAfter(stopped) >= 10 })
		stops = append(stops, [2]time.Time{stopped, time.Now()})
	}
	end := time.Now()
	ch.stop()
	re.stop(ctx, t)
	w.stop()
	maxGap := w.maxGap(rolled, end)
	all := w.reuseStats(time.Time{}, time.Now())
	t.Logf("rolling update of both replicas under churn (a pod every 150ms): longest gap between registrations %s (Lease retry period %s); %d samples: %d with a live tag missing, %d with a reused IP carrying a tag its owner lacks; %s",
		maxGap.Round(time.Millisecond), leader.DefaultRetryPeriod, all.samples, all.lost, all.wrong, all)
	w.mustHold(t)
	if maxGap > 3*time.Second {
		t.Errorf("a %s gap in pushing during the rolling update", maxGap)
	}
	checkReuse(t, w, all, stops)
}

// procUsage reports a process's resident memory and CPU time so far.
func procUsage(pid int) string {
	u, err := childproc.ReadUsage(pid)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("RSS %d kB, CPU %s", u.RSS>>10, u.CPU)
}
