package nodewatch

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/tags"
)

func node(name string, labels map[string]string, addrs ...corev1.NodeAddress) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Labels: labels},
		Status:     corev1.NodeStatus{Addresses: addrs},
	}
}

func internal(ip string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip}
}

func external(ip string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: ip}
}

func TestAddrs(t *testing.T) {
	n := node("n", nil, internal("10.0.0.5"), internal("fd00::5"), external("203.0.113.5"),
		corev1.NodeAddress{Type: corev1.NodeHostName, Address: "n"}, internal("bogus"), internal("::ffff:10.0.0.5"),
		external("10.0.0.5"))
	tests := []struct {
		external bool
		want     []Addr
	}{
		{false, []Addr{{IP: netip.MustParseAddr("10.0.0.5")}, {IP: netip.MustParseAddr("fd00::5")}}},
		{true, []Addr{{IP: netip.MustParseAddr("10.0.0.5")}, {IP: netip.MustParseAddr("fd00::5")}, {IP: netip.MustParseAddr("203.0.113.5"), External: true}}},
	}
	for _, tt := range tests {
		got, bad := Addrs(n, tt.external)
		if !slices.Equal(got, tt.want) || !slices.Equal(bad, []string{"bogus"}) {
			t.Errorf("Addrs(external=%v) = %v bad %v, want %v bad [bogus]", tt.external, got, bad, tt.want)
		}
	}
}

func deriver(t *testing.T, cfg tags.Config) *tags.Deriver {
	t.Helper()
	cfg.Cluster = "c1"
	d, err := tags.NewDeriver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func waitDesired(t *testing.T, st *store.Store, ip string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := st.Desired(netip.MustParseAddr(ip)).Tags.Slice()
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ip %s: desired tags %v, want %v", ip, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWatcherFollowsNodes: node addresses get the cluster node tag and the
// allowed labels' tags, follow relabels and address changes, and lose
// everything when the Node is deleted; ExternalIPs only when asked.
func TestWatcherFollowsNodes(t *testing.T) {
	for _, ext := range []bool{false, true} {
		t.Run(map[bool]string{false: "internal only", true: "external too"}[ext], func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			client := fake.NewClientset(node("n1", map[string]string{"topology.kubernetes.io/zone": "z1", "kubernetes.io/hostname": "n1"},
				internal("172.30.0.2"), internal("fd00:30::2"), external("203.0.113.2")))
			st := store.New(store.Options{})
			w, err := New(Options{Client: client, Deriver: deriver(t, tags.Config{Nodes: true, NodeExternalIPs: ext}), Sink: st, MinInterval: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			select {
			case <-w.Synced():
			case <-time.After(20 * time.Second):
				t.Fatal("never synced")
			}
			zone := "k8s.cl_c1.node.topology.kubernetes.io_zone.z1"
			waitDesired(t, st, "172.30.0.2", zone, "k8s.cl_c1.nodes")
			waitDesired(t, st, "fd00:30::2", zone, "k8s.cl_c1.nodes")
			if ext {
				waitDesired(t, st, "203.0.113.2", zone, "k8s.cl_c1.nodes.external")
			} else {
				waitDesired(t, st, "203.0.113.2")
			}

			n, _ := client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
			n.Labels["topology.kubernetes.io/zone"] = "z2"
			n.Status.Addresses = []corev1.NodeAddress{internal("172.30.0.3")}
			if _, err := client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			waitDesired(t, st, "172.30.0.3", "k8s.cl_c1.node.topology.kubernetes.io_zone.z2", "k8s.cl_c1.nodes")
			waitDesired(t, st, "172.30.0.2")
			waitDesired(t, st, "fd00:30::2")

			if err := client.CoreV1().Nodes().Delete(ctx, "n1", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			waitDesired(t, st, "172.30.0.3")
			if n := st.Stats().IPs; n != 0 {
				t.Fatalf("store holds %d IPs after the node is gone", n)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
		})
	}
}

// TestNodeClaimsAreTheirOwnSource: node claims replace only the node
// source; a pod claim on another IP is untouched, and a node address
// claimed by something else too carries only the common tags.
func TestNodeClaimsAreTheirOwnSource(t *testing.T) {
	st := store.New(store.Options{})
	w, err := New(Options{Client: fake.NewClientset(), Deriver: deriver(t, tags.Config{Nodes: true, NodeLabels: []string{}}), Sink: st})
	if err != nil {
		t.Fatal(err)
	}
	pod := netip.MustParseAddr("10.244.0.5")
	st.Upsert("node/n1", pod, store.Claim{Tags: tags.NewSet("k8s.cl_c1.ns_a"), Owner: "pod-uid"})
	w.apply([]*corev1.Node{node("n1", nil, internal("172.30.0.2"))})
	w.apply([]*corev1.Node{})
	if got := st.Desired(pod).Tags.Slice(); !slices.Equal(got, []string{"k8s.cl_c1.ns_a"}) {
		t.Fatalf("pod IP tags = %v after node rebuilds", got)
	}
	w.apply([]*corev1.Node{node("n1", nil, internal("10.244.0.5"))}) // a pod IP reported as a node address
	if got := st.Desired(pod).Tags; got.Len() != 0 {
		t.Fatalf("an IP claimed by a node and a pod carries %v, want the intersection (none)", got.Slice())
	}
}

func TestNewRefusesNodeTagsOff(t *testing.T) {
	if _, err := New(Options{Client: fake.NewClientset(), Deriver: deriver(t, tags.Config{}), Sink: store.New(store.Options{})}); err == nil {
		t.Fatal("New with node tags off succeeded")
	}
	if _, err := New(Options{}); err == nil {
		t.Fatal("New with empty options succeeded")
	}
}

// countingSink counts Replace calls.
type countingSink struct{ n int }

func (c *countingSink) Replace(string, map[netip.Addr]store.Claim) { c.n++ }

// TestUnchangedNotReplaced: a rebuild that changes nothing (a heartbeat)
// does not hand the claims to the store again; a change does.
func TestUnchangedNotReplaced(t *testing.T) {
	sink := &countingSink{}
	w, err := New(Options{Client: fake.NewClientset(), Deriver: deriver(t, tags.Config{Nodes: true}), Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	n := node("n1", map[string]string{"topology.kubernetes.io/zone": "z1"}, internal("172.30.0.2"))
	w.apply([]*corev1.Node{n})
	w.apply([]*corev1.Node{n.DeepCopy()})
	if sink.n != 1 {
		t.Fatalf("%d Replace calls for one state, want 1", sink.n)
	}
	n2 := n.DeepCopy()
	n2.Labels["topology.kubernetes.io/zone"] = "z2"
	w.apply([]*corev1.Node{n2})
	w.apply([]*corev1.Node{})
	w.apply([]*corev1.Node{})
	if sink.n != 3 {
		t.Fatalf("%d Replace calls, want 3 (first, relabel, all gone)", sink.n)
	}
}
