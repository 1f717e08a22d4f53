package system

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// TestServicesWithoutIPs: an ExternalName Service and a LoadBalancer whose
// ingress is only a hostname (as an AWS NLB reports it) get nothing on the
// firewall but the LoadBalancer's ClusterIP (the model counts ClusterIPs
// only), and the aggregator says once why each is not tagged.
func TestServicesWithoutIPs(t *testing.T) {
	e := sys
	e.mustAlive(t)
	ctx := t.Context()
	ns := e.newNamespace(t, "noip")
	cs := e.c.Client.CoreV1().Services(ns)
	if _, err := cs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "alias"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	lb, err := cs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "nlb"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "none"},
			Ports: []corev1.ServicePort{{Port: 443}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const host = "k8s-noip-nlb-0123456789.elb.us-east-1.amazonaws.com"
	lb.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: host}}
	if _, err := cs.UpdateStatus(ctx, lb, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := e.waitConverged(ctx, t, "ExternalName and hostname-only LoadBalancer")
	if tags := got[lb.Spec.ClusterIP]; len(tags) == 0 {
		t.Errorf("the LoadBalancer's ClusterIP %s is not tagged", lb.Spec.ClusterIP)
	}
	for ip, tags := range got {
		for _, tag := range tags {
			if strings.Contains(tag, ".svc_alias") {
				t.Errorf("ExternalName Service tagged: %s holds %s", ip, tag)
			}
		}
	}
	// The reasons, once each, in the aggregator's log.
	var log string
	err = wait.PollUntilContextTimeout(ctx, pollEvery, 30*time.Second, true, func(context.Context) (bool, error) {
		b, err := os.ReadFile(e.agg.logPath)
		if err != nil {
			return false, err
		}
		log = string(b)
		return strings.Contains(log, `"reason":"external-name"`) && strings.Contains(log, host), nil
	})
	if err != nil {
		t.Fatalf("aggregator log lacks the skip reasons: %v\n%s", err, tail(e.agg.logPath, 20))
	}
	for _, s := range []string{`"service":"alias","reason":"external-name"`, `"service":"nlb","reason":"ingress-hostname"`} {
		if n := strings.Count(log, s); n != 1 {
			t.Errorf("%s logged %d times, want once", s, n)
		}
	}
}
