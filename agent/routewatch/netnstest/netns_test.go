package netnstest

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubedag/kubedag/agent/routewatch"
)

// dum0 is a non-pod interface (a veth pair whose name matches no prefix).
//
// These tests build network namespaces as a CNI would: a "host" namespace
// (the watcher's) and a "pod" namespace joined by a veth pair, with a host
// route to the pod IP through the host-side veth. The watcher runs against
// the test host namespace only, never the real host's tables.

type recorder struct {
	mu     sync.Mutex
	state  map[netip.Addr]routewatch.Liveness
	events []string
}

func newRecorder() *recorder { return &recorder{state: map[netip.Addr]routewatch.Liveness{}} }

func (r *recorder) Observe(ip netip.Addr, l routewatch.Liveness, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if at.IsZero() {
		panic("zero time")
	}
	if r.state[ip] == l {
		panic(fmt.Sprintf("Observe(%s, %+v) without a change", ip, l))
	}
	if l == (routewatch.Liveness{}) {
		delete(r.state, ip)
	} else {
		r.state[ip] = l
	}
	r.events = append(r.events, fmt.Sprintf("%s %+v", ip, l))
}

func (r *recorder) get(ip string) routewatch.Liveness {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state[netip.MustParseAddr(ip)]
}

func (r *recorder) has(ip string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.state[netip.MustParseAddr(ip)]
	return ok
}

func (r *recorder) wait(t *testing.T, ip string, want routewatch.Liveness) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if r.get(ip) == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Fatalf("%s: got %+v, want %+v; events:\n%s", ip, r.state[netip.MustParseAddr(ip)], want, strings.Join(r.events, "\n"))
}

// testNet is a host namespace and a pod namespace joined by a veth pair.
type testNet struct {
	t          *testing.T
	host, pod  string
	hostVeth   string
	hostNSPath string
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func newTestNet(t *testing.T) *testNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("needs root to create network namespaces (make test runs as root, as CI does)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("needs the ip command: run e2e/tools/host-deps.sh (make test does)")
	}
	id := fmt.Sprintf("kdrw%d%d", os.Getpid()%100000, time.Now().UnixNano()%100000)
	n := &testNet{t: t, host: id + "h", pod: id + "p", hostVeth: "veth" + id[4:]}
	n.hostNSPath = "/var/run/netns/" + n.host
	ipCmd(t, "netns", "add", n.host)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.host).Run() })
	ipCmd(t, "netns", "add", n.pod)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.pod).Run() })
	ipCmd(t, "-n", n.host, "link", "set", "lo", "up")
	ipCmd(t, "-n", n.host, "link", "add", n.hostVeth, "type", "veth", "peer", "name", "eth0", "netns", n.pod)
	ipCmd(t, "-n", n.host, "link", "set", n.hostVeth, "up")
	ipCmd(t, "-n", n.pod, "link", "set", "eth0", "up")
	ipCmd(t, "-n", n.pod, "addr", "add", "10.99.0.5/32", "dev", "eth0")
	ipCmd(t, "-n", n.host, "link", "add", "dum0", "type", "veth", "peer", "name", "dum1")
	ipCmd(t, "-n", n.host, "link", "set", "dum0", "up")
	return n
}

func (n *testNet) ip(args ...string) {
	n.t.Helper()
	ipCmd(n.t, append([]string{"-n", n.host}, args...)...)
}

// run starts a watcher on the test host namespace and returns it with its
// recorder; the watcher is stopped, and checked to have returned, at cleanup.
func (n *testNet) run(cfg routewatch.Config) (*routewatch.Watcher, *recorder) {
	n.t.Helper()
	rec := newRecorder()
	cfg.Sink = rec
	cfg.NetNSPath = n.hostNSPath
	w, err := routewatch.New(cfg)
	if err != nil {
		n.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	n.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				n.t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			n.t.Error("Run did not return after cancel")
		}
	})
	select {
	case <-w.Synced():
	case <-time.After(20 * time.Second):
		n.t.Fatal("not synced")
	}
	if !w.HasSynced() {
		n.t.Fatal("Synced closed while HasSynced is false")
	}
	return w, rec
}

func TestRoutesLiveAndDead(t *testing.T) {
	n := newTestNet(t)
	// Present before the watcher starts: reported by the initial listing.
	n.ip("route", "add", "10.99.0.5/32", "dev", n.hostVeth, "scope", "link")
	w, rec := n.run(routewatch.Config{})
	if got := rec.get("10.99.0.5"); got != (routewatch.Liveness{Route: true}) {
		t.Fatalf("after sync 10.99.0.5 = %+v, want route", got)
	}

	// A route on a non-pod interface is ignored; a later route on the veth
	// proves the earlier update was processed.
	n.ip("route", "add", "10.99.0.7/32", "dev", "dum0")
	n.ip("route", "add", "10.99.1.0/24", "dev", n.hostVeth) // not a host route
	n.ip("route", "add", "10.99.0.6/32", "dev", n.hostVeth, "scope", "link")
	rec.wait(t, "10.99.0.6", routewatch.Liveness{Route: true})
	if rec.has("10.99.0.7") || rec.has("10.99.1.0") {
		t.Fatal("non-pod or non-host route reported")
	}

	n.ip("-6", "route", "add", "fd00:99::5/128", "dev", n.hostVeth)
	rec.wait(t, "fd00:99::5", routewatch.Liveness{Route: true})

	n.ip("route", "del", "10.99.0.6/32", "dev", n.hostVeth)
	rec.wait(t, "10.99.0.6", routewatch.Liveness{})
	n.ip("-6", "route", "del", "fd00:99::5/128", "dev", n.hostVeth)
	rec.wait(t, "fd00:99::5", routewatch.Liveness{})
	if rec.get("10.99.0.5") != (routewatch.Liveness{Route: true}) {
		t.Fatal("unrelated route lost")
	}
	if w.Sessions() != 1 {
		t.Errorf("Sessions() = %d, want 1 (no resubscription)", w.Sessions())
	}
}

func TestPodNamespaceDeletedKillsRoutes(t *testing.T) {
	n := newTestNet(t)
	_, rec := n.run(routewatch.Config{})
	n.ip("route", "add", "10.99.0.5/32", "dev", n.hostVeth, "scope", "link")
	rec.wait(t, "10.99.0.5", routewatch.Liveness{Route: true})
	// As when a pod dies: its namespace goes and takes the veth pair; the
	// kernel flushes the IPv4 route without an RTM_DELROUTE.
	ipCmd(t, "netns", "del", n.pod)
	rec.wait(t, "10.99.0.5", routewatch.Liveness{})
}

func TestLinkDownKillsRoutes(t *testing.T) {
	n := newTestNet(t)
	_, rec := n.run(routewatch.Config{})
	n.ip("route", "add", "10.99.0.5/32", "dev", n.hostVeth, "scope", "link")
	rec.wait(t, "10.99.0.5", routewatch.Liveness{Route: true})
	n.ip("link", "set", n.hostVeth, "down")
	rec.wait(t, "10.99.0.5", routewatch.Liveness{})
}

func TestAnyScopeLink(t *testing.T) {
	n := newTestNet(t)
	_, rec := n.run(routewatch.Config{LinkPrefixes: []string{}, AnyScopeLink: true})
	n.ip("route", "add", "10.99.0.7/32", "dev", "dum0") // scope link by default
	rec.wait(t, "10.99.0.7", routewatch.Liveness{Route: true})
	n.ip("route", "del", "10.99.0.7/32", "dev", "dum0")
	rec.wait(t, "10.99.0.7", routewatch.Liveness{})
}

func TestNeighbours(t *testing.T) {
	n := newTestNet(t)
	_, rec := n.run(routewatch.Config{Neighbours: true})
	n.ip("neigh", "add", "10.99.0.9", "lladdr", "02:00:00:00:00:09", "dev", n.hostVeth, "nud", "reachable")
	rec.wait(t, "10.99.0.9", routewatch.Liveness{Neighbour: true})
	n.ip("route", "add", "10.99.0.9/32", "dev", n.hostVeth, "scope", "link")
	rec.wait(t, "10.99.0.9", routewatch.Liveness{Route: true, Neighbour: true})
	n.ip("neigh", "del", "10.99.0.9", "dev", n.hostVeth)
	rec.wait(t, "10.99.0.9", routewatch.Liveness{Route: true})
	// Neighbours on non-pod interfaces are ignored.
	n.ip("neigh", "add", "10.99.0.10", "lladdr", "02:00:00:00:00:0a", "dev", "dum0", "nud", "reachable")
	n.ip("neigh", "add", "10.99.0.11", "lladdr", "02:00:00:00:00:0b", "dev", n.hostVeth, "nud", "permanent")
	rec.wait(t, "10.99.0.11", routewatch.Liveness{Neighbour: true})
	if rec.has("10.99.0.10") {
		t.Fatal("neighbour on dum0 reported")
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	n := newTestNet(t)
	before := runtime.NumGoroutine()
	rec := newRecorder()
	w, err := routewatch.New(routewatch.Config{Sink: rec, NetNSPath: n.hostNSPath, Neighbours: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	n.ip("route", "add", "10.99.0.5/32", "dev", n.hostVeth, "scope", "link")
	rec.wait(t, "10.99.0.5", routewatch.Liveness{Route: true})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before, %d after Run returned:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBadNamespace(t *testing.T) {
	w, err := routewatch.New(routewatch.Config{Sink: newRecorder(), NetNSPath: "/nonexistent/netns"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "/nonexistent/netns") {
		t.Fatalf("Run = %v, want an error naming the path", err)
	}
}
