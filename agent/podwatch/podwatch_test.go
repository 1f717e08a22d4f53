package podwatch

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubedag/kubedag/agent/kubeapi/typed"

	"github.com/kubedag/kubedag/tags"
)

const node = "node-a"

// recorder is a Sink that keeps the current claims and counts calls.
type recorder struct {
	mu      sync.Mutex
	claims  map[netip.Addr]tags.Identity
	upserts int
	removes int
}

func newRecorder() *recorder { return &recorder{claims: map[netip.Addr]tags.Identity{}} }

func (r *recorder) Upsert(ip netip.Addr, id tags.Identity, seen time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if seen.IsZero() {
		panic("zero seen time")
	}
	r.claims[ip] = id
	r.upserts++
}

func (r *recorder) Remove(ip netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.claims[ip]; !ok {
		panic(fmt.Sprintf("Remove of unclaimed %s", ip))
	}
	delete(r.claims, ip)
	r.removes++
}

// diff describes how the recorded claims differ from want ("" if equal).
func (r *recorder) diff(want map[string]tags.Identity) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for ip, id := range r.claims {
		w, ok := want[ip.String()]
		if !ok {
			out = append(out, fmt.Sprintf("unexpected %s: %+v", ip, id))
		} else if !w.Equal(id) {
			out = append(out, fmt.Sprintf("%s: got %+v, want %+v", ip, id, w))
		}
	}
	for ip, w := range want {
		if _, ok := r.claims[netip.MustParseAddr(ip)]; !ok {
			out = append(out, fmt.Sprintf("missing %s: %+v", ip, w))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// waitFor polls cond with a generous deadline.
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
	t.Fatalf("%s: not reached:\n%s", what, last)
}

type podOpt func(*corev1.Pod)

func pod(ns, name, uid, nodeName string, ips []string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, UID: types.UID(uid),
			Labels:            map[string]string{"app": name},
			CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		},
		Spec:   corev1.PodSpec{NodeName: nodeName},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, ip := range ips {
		p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
	}
	if len(ips) > 0 {
		p.Status.PodIP = ips[0]
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func withPhase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }
func hostNet(p *corev1.Pod)               { p.Spec.HostNetwork = true }
func createdAt(min int) podOpt {
	return func(p *corev1.Pod) {
		p.CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 1, 0, min, 0, 0, time.UTC))
	}
}
func ownedBy(kind, name string) podOpt {
	return func(p *corev1.Pod) {
		yes := true
		p.OwnerReferences = []metav1.OwnerReference{
			{APIVersion: "v1", Kind: "ConfigMap", Name: "not-controller"},
			{APIVersion: "apps/v1", Kind: kind, Name: name, Controller: &yes},
		}
	}
}

func slice(ns, name, svc string, pods ...*corev1.Pod) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, p := range pods {
		n := p.Spec.NodeName
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{p.Status.PodIP},
			NodeName:  &n,
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
		})
	}
	return s
}

func ident(p *corev1.Pod, services []string, nsLabels map[string]string) tags.Identity {
	id := tags.Identity{
		Kind: tags.KindPod, Namespace: p.Namespace, Name: p.Name, UID: string(p.UID),
		Labels: p.Labels, Services: services, NamespaceLabels: nsLabels,
	}
	for _, r := range p.OwnerReferences {
		if r.Controller != nil && *r.Controller {
			id.OwnerKind, id.OwnerName = r.Kind, r.Name
		}
	}
	return id
}

// env is a running watcher against a fake clientset.
type env struct {
	t   *testing.T
	ctx context.Context
	c   kubernetes.Interface
	w   *Watcher
	rec *recorder
}

func (e *env) createPod(p *corev1.Pod) {
	e.t.Helper()
	if _, err := e.c.CoreV1().Pods(p.Namespace).Create(e.ctx, p, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) updatePod(p *corev1.Pod) {
	e.t.Helper()
	if _, err := e.c.CoreV1().Pods(p.Namespace).Update(e.ctx, p, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) deletePod(p *corev1.Pod) {
	e.t.Helper()
	if err := e.c.CoreV1().Pods(p.Namespace).Delete(e.ctx, p.Name, metav1.DeleteOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) createSlice(s *discoveryv1.EndpointSlice) {
	e.t.Helper()
	if _, err := e.c.DiscoveryV1().EndpointSlices(s.Namespace).Create(e.ctx, s, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) putNamespace(name string, labels map[string]string) {
	e.t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	_, err := e.c.CoreV1().Namespaces().Update(e.ctx, ns, metav1.UpdateOptions{})
	if err != nil {
		_, err = e.c.CoreV1().Namespaces().Create(e.ctx, ns, metav1.CreateOptions{})
	}
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) want(what string, want map[string]tags.Identity) {
	e.t.Helper()
	waitFor(e.t, what, func() string { return e.rec.diff(want) })
}

func startEnv(t *testing.T, cfg Config, objs ...*corev1.Pod) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := fake.NewClientset()
	for _, p := range objs {
		if _, err := c.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rec := newRecorder()
	cfg.Source, cfg.NodeName, cfg.Sink = typed.New(c), node, rec
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-w.Synced():
	case <-time.After(20 * time.Second):
		t.Fatal("not synced")
	}
	if !w.HasSynced() {
		t.Fatal("Synced closed while HasSynced is false")
	}
	return &env{t: t, ctx: ctx, c: c, w: w, rec: rec}
}

func TestWatcher(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		run  func(e *env)
	}{{
		name: "create dual-stack, other node and no-IP pods ignored, delete",
		run: func(e *env) {
			a := pod("default", "a", "uid-a", node, []string{"10.0.0.1", "fd00::1"}, ownedBy("ReplicaSet", "web-5d9"))
			other := pod("default", "b", "uid-b", "node-b", []string{"10.0.0.2"})
			noIP := pod("default", "c", "uid-c", node, nil, withPhase(corev1.PodPending))
			e.createPod(a)
			e.createPod(other)
			e.createPod(noIP)
			e.want("created", map[string]tags.Identity{
				"10.0.0.1": ident(a, nil, nil),
				"fd00::1":  ident(a, nil, nil),
			})
			noIP.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.3"}}
			e.updatePod(noIP)
			e.want("IP assigned", map[string]tags.Identity{
				"10.0.0.1": ident(a, nil, nil),
				"fd00::1":  ident(a, nil, nil),
				"10.0.0.3": ident(noIP, nil, nil),
			})
			e.deletePod(a)
			e.want("deleted", map[string]tags.Identity{"10.0.0.3": ident(noIP, nil, nil)})
		},
	}, {
		name: "relabel, and updates that change nothing emit nothing",
		run: func(e *env) {
			a := pod("default", "a", "uid-a", node, []string{"10.0.0.1"})
			e.createPod(a)
			e.want("created", map[string]tags.Identity{"10.0.0.1": ident(a, nil, nil)})
			a.Labels = map[string]string{"app": "a", "tier": "db"}
			e.updatePod(a)
			e.want("relabelled", map[string]tags.Identity{"10.0.0.1": ident(a, nil, nil)})
			e.rec.mu.Lock()
			before := e.rec.upserts
			e.rec.mu.Unlock()
			a.Annotations = map[string]string{"unrelated": "x"}
			e.updatePod(a)
			// A marker pod, created after the no-op update, proves the
			// watcher has processed it.
			m := pod("default", "marker", "uid-m", node, []string{"10.0.0.9"})
			e.createPod(m)
			e.want("marker", map[string]tags.Identity{"10.0.0.1": ident(a, nil, nil), "10.0.0.9": ident(m, nil, nil)})
			e.rec.mu.Lock()
			defer e.rec.mu.Unlock()
			if got := e.rec.upserts - before; got != 1 {
				t.Errorf("upserts after no-op update + marker = %d, want 1", got)
			}
		},
	}, {
		name: "claims carry no Services (the aggregator derives them)",
		run: func(e *env) {
			a := pod("shop", "a", "uid-a", node, []string{"10.0.0.1"})
			e.createSlice(slice("shop", "web-x1", "web", a)) // not watched
			e.createPod(a)
			e.want("created", map[string]tags.Identity{"10.0.0.1": ident(a, nil, nil)})
		},
	}, {
		name: "namespace labels and relabel",
		run: func(e *env) {
			e.putNamespace("team", map[string]string{"env": "prod"})
			a := pod("team", "a", "uid-a", node, []string{"10.0.0.1"})
			e.createPod(a)
			e.want("created", map[string]tags.Identity{"10.0.0.1": ident(a, nil, map[string]string{"env": "prod"})})
			e.putNamespace("team", map[string]string{"env": "staging"})
			e.want("ns relabelled", map[string]tags.Identity{"10.0.0.1": ident(a, nil, map[string]string{"env": "staging"})})
		},
	}, {
		name: "hostNetwork pods claim nothing by default",
		run: func(e *env) {
			h := pod("kube-system", "proxy", "uid-h", node, []string{"192.168.1.10"}, hostNet)
			a := pod("default", "a", "uid-a", node, []string{"10.0.0.1"})
			e.createPod(h)
			e.createPod(a)
			e.want("created", map[string]tags.Identity{"10.0.0.1": ident(a, nil, nil)})
		},
	}, {
		name: "hostNetwork pods claim with AllowHostNetwork",
		cfg:  Config{AllowHostNetwork: true},
		run: func(e *env) {
			h := pod("kube-system", "proxy", "uid-h", node, []string{"192.168.1.10"}, hostNet)
			e.createPod(h)
			e.want("created", map[string]tags.Identity{"192.168.1.10": ident(h, nil, nil)})
		},
	}, {
		name: "terminating, failed and succeeded pods release their IPs",
		run: func(e *env) {
			a := pod("default", "a", "uid-a", node, []string{"10.0.0.1"})
			b := pod("default", "b", "uid-b", node, []string{"10.0.0.2"})
			c := pod("default", "c", "uid-c", node, []string{"10.0.0.3"})
			e.createPod(a)
			e.createPod(b)
			e.createPod(c)
			e.want("created", map[string]tags.Identity{
				"10.0.0.1": ident(a, nil, nil), "10.0.0.2": ident(b, nil, nil), "10.0.0.3": ident(c, nil, nil),
			})
			now := metav1.Now()
			a.DeletionTimestamp = &now
			e.updatePod(a)
			b.Status.Phase = corev1.PodFailed
			e.updatePod(b)
			c.Status.Phase = corev1.PodSucceeded
			e.updatePod(c)
			e.want("released", map[string]tags.Identity{})
		},
	}, {
		name: "duplicate IP: newest running pod wins, the other takes over when it goes",
		run: func(e *env) {
			old := pod("default", "old", "uid-old", node, []string{"10.0.0.1"}, createdAt(1))
			e.createPod(old)
			e.want("old", map[string]tags.Identity{"10.0.0.1": ident(old, nil, nil)})
			pending := pod("default", "pending", "uid-p", node, []string{"10.0.0.1"}, createdAt(3), withPhase(corev1.PodPending))
			e.createPod(pending)
			nu := pod("default", "new", "uid-new", node, []string{"10.0.0.1"}, createdAt(2))
			e.createPod(nu)
			e.want("newest running wins", map[string]tags.Identity{"10.0.0.1": ident(nu, nil, nil)})
			if got := e.w.Conflicts(); got != 1 {
				t.Errorf("Conflicts() = %d, want 1", got)
			}
			e.deletePod(nu)
			e.want("old again", map[string]tags.Identity{"10.0.0.1": ident(old, nil, nil)})
			e.deletePod(old)
			e.want("pending last", map[string]tags.Identity{"10.0.0.1": ident(pending, nil, nil)})
			if got := e.w.Conflicts(); got != 0 {
				t.Errorf("Conflicts() = %d, want 0", got)
			}
		},
	}, {
		name: "malformed and IPv4-mapped IPs",
		run: func(e *env) {
			a := pod("default", "a", "uid-a", node, []string{"not-an-ip", "::ffff:10.0.0.1", "10.0.0.1", "fd00::1"})
			e.createPod(a)
			e.want("created", map[string]tags.Identity{"10.0.0.1": ident(a, nil, nil), "fd00::1": ident(a, nil, nil)})
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(startEnv(t, tc.cfg))
		})
	}
}

func TestPodsPresentAtStartAreReportedAfterSync(t *testing.T) {
	a := pod("default", "a", "uid-a", node, []string{"10.0.0.1"})
	b := pod("default", "b", "uid-b", "node-b", []string{"10.0.0.2"})
	e := startEnv(t, Config{}, a, b)
	// HasSynced implies the first reconcile is done: no polling needed.
	if d := e.rec.diff(map[string]tags.Identity{"10.0.0.1": ident(a, nil, nil)}); d != "" {
		t.Fatalf("after sync:\n%s", d)
	}
}

func TestNewValidates(t *testing.T) {
	c := typed.New(fake.NewClientset())
	for _, cfg := range []Config{
		{NodeName: node, Sink: newRecorder()},
		{Source: c, Sink: newRecorder()},
		{Source: c, NodeName: node},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestRunTwice(t *testing.T) {
	w, err := New(Config{Source: typed.New(fake.NewClientset()), NodeName: node, Sink: newRecorder()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Run(ctx); err != nil {
		t.Fatalf("first Run: %v", err)
	}
	if err := w.Run(ctx); err == nil {
		t.Fatal("second Run succeeded")
	}
}

type nopSink struct{}

func (nopSink) Upsert(netip.Addr, tags.Identity, time.Time) {}
func (nopSink) Remove(netip.Addr)                           {}
