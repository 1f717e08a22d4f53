package podview

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/kubedag/kubedag/tags"
	"github.com/kubedag/kubedag/tags/podidentity"
)

func pod(ns, name, node, ip string, mut func(*corev1.Pod)) *corev1.Pod {
	yes := true
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name),
			Labels:          map[string]string{"app": name},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: name + "-rs", Controller: &yes}},
		},
		Spec:   corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
	if mut != nil {
		mut(p)
	}
	return p
}

func slice(ns, svc string, pods ...*corev1.Pod) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: svc + "-abc", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, p := range pods {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{p.Status.PodIP},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID}})
	}
	return s
}

// changes records OnChange calls.
type changes struct {
	mu  sync.Mutex
	ips map[netip.Addr]int
}

func (c *changes) add(ips []netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ip := range ips {
		c.ips[ip]++
	}
}

func (c *changes) count(ip string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ips[netip.MustParseAddr(ip)]
}

func startView(t *testing.T, objs ...kruntime.Object) (*View, *fake.Clientset, *changes) {
	t.Helper()
	client := fake.NewClientset(objs...)
	ch := &changes{ips: map[netip.Addr]int{}}
	v, err := New(Options{Client: client, OnChange: ch.add})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	eventually(t, "synced", v.HasSynced)
	return v, client, ch
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func holder(v *View, ip string) (tags.Identity, string, int) {
	hs := v.Holders(netip.MustParseAddr(ip))
	if len(hs) != 1 {
		return tags.Identity{}, "", len(hs)
	}
	return hs[0].Identity, hs[0].Node, 1
}

func TestViewIdentity(t *testing.T) {
	web := pod("shop", "web", "n1", "10.0.1.5", nil)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"team": "a"}}}
	v, client, ch := startView(t, web, ns, slice("shop", "front", web))
	ctx := t.Context()

	id, node, n := holder(v, "10.0.1.5")
	want := tags.Identity{Kind: tags.KindPod, Namespace: "shop", Name: "web", UID: "uid-shop-web",
		Labels: map[string]string{"app": "web"}, OwnerKind: "ReplicaSet", OwnerName: "web-rs",
		Services: []string{"front"}, NamespaceLabels: map[string]string{"team": "a"}}
	if n != 1 || node != "n1" || !id.Equal(want) {
		t.Fatalf("holder = %d %q %+v, want n1 %+v", n, node, id, want)
	}

	// A relabel reaches the view and is announced for the pod's IP.
	before := ch.count("10.0.1.5")
	p := web.DeepCopy()
	p.Labels = map[string]string{"app": "web", "tier": "db"}
	if _, err := client.CoreV1().Pods("shop").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "relabel seen", func() bool { id, _, _ := holder(v, "10.0.1.5"); return id.Labels["tier"] == "db" })
	// The view is updated, then the change announced: not in one step.
	eventually(t, "relabel announced", func() bool { return ch.count("10.0.1.5") > before })

	// The Service's slice goes: the Service leaves the identity.
	before = ch.count("10.0.1.5")
	if err := client.DiscoveryV1().EndpointSlices("shop").Delete(ctx, "front-abc", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "service gone", func() bool { id, _, _ := holder(v, "10.0.1.5"); return len(id.Services) == 0 })
	eventually(t, "slice change announced", func() bool { return ch.count("10.0.1.5") > before })

	// Namespace labels follow.
	ns2 := ns.DeepCopy()
	ns2.Labels = map[string]string{"team": "b"}
	if _, err := client.CoreV1().Namespaces().Update(ctx, ns2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "namespace labels", func() bool { id, _, _ := holder(v, "10.0.1.5"); return id.NamespaceLabels["team"] == "b" })

	// Terminating: the pod holds its IP no more.
	p, _ = client.CoreV1().Pods("shop").Get(ctx, "web", metav1.GetOptions{})
	now := metav1.Now()
	p.DeletionTimestamp = &now
	if _, err := client.CoreV1().Pods("shop").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "terminating pod releases its IP", func() bool { _, _, n := holder(v, "10.0.1.5"); return n == 0 })
}

func TestViewReuseAndMove(t *testing.T) {
	old := pod("a", "old", "n1", "10.0.9.9", nil)
	v, client, _ := startView(t, old)
	ctx := t.Context()
	// The IP goes to a pod on another node before the old pod is gone:
	// both hold it.
	if _, err := client.CoreV1().Pods("b").Create(ctx, pod("b", "new", "n2", "10.0.9.9", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "two holders", func() bool { return len(v.Holders(netip.MustParseAddr("10.0.9.9"))) == 2 })
	if err := client.CoreV1().Pods("a").Delete(ctx, "old", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "new holder only", func() bool { id, node, n := holder(v, "10.0.9.9"); return n == 1 && node == "n2" && id.Name == "new" })
	// A finished pod holds nothing.
	p, _ := client.CoreV1().Pods("b").Get(ctx, "new", metav1.GetOptions{})
	p.Status.Phase = corev1.PodSucceeded
	if _, err := client.CoreV1().Pods("b").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "finished pod releases", func() bool { _, _, n := holder(v, "10.0.9.9"); return n == 0 })
}

// TestMemory10kPods measures the trimmed pod view at 10,000 pods (with 100
// Services' EndpointSlices and 10 Namespaces): live heap bytes per pod after GC (HeapAlloc),
// objects built like the API server's (managedFields, containers, env,
// volumes), trimmed as the informer does and dropped, as a decoded watch
// event is. The budget is generous; the log line is the measurement.
func TestMemory10kPods(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the 10k-pod memory measurement (~50 MB for ~1 s); make test and make unit do not pass -short")
	}
	const pods, services = 10000, 100
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	podStore := cache.NewIndexer(cache.MetaNamespaceKeyFunc, Indexers())
	sliceStore := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{podidentity.SliceIndex: podidentity.SlicePodKeys})
	var members [services][]*corev1.Pod
	for i := range pods {
		full := fullPod(i)
		if err := podStore.Add(Trim(full)); err != nil {
			t.Fatal(err)
		}
		members[i%services] = append(members[i%services], &corev1.Pod{ObjectMeta: full.ObjectMeta, Status: corev1.PodStatus{PodIP: full.Status.PodIP}})
	}
	for s := range services {
		sl := slice(fmt.Sprintf("ns-%d", s%10), fmt.Sprintf("svc-%d", s), members[s]...)
		if err := sliceStore.Add(Trim(sl)); err != nil {
			t.Fatal(err)
		}
	}
	members = [services][]*corev1.Pod{}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perPod := float64(after.HeapAlloc-before.HeapAlloc) / pods
	t.Logf("pod view at %d pods (+%d EndpointSlices): %.0f heap bytes per pod, %.1f MiB in all",
		pods, services, perPod, float64(after.HeapAlloc-before.HeapAlloc)/(1<<20))
	if got := len(podStore.ListKeys()); got != pods {
		t.Fatalf("store holds %d pods", got)
	}
	if hs, _ := podStore.ByIndex(ipIndex, fullPod(1234).Status.PodIP); len(hs) != 1 {
		t.Fatalf("ip index: %d holders", len(hs))
	}
	if perPod > 4096 {
		t.Fatalf("%.0f bytes per pod, budget 4096", perPod)
	}
	runtime.KeepAlive(podStore)
	runtime.KeepAlive(sliceStore)
}

// fullPod is a pod as a Deployment makes it, with what the API server adds.
func fullPod(i int) *corev1.Pod {
	yes := true
	ns := fmt.Sprintf("ns-%d", i%10)
	name := fmt.Sprintf("web-%d-7d9f8b6c5d-%05d", i%100, i)
	ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, UID: types.UID(fmt.Sprintf("0b6e2c4a-5f1d-4e3b-9a7c-%012d", i)),
			ResourceVersion: fmt.Sprint(100000 + i), GenerateName: name[:len(name)-5],
			CreationTimestamp: metav1.Now(),
			Labels:            map[string]string{"app": fmt.Sprintf("web-%d", i%100), "pod-template-hash": "7d9f8b6c5d", "tier": "front"},
			Annotations:       map[string]string{"kubectl.kubernetes.io/restartedAt": "2026-11-30T10:00:00Z", "prometheus.io/scrape": "true"},
			OwnerReferences:   []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: fmt.Sprintf("web-%d-7d9f8b6c5d", i%100), UID: "rs-uid", Controller: &yes, BlockOwnerDeletion: &yes}},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
				FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: make([]byte, 1500)}}},
		},
		Spec: corev1.PodSpec{
			NodeName: fmt.Sprintf("node-%d", i%100), ServiceAccountName: "default",
			Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1.2.3",
				Env:          []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}},
				VolumeMounts: []corev1.VolumeMount{{Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}}}},
			Volumes: []corev1.Volume{{Name: "kube-api-access"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, HostIP: "172.20.0.1",
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "web", Ready: true, Image: "registry.example/web:1.2.3",
				ImageID: "registry.example/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}},
	}
}

func TestTrimIdempotent(t *testing.T) {
	p := fullPod(7)
	a, ok := Trim(p).(*Facts)
	if !ok {
		t.Fatalf("Trim(pod) = %T, want *Facts", Trim(p))
	}
	b := Trim(a).(*Facts)
	if b != a || a.Name != p.Name || !slices.Equal(a.IPs, addrs(p)) || a.Node != p.Spec.NodeName ||
		metav1.GetControllerOf(a) == nil || len(a.ManagedFields) != 0 || len(a.Annotations) != 0 {
		t.Fatalf("trim not idempotent or keeps too much: %+v", b)
	}
	if c := a.DeepCopyObject().(*Facts); c == a || !slices.Equal(c.IPs, a.IPs) || c.Name != a.Name {
		t.Fatalf("DeepCopyObject = %+v", c)
	}
}

// TestViewSliceUpdateAnnouncesChangedPods: an EndpointSlice update
// announces the IPs of the pods it starts or stops listing (their Services
// change), not those of every pod it lists; a Service rename announces all.
func TestViewSliceUpdateAnnouncesChangedPods(t *testing.T) {
	a := pod("shop", "a", "n1", "10.0.1.1", nil)
	b := pod("shop", "b", "n1", "10.0.1.2", nil)
	c := pod("shop", "c", "n2", "10.0.1.3", nil)
	v, client, ch := startView(t, a, b, c, slice("shop", "front", a, b))
	ctx := t.Context()
	eventually(t, "a in front", func() bool { id, _, _ := holder(v, "10.0.1.1"); return slices.Equal(id.Services, []string{"front"}) })
	update := func(s *discoveryv1.EndpointSlice) {
		t.Helper()
		if _, err := client.DiscoveryV1().EndpointSlices("shop").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	count := func() [3]int { return [3]int{ch.count("10.0.1.1"), ch.count("10.0.1.2"), ch.count("10.0.1.3")} }

	// c joins, b leaves: only they are announced.
	before := count()
	update(slice("shop", "front", a, c))
	eventually(t, "c joined", func() bool { return count()[2] > before[2] })
	if got := count(); got[0] != before[0] || got[1] <= before[1] {
		t.Fatalf("announcements before %v after %v: want b and c, not a", before, got)
	}
	if id, _, _ := holder(v, "10.0.1.2"); len(id.Services) != 0 {
		t.Fatalf("b still in %v", id.Services)
	}

	// Only an endpoint's readiness changes: no pod's Services do.
	before = count()
	s := slice("shop", "front", a, c)
	no := false
	s.Endpoints[0].Conditions.Ready = &no
	update(s)
	// A later change of c's slice membership orders after it.
	update(slice("shop", "front", a))
	eventually(t, "c left", func() bool { return count()[2] > before[2] })
	if got := count(); got[0] != before[0] || got[1] != before[1] {
		t.Fatalf("announcements before %v after %v: want c only", before, got)
	}

	// The slice moves to another Service: every pod it lists changes.
	before = count()
	s = slice("shop", "front", a)
	s.Labels[discoveryv1.LabelServiceName] = "back"
	update(s)
	eventually(t, "a announced", func() bool { return count()[0] > before[0] })
	eventually(t, "a in back", func() bool { id, _, _ := holder(v, "10.0.1.1"); return slices.Equal(id.Services, []string{"back"}) })
}
