package servicewatch

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/tags"
)

func svc(ns, name string, mut func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "/" + name), Labels: map[string]string{"app": name}},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP},
	}
	if mut != nil {
		mut(s)
	}
	return s
}

func TestIPs(t *testing.T) {
	tests := []struct {
		name    string
		svc     *corev1.Service
		want    []string
		wantBad []string
	}{
		{"cluster ip", svc("a", "s", func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.10"; s.Spec.ClusterIPs = []string{"10.96.0.10"} }), []string{"10.96.0.10"}, nil},
		{"dual stack", svc("a", "s", func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.10", "fd00::a"} }), []string{"10.96.0.10", "fd00::a"}, nil},
		{"headless", svc("a", "s", func(s *corev1.Service) { s.Spec.ClusterIP = "None"; s.Spec.ClusterIPs = []string{"None"} }), nil, nil},
		{"external name", svc("a", "s", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "x.example"
		}), nil, nil},
		{"load balancer and external ips", svc("a", "s", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.ClusterIPs = []string{"10.96.0.11"}
			s.Spec.ExternalIPs = []string{"192.0.2.7", "10.96.0.11"}
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.5"}, {Hostname: "lb.example"}}
		}), []string{"10.96.0.11", "203.0.113.5", "192.0.2.7"}, nil},
		{"bad ip", svc("a", "s", func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"300.1.1.1"} }), nil, []string{"300.1.1.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ips, bad := IPs(tt.svc)
			var got []string
			for _, ip := range ips {
				got = append(got, ip.String())
			}
			if !slices.Equal(got, tt.want) || !slices.Equal(bad, tt.wantBad) {
				t.Fatalf("IPs = %v bad %v, want %v bad %v", got, bad, tt.want, tt.wantBad)
			}
		})
	}
}

func TestSkipped(t *testing.T) {
	tests := []struct {
		name string
		svc  *corev1.Service
		want []string // reasons
	}{
		{"cluster ip", svc("a", "s", func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.10"} }), nil},
		{"external name", svc("a", "s", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "db.example.com"
		}), []string{SkipExternalName}},
		{"hostname-only ingress", svc("a", "s", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{
				{Hostname: "k8s-a-s-1234.elb.us-east-1.amazonaws.com"},
				{IP: "203.0.113.5", Hostname: "with-ip.example"}, // the IP is tagged
			}
		}), []string{SkipIngressHostname}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, s := range Skipped(tt.svc) {
				got = append(got, s.Reason)
				if s.Detail == "" {
					t.Errorf("skip %s without detail", s.Reason)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Skipped reasons = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSkippedReportedNotTagged: an ExternalName Service and a hostname-only
// LoadBalancer ingress are reported once each, with their reason, and
// nothing of theirs reaches the store; the LoadBalancer's ClusterIP still
// does.
func TestSkippedReportedNotTagged(t *testing.T) {
	var logs bytes.Buffer
	var reasons []string
	st := store.New(store.Options{})
	w, err := New(Options{Client: fake.NewClientset(), Deriver: deriver(t), Sink: st,
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
		OnProblem: func(r string) { reasons = append(reasons, r) }})
	if err != nil {
		t.Fatal(err)
	}
	alias := svc("ns", "alias", func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeExternalName
		s.Spec.ExternalName = "db.example.com"
	})
	nlb := svc("ns", "nlb", func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		s.Spec.ClusterIPs = []string{"10.96.0.40"}
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: "nlb.elb.amazonaws.com"}}
	})
	w.apply([]*corev1.Service{alias, nlb})
	w.apply([]*corev1.Service{alias, nlb})
	slices.Sort(reasons)
	if want := []string{SkipExternalName, SkipIngressHostname}; !slices.Equal(reasons, want) {
		t.Fatalf("reasons = %v, want %v once each", reasons, want)
	}
	for _, s := range []string{"db.example.com", "nlb.elb.amazonaws.com"} {
		if !strings.Contains(logs.String(), s) {
			t.Errorf("log does not name %s:\n%s", s, logs.String())
		}
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("skips by design logged as warnings:\n%s", logs.String())
	}
	if got := st.Stats().IPs; got != 1 {
		t.Fatalf("store holds %d IPs, want only the ClusterIP", got)
	}
	if d := st.Desired(netip.MustParseAddr("10.96.0.40")); !d.Tags.Has("k8s.cl_c1.ns_ns.svc_nlb") {
		t.Fatalf("ClusterIP tags = %v", d.Tags.Slice())
	}
}

func TestBuildSharedIPUnion(t *testing.T) {
	a := svc("ns1", "a", func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"192.0.2.1"} })
	b := svc("ns1", "b", func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"192.0.2.1"} })
	derive := func(s *corev1.Service) tags.Set { return tags.NewSet("t." + s.Name) }
	got := build([]*corev1.Service{b, a}, derive, func(*corev1.Service, string, string) { t.Fatal("unexpected problem") })
	c := got[netip.MustParseAddr("192.0.2.1")]
	if c == nil || !tags.NewSet(c.tags...).Equal(tags.NewSet("t.a", "t.b")) || c.owner() != "ns1/a,ns1/b" {
		t.Fatalf("shared ip claim = %+v", c)
	}
}

func deriver(t *testing.T) *tags.Deriver {
	t.Helper()
	d, err := tags.NewDeriver(tags.Config{Cluster: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// waitDesired polls the store until ip's desired tags satisfy ok.
func waitDesired(t *testing.T, st *store.Store, ip string, ok func(tags.Set) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		d := st.Desired(netip.MustParseAddr(ip))
		if ok(d.Tags) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ip %s: desired tags %v never matched", ip, d.Tags.Slice())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWatcherFollowsServices(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewClientset(svc("shop", "web", func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.20"} }))
	st := store.New(store.Options{})
	w, err := New(Options{Client: client, Deriver: deriver(t), Sink: st, MinInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	svcTag := "k8s.cl_c1.ns_shop.svc_web"
	waitDesired(t, st, "10.96.0.20", func(s tags.Set) bool { return s.Has(svcTag) && s.Has("k8s.cl_c1.ns_shop") })
	if !w.HasSynced() {
		t.Fatal("HasSynced false after first apply")
	}
	select {
	case <-w.Synced():
	default:
		t.Fatal("Synced not closed after first apply")
	}

	// A LoadBalancer IP appears.
	s, _ := client.CoreV1().Services("shop").Get(ctx, "web", metav1.GetOptions{})
	s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.9"}}
	if _, err := client.CoreV1().Services("shop").UpdateStatus(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDesired(t, st, "203.0.113.9", func(s tags.Set) bool { return s.Has(svcTag) })

	// Relabel: the label tag follows.
	s, _ = client.CoreV1().Services("shop").Get(ctx, "web", metav1.GetOptions{})
	s.Labels = map[string]string{"tier": "front"}
	if _, err := client.CoreV1().Services("shop").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDesired(t, st, "10.96.0.20", func(s tags.Set) bool {
		return s.Has("k8s.cl_c1.ns_shop.tier.front") && !s.Has("k8s.cl_c1.ns_shop.app.web")
	})

	// Delete: every IP of the service is withdrawn.
	if err := client.CoreV1().Services("shop").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDesired(t, st, "10.96.0.20", func(s tags.Set) bool { return s.Len() == 0 })
	waitDesired(t, st, "203.0.113.9", func(s tags.Set) bool { return s.Len() == 0 })

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestNewRequiresOptions(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New with empty options succeeded")
	}
}

// TestProblemsReportedOnce: a Service whose label cannot be tagged as
// written is reported when first seen, not again on every rebuild caused by
// other Services; a new problem is reported again.
func TestProblemsReportedOnce(t *testing.T) {
	var logs bytes.Buffer
	var reasons []string
	st := store.New(store.Options{})
	w, err := New(Options{Client: fake.NewClientset(), Deriver: deriver(t), Sink: st,
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
		OnProblem: func(r string) { reasons = append(reasons, r) }})
	if err != nil {
		t.Fatal(err)
	}
	bad := svc("ns", "bad", func(s *corev1.Service) {
		s.Spec.ClusterIPs = []string{"10.96.0.30"}
		s.Labels = map[string]string{"team": "a b"}
	})
	other := svc("ns", "other", func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.31"} })
	count := func() int { return strings.Count(logs.String(), "service not fully tagged") }

	w.apply([]*corev1.Service{bad})
	first := count()
	if first == 0 {
		t.Fatalf("no problem reported for label value %q:\n%s", "a b", logs.String())
	}
	w.apply([]*corev1.Service{bad, other})
	w.apply([]*corev1.Service{bad})
	if got := count(); got != first {
		t.Fatalf("problems reported %d times after rebuilds, want %d:\n%s", got, first, logs.String())
	}
	bad2 := bad.DeepCopy()
	bad2.Spec.ExternalIPs = []string{"999.1.1.1"}
	w.apply([]*corev1.Service{bad2})
	if got := count(); got != first+1 {
		t.Fatalf("new problem: %d reports, want %d:\n%s", got, first+1, logs.String())
	}
	if len(reasons) != first+1 || reasons[len(reasons)-1] != "invalid-ip" || reasons[0] != "invalid-chars" {
		t.Fatalf("OnProblem reasons = %v, want %d ending in invalid-ip", reasons, first+1)
	}
}
