package verify

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubedag/kubedag/aggregator/podview"
	"github.com/kubedag/kubedag/aggregator/stream"
	"github.com/kubedag/kubedag/aggregator/stream/streamtest"
	"github.com/kubedag/kubedag/internal/syncbuf"
	"github.com/kubedag/kubedag/tags"
)

// startGate runs a Gate over a real pod view of client.
func startGate(t *testing.T, client *fake.Clientset, wait time.Duration) (*Gate, *streamtest.Sink, *refusals) {
	t.Helper()
	sink := streamtest.NewSink()
	rs := &refusals{}
	var g *Gate
	view, err := podview.New(podview.Options{Client: client, OnChange: func(ips []netip.Addr) { g.Changed(ips) }})
	if err != nil {
		t.Fatal(err)
	}
	if g, err = New(Options{View: view, Sink: sink, Wait: wait, OnRefuse: rs.add}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = view.Run(ctx) }()
	go func() { defer wg.Done(); _ = g.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	streamtest.Eventually(t, 10*time.Second, "gate synced", g.HasSynced)
	return g, sink, rs
}

type refusals struct {
	mu sync.Mutex
	rs []Refusal
}

func (r *refusals) add(x Refusal) { r.mu.Lock(); r.rs = append(r.rs, x); r.mu.Unlock() }
func (r *refusals) list() []Refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Refusal(nil), r.rs...)
}

func runningPod(ns, name, node, ip string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name), Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
}

func podIdentity(p *corev1.Pod) tags.Identity {
	return tags.Identity{Kind: tags.KindPod, Namespace: p.Namespace, Name: p.Name, UID: string(p.UID), Labels: p.Labels}
}

// TestGateClaimRacingInformer: the agent's claim arrives before the
// aggregator's informer has the pod; it is accepted once the pod shows up,
// well within the wait, and never refused.
func TestGateClaimRacingInformer(t *testing.T) {
	client := fake.NewClientset()
	g, sink, rs := startGate(t, client, 5*time.Second)
	p := runningPod("shop", "web", "n1", "10.1.0.7")
	ip := netip.MustParseAddr("10.1.0.7")
	g.ReplaceNode("n1", nil)
	g.Upsert("n1", stream.Claim{IP: ip, Identity: podIdentity(p)})
	if len(sink.IPs("n1")) != 0 {
		t.Fatal("claim forwarded before the API confirmed it")
	}
	start := time.Now()
	if _, err := client.CoreV1().Pods("shop").Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	streamtest.Eventually(t, 10*time.Second, "racing claim accepted", func() bool { return len(sink.IPs("n1")) == 1 })
	if took := time.Since(start); took > time.Second {
		t.Errorf("accepted %s after the pod appeared: not on the informer event", took)
	}
	if r := rs.list(); len(r) != 0 {
		t.Fatalf("refusals %v", r)
	}
}

// TestGateDropsMovedIP: the API moves a pod's IP to another node's pod: the
// old node's claim goes at once, whatever its agent says, and a re-claim
// is refused.
func TestGateDropsMovedIP(t *testing.T) {
	p := runningPod("shop", "web", "n1", "10.1.0.8")
	client := fake.NewClientset(p)
	g, sink, rs := startGate(t, client, 200*time.Millisecond)
	ip := netip.MustParseAddr("10.1.0.8")
	g.ReplaceNode("n1", []stream.Claim{{IP: ip, Identity: podIdentity(p)}})
	if len(sink.IPs("n1")) != 1 {
		t.Fatal("confirmed snapshot claim not forwarded")
	}
	ctx := t.Context()
	if err := client.CoreV1().Pods("shop").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Pods("shop").Create(ctx, runningPod("shop", "db", "n2", "10.1.0.8"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	streamtest.Eventually(t, 10*time.Second, "stale claim dropped", func() bool { return len(sink.IPs("n1")) == 0 })
	streamtest.Eventually(t, 10*time.Second, "stale claim refused", func() bool { return len(rs.list()) == 1 })
	if r := rs.list()[0]; r.Node != "n1" || r.IP != ip || (r.Reason != ReasonOtherNode && r.Reason != ReasonUnknownIP) {
		t.Fatalf("refusal %+v", r)
	}
	// The agent insists: refused again, never forwarded.
	g.ReplaceNode("n1", []stream.Claim{{IP: ip, Identity: podIdentity(p)}})
	if len(sink.IPs("n1")) != 0 {
		t.Fatal("re-claim of a moved IP forwarded")
	}
}

// staticView is a View that never changes.
type staticView struct{ synced chan struct{} }

func (staticView) Holders(netip.Addr) []podview.Pod { return nil }
func (v staticView) Synced() <-chan struct{}        { return v.synced }

// TestGateLogsOncePerNodeAndReason: every refusal is counted, but a node's
// refusals are logged once per reason, so a forging node cannot flood the
// log.
func TestGateLogsOncePerNodeAndReason(t *testing.T) {
	var logs syncbuf.Buffer
	view := staticView{synced: make(chan struct{})}
	close(view.synced)
	rs := &refusals{}
	g, err := New(Options{View: view, Sink: streamtest.NewSink(), Wait: 10 * time.Millisecond, OnRefuse: rs.add,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() { cancel(); <-done }()
	streamtest.Eventually(t, 10*time.Second, "gate synced", g.HasSynced)

	id := tags.Identity{Kind: tags.KindPod, Namespace: "ns", Name: "p", UID: "u"}
	for i := range 5 {
		for _, node := range []string{"n1", "n2"} {
			g.Upsert(node, stream.Claim{IP: netip.AddrFrom4([4]byte{10, 9, 0, byte(i)}), Identity: id})
		}
	}
	streamtest.Eventually(t, 10*time.Second, "10 refusals", func() bool { return len(rs.list()) == 10 })
	if n := strings.Count(logs.String(), "agent claim refused"); n != 2 {
		t.Fatalf("%d log lines for 10 refusals of 2 nodes with one reason, want 2:\n%s", n, logs.String())
	}
}
