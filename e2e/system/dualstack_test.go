package system

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDualStack: the cluster is dual-stack (kwok gives every pod an IPv4
// and an IPv6 IP, the apiserver has an IPv6 service range): every IP of a
// pod's status.podIPs carries the pod's tags, claimed by its agent and
// confirmed by the aggregator's pod view; a RequireDualStack Service's
// IPv6 ClusterIP carries the Service's tags; IPv6 addresses reach the
// firewall in canonical form.
func TestDualStack(t *testing.T) {
	e := sys
	e.mustAlive(t)
	ctx := t.Context()
	ns := e.newNamespace(t, "dual")
	pods := e.deployWeb(ctx, t, ns, 2)
	policy := corev1.IPFamilyPolicyRequireDualStack
	if _, err := e.c.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web-dual"},
		Spec: corev1.ServiceSpec{
			IPFamilyPolicy: &policy,
			Selector:       map[string]string{"app": "web"},
			Ports:          []corev1.ServicePort{{Name: "http", Port: 80}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := e.waitConverged(ctx, t, "dual-stack pods and service")

	for _, p := range pods {
		if len(p.Status.PodIPs) != 2 {
			t.Fatalf("pod %s has podIPs %v, want an IPv4 and an IPv6 (dual-stack kwok)", p.Name, p.Status.PodIPs)
		}
		v4, v6 := p.Status.PodIPs[0].IP, p.Status.PodIPs[1].IP
		if !netip.MustParseAddr(v6).Is6() {
			t.Fatalf("pod %s second IP %s is not IPv6", p.Name, v6)
		}
		if len(got[v4]) == 0 || !slices.Equal(got[v4], got[canonical(v6)]) {
			t.Errorf("pod %s: IPv4 %s holds %v, IPv6 %s holds %v; want the same tags", p.Name, v4, got[v4], v6, got[canonical(v6)])
		}
		if !slices.Contains(got[canonical(v6)], svcTag(ns, "web-dual")) {
			t.Errorf("pod %s IPv6 %s lacks the dual-stack Service's tag: %v", p.Name, v6, got[canonical(v6)])
		}
	}
	svc, err := e.c.Client.CoreV1().Services(ns).Get(ctx, "web-dual", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Spec.ClusterIPs) != 2 {
		t.Fatalf("Service clusterIPs %v, want two families", svc.Spec.ClusterIPs)
	}
	want := []string{nsTag(ns), svcTag(ns, "web-dual")}
	for _, ip := range svc.Spec.ClusterIPs {
		if !slices.Equal(got[canonical(ip)], want) {
			t.Errorf("ClusterIP %s holds %v, want %v", ip, got[canonical(ip)], want)
		}
	}
	// The emulator lists each address as registered: canonical text.
	raw, err := e.simRegistered(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for ip := range raw {
		if a := netip.MustParseAddr(ip); a.String() != ip {
			t.Errorf("emulator lists %q, not the canonical %q", ip, a.String())
		}
	}
}
