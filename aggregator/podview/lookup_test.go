package podview

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestViewByName(t *testing.T) {
	web := pod("shop", "web", "n1", "10.0.1.5", nil)
	pending := pod("shop", "new", "", "", func(p *corev1.Pod) { p.Status = corev1.PodStatus{Phase: corev1.PodPending} })
	v, client, _ := startView(t, web, pending, slice("shop", "front", web))
	ip := netip.MustParseAddr("10.0.1.5")

	n, ok := v.ByName("shop", "web")
	if !ok || n.Node != "n1" || n.Identity.Name != "web" || !slices.Equal(n.Identity.Services, []string{"front"}) ||
		!slices.Equal(n.IPs, []netip.Addr{ip}) || !slices.Equal(n.Reported, []netip.Addr{ip}) {
		t.Fatalf("ByName(web) = %+v, %v", n, ok)
	}
	if n, ok := v.ByName("shop", "new"); !ok || len(n.IPs) != 0 || n.Identity.OwnerName != "new-rs" {
		t.Errorf("ByName(pending) = %+v, %v", n, ok)
	}
	if _, ok := v.ByName("shop", "nope"); ok {
		t.Error("ByName found a pod that does not exist")
	}
	if _, ok := v.ByName("other", "web"); ok {
		t.Error("ByName found a pod in the wrong namespace")
	}

	// Terminating: reported but no longer held.
	p, _ := client.CoreV1().Pods("shop").Get(t.Context(), "web", metav1.GetOptions{})
	now := metav1.Now()
	p.DeletionTimestamp = &now
	if _, err := client.CoreV1().Pods("shop").Update(t.Context(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "terminating pod holds no IP", func() bool {
		n, ok := v.ByName("shop", "web")
		return ok && len(n.IPs) == 0 && slices.Equal(n.Reported, []netip.Addr{ip})
	})
}
