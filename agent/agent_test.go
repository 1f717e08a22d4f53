package agent

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubedag/kubedag/agent/kubeapi/typed"

	"github.com/kubedag/kubedag/agent/ipsource"
	"github.com/kubedag/kubedag/agent/stream"
)

const node = "node-a"

func testPod(name, ip string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
}

func start(t *testing.T, cfg Config) *Agent {
	t.Helper()
	a, err := New(cfg)
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

func claimed(a *Agent, ip string) func() string {
	return func() string {
		if _, ok := a.State.Get(netip.MustParseAddr(ip)); !ok {
			return ip + " not claimed"
		}
		return ""
	}
}

func unclaimed(a *Agent, ip string) func() string {
	return func() string {
		if _, ok := a.State.Get(netip.MustParseAddr(ip)); ok {
			return ip + " still claimed"
		}
		return ""
	}
}

// netlinkSockets counts this process's NETLINK_ROUTE sockets in its
// network namespace.
func netlinkSockets(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/net/netlink")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inodes := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 || fs[1] != "0" { // Eth column: protocol 0 = NETLINK_ROUTE
			continue
		}
		inodes[fs[len(fs)-1]] = true
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") && inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] {
			n++
		}
	}
	return n
}

func TestNetlinkSocketsCounts(t *testing.T) {
	before := netlinkSockets(t)
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW, syscall.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("cannot open a netlink socket: %v", err)
	}
	defer syscall.Close(fd)
	// Only bound sockets are listed (the netlink library binds its own).
	if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		t.Fatal(err)
	}
	if got := netlinkSockets(t); got != before+1 {
		t.Errorf("with one open socket: %d, want %d", got, before+1)
	}
}

func TestAPIModeUsesNoNetlink(t *testing.T) {
	c := fake.NewClientset(testPod("a", "10.0.0.1"))
	a := start(t, Config{Source: typed.New(c), NodeName: node, IPSource: ipsource.ModeAPI})
	waitFor(t, "claimed", claimed(a, "10.0.0.1"))
	if n := netlinkSockets(t); n != 0 {
		t.Fatalf("%d NETLINK_ROUTE sockets open in api mode", n)
	}
	if a.Routes != nil {
		t.Fatal("route watcher built in api mode")
	}
	if _, ok := a.Checks()["routes"]; ok {
		t.Error("routes readiness check in api mode")
	}
	if err := c.CoreV1().Pods("default").Delete(t.Context(), "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "withdrawn", unclaimed(a, "10.0.0.1"))
}

// TestReadyWhileAggregatorDown: readiness is the agent's own health
// (informers synced), so a DaemonSet rollout proceeds while the aggregator
// is unreachable; the stream state is only a metric.
func TestReadyWhileAggregatorDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close() // nothing listens there: every dial is refused
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("token"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientset(testPod("a", "10.0.0.1"))
	a := start(t, Config{Source: typed.New(c), NodeName: node, IPSource: ipsource.ModeAPI,
		Stream: stream.Config{Addr: down, TLS: &tls.Config{MinVersion: tls.VersionTLS12}, TokenFile: tok}})
	if a.Stream == nil {
		t.Fatal("no stream client built")
	}
	if a.Stream.Connected() {
		t.Fatal("connected to an address nobody listens on")
	}
	for name, check := range a.Checks() {
		if err := check(); err != nil {
			t.Errorf("readiness check %s fails while only the aggregator is down: %v", name, err)
		}
	}
}
