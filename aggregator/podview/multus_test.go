package podview

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubedag/kubedag/internal/syncbuf"
	"github.com/kubedag/kubedag/tags/podidentity"
)

// TestViewMultus: with Multus the view indexes a pod's secondary-interface
// IPs, whose holder is the pod with the network; its own IPs carry no
// network; a malformed annotation is logged once and indexes nothing
// more; without Multus the annotation is ignored.
func TestViewMultus(t *testing.T) {
	ann := `[{"name":"kindnet","ips":["10.0.1.5"],"default":true},{"name":"shop/macvlan","ips":["192.168.1.5","fd00:1::5"]}]`
	web := pod("shop", "web", "n1", "10.0.1.5", func(p *corev1.Pod) {
		p.Annotations = map[string]string{podidentity.NetworkStatusAnnotation: ann, "other": "dropped"}
	})

	off, _, _ := startView(t, web.DeepCopy())
	if hs := off.Holders(netip.MustParseAddr("192.168.1.5")); len(hs) != 0 {
		t.Fatalf("without Multus the secondary IP has holders %v", hs)
	}

	var logs syncbuf.Buffer
	client := fake.NewClientset(web.DeepCopy())
	v, err := New(Options{Client: client, Multus: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	eventually(t, "synced", v.HasSynced)

	own, _, n := holder(v, "10.0.1.5")
	if n != 1 || own.Network != "" || own.Name != "web" {
		t.Fatalf("own IP holder = %d %+v", n, own)
	}
	for _, ip := range []string{"192.168.1.5", "fd00:1::5"} {
		id, node, n := holder(v, ip)
		want := own
		want.Network = "shop/macvlan"
		if n != 1 || node != "n1" || !id.Equal(want) {
			t.Fatalf("secondary %s holder = %d %q %+v, want %+v", ip, n, node, id, want)
		}
	}

	p, _ := client.CoreV1().Pods("shop").Get(ctx, "web", metav1.GetOptions{})
	p.Annotations[podidentity.NetworkStatusAnnotation] = `[{"name":"shop/macvlan","ips":["not-an-ip"]}]`
	if _, err := client.CoreV1().Pods("shop").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "malformed: secondary IPs gone", func() bool { _, _, n := holder(v, "192.168.1.5"); return n == 0 })
	if _, _, n := holder(v, "10.0.1.5"); n != 1 {
		t.Fatal("malformed annotation cost the pod its own IP")
	}
	p.Labels["touch"] = "again" // the same malformed value again: not logged twice
	if _, err := client.CoreV1().Pods("shop").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "relabel seen", func() bool { id, _, _ := holder(v, "10.0.1.5"); return id.Labels["touch"] == "again" })
	if c := strings.Count(logs.String(), "secondary interfaces not accepted"); c != 1 {
		t.Fatalf("malformed annotation logged %d times, want once:\n%s", c, logs.String())
	}
	if err := client.CoreV1().Pods("shop").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "forgotten with the pod", func() bool {
		v.malMu.Lock()
		defer v.malMu.Unlock()
		return len(v.malformed) == 0
	})
}
