package netnstest

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubedag/kubedag/agent/kubeapi/typed"

	"github.com/kubedag/kubedag/agent"
	"github.com/kubedag/kubedag/agent/ipsource"
	"github.com/kubedag/kubedag/agent/routewatch"
)

const node = "node-a"

func testPod(name, ip string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
}

func start(t *testing.T, cfg agent.Config) *agent.Agent {
	t.Helper()
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	waitFor(t, "ready", func() string {
		for name, check := range a.Checks() {
			if err := check(); err != nil {
				return name + ": " + err.Error()
			}
		}
		return ""
	})
	return a
}

func waitFor(t *testing.T, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		if last = cond(); last == "" {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: not reached: %s", what, last)
}

func claimed(a *agent.Agent, ip string) func() string {
	return func() string {
		if _, ok := a.State.Get(netip.MustParseAddr(ip)); !ok {
			return ip + " not claimed"
		}
		return ""
	}
}

func unclaimed(a *agent.Agent, ip string) func() string {
	return func() string {
		if _, ok := a.State.Get(netip.MustParseAddr(ip)); ok {
			return ip + " still claimed"
		}
		return ""
	}
}

// testNet is a fresh "host" namespace with a veth pair to a "pod"
// namespace, as a CNI makes it; routes are added in the host namespace.
type testNet struct {
	t              *testing.T
	host, hostVeth string
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
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
	id := fmt.Sprintf("kdag%d%d", os.Getpid()%100000, time.Now().UnixNano()%100000)
	n := &testNet{t: t, host: id + "h", hostVeth: "veth" + id[4:]}
	pod := id + "p"
	ipCmd(t, "netns", "add", n.host)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.host).Run() })
	ipCmd(t, "netns", "add", pod)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", pod).Run() })
	ipCmd(t, "-n", n.host, "link", "add", n.hostVeth, "type", "veth", "peer", "name", "eth0", "netns", pod)
	ipCmd(t, "-n", n.host, "link", "set", n.hostVeth, "up")
	ipCmd(t, "-n", pod, "link", "set", "eth0", "up")
	return n
}

func (n *testNet) route(op, ip string) {
	n.t.Helper()
	ipCmd(n.t, "-n", n.host, "route", op, ip+"/32", "dev", n.hostVeth, "scope", "link")
}

func TestBothModeRouteGoneWithdrawsBeforeAPI(t *testing.T) {
	n := newTestNet(t)
	c := fake.NewClientset(testPod("a", "10.99.0.5"), testPod("b", "10.99.0.6"))
	// The CNI made a's route before the agent starts; b has none (a CNI
	// without host routes, or not yet made).
	n.route("add", "10.99.0.5")
	a := start(t, agent.Config{Source: typed.New(c), NodeName: node, IPSource: ipsource.ModeBoth,
		Routes: routewatch.Config{NetNSPath: "/var/run/netns/" + n.host}})
	// Ready: both sources listed. API alone suffices to claim.
	for _, ip := range []string{"10.99.0.5", "10.99.0.6"} {
		if msg := claimed(a, ip)(); msg != "" {
			t.Fatal(msg)
		}
	}
	// Route gone while the pod still exists in the API: withdrawn at once.
	n.route("del", "10.99.0.5")
	waitFor(t, "withdrawn on route removal", unclaimed(a, "10.99.0.5"))
	if _, err := c.CoreV1().Pods("default").Get(t.Context(), "a", metav1.GetOptions{}); err != nil {
		t.Fatalf("pod should still exist: %v", err)
	}
	if msg := claimed(a, "10.99.0.6")(); msg != "" {
		t.Fatal("pod without a route lost its claim: " + msg)
	}
	before := time.Now()
	n.route("add", "10.99.0.5")
	waitFor(t, "reclaimed when the route returns", claimed(a, "10.99.0.5"))
	cl, _ := a.State.Get(netip.MustParseAddr("10.99.0.5"))
	if cl.FirstSeen.Before(before) {
		t.Errorf("FirstSeen %v predates the route's return %v", cl.FirstSeen, before)
	}
	// The API deleting the pod withdraws it for good.
	if err := c.CoreV1().Pods("default").Delete(t.Context(), "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "withdrawn on pod deletion", unclaimed(a, "10.99.0.5"))
}

func TestNetlinkModeNeedsRoute(t *testing.T) {
	n := newTestNet(t)
	c := fake.NewClientset(testPod("a", "10.99.0.5"))
	a := start(t, agent.Config{Source: typed.New(c), NodeName: node, IPSource: ipsource.ModeNetlink,
		Routes: routewatch.Config{NetNSPath: "/var/run/netns/" + n.host}})
	// Ready means both sources were listed: no route, no claim.
	if _, ok := a.State.Get(netip.MustParseAddr("10.99.0.5")); ok {
		t.Fatal("claimed without a route in netlink mode")
	}
	n.route("add", "10.99.0.5")
	waitFor(t, "claimed with route", claimed(a, "10.99.0.5"))
	n.route("del", "10.99.0.5")
	waitFor(t, "withdrawn with route", unclaimed(a, "10.99.0.5"))
}

// TestDualStackPodPerFamilyRoutes: a dual-stack pod's IPv4 and IPv6 IPs
// are claimed and withdrawn each by its own host route, as a dual-stack
// CNI makes them (a /32 and a /128 on the pod's veth).
func TestDualStackPodPerFamilyRoutes(t *testing.T) {
	n := newTestNet(t)
	pod := testPod("a", "10.99.0.7")
	pod.Status.PodIPs = append(pod.Status.PodIPs, corev1.PodIP{IP: "fd00:99::7"})
	c := fake.NewClientset(pod)
	route6 := func(op string) {
		ipCmd(t, "-n", n.host, "-6", "route", op, "fd00:99::7/128", "dev", n.hostVeth)
	}
	a := start(t, agent.Config{Source: typed.New(c), NodeName: node, IPSource: ipsource.ModeNetlink,
		Routes: routewatch.Config{NetNSPath: "/var/run/netns/" + n.host}})
	for _, ip := range []string{"10.99.0.7", "fd00:99::7"} {
		if msg := unclaimed(a, ip)(); msg != "" {
			t.Fatal("claimed without a route in netlink mode: " + msg)
		}
	}
	route6("add")
	waitFor(t, "IPv6 claimed with its route", claimed(a, "fd00:99::7"))
	if msg := unclaimed(a, "10.99.0.7")(); msg != "" {
		t.Fatal("the IPv6 route made the IPv4 IP live: " + msg)
	}
	n.route("add", "10.99.0.7")
	waitFor(t, "IPv4 claimed with its route", claimed(a, "10.99.0.7"))
	route6("del")
	waitFor(t, "IPv6 withdrawn on route removal", unclaimed(a, "fd00:99::7"))
	if msg := claimed(a, "10.99.0.7")(); msg != "" {
		t.Fatal("IPv4 lost its claim with the IPv6 route: " + msg)
	}
	cl, _ := a.State.Get(netip.MustParseAddr("10.99.0.7"))
	if cl.Identity.Name != "a" {
		t.Fatalf("IPv4 claim identity %+v", cl.Identity)
	}
}
