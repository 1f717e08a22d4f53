package apiservertest

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kubedag/kubedag/agent/kubeapi"
	"github.com/kubedag/kubedag/agent/podwatch"
	"github.com/kubedag/kubedag/e2e/cluster"
	"github.com/kubedag/kubedag/tags"
)

var testCluster *cluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(cluster.RunTests(m, cluster.Options{Kwok: true}, &testCluster))
}

type recorder struct {
	mu     sync.Mutex
	claims map[netip.Addr]tags.Identity
}

func (r *recorder) Upsert(ip netip.Addr, id tags.Identity, _ time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.claims[ip] = id
}

func (r *recorder) Remove(ip netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.claims, ip)
}

func (r *recorder) diff(want map[netip.Addr]tags.Identity) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for ip, id := range r.claims {
		if w, ok := want[ip]; !ok {
			out = append(out, fmt.Sprintf("unexpected %s (%s)", ip, id.Name))
		} else if !w.Equal(id) {
			out = append(out, fmt.Sprintf("%s: got %+v, want %+v", ip, id, w))
		}
	}
	for ip, w := range want {
		if _, ok := r.claims[ip]; !ok {
			out = append(out, fmt.Sprintf("missing %s (%s)", ip, w.Name))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// grantWatch lets the node's identity list and watch what podwatch needs
// besides its own pods (which the Node authorizer allows only with the
// spec.nodeName field selector).
func grantWatch(ctx context.Context, t *testing.T, node string) {
	t.Helper()
	name := "podwatch-test-" + node
	cr := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"list", "watch"}},
		},
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "system:node:" + node}},
	}
	rbac := testCluster.Client.RbacV1()
	if _, err := rbac.ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rbac.ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	if _, err := rbac.ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rbac.ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

// expected builds the wanted claims from the API's view of the pods on node.
func expected(ctx context.Context, t *testing.T, ns, node string) map[netip.Addr]tags.Identity {
	t.Helper()
	c := testCluster.Client
	nsObj, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[netip.Addr]tags.Identity{}
	for _, p := range pods.Items {
		if p.Spec.NodeName != node || p.DeletionTimestamp != nil || len(p.Status.PodIPs) == 0 {
			continue
		}
		for _, pip := range p.Status.PodIPs {
			want[netip.MustParseAddr(pip.IP)] = tags.Identity{
				Kind: tags.KindPod, Namespace: ns, Name: p.Name, UID: string(p.UID),
				Labels: p.Labels, NamespaceLabels: nsObj.Labels,
			}
		}
	}
	return want
}

func waitFor(t *testing.T, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		if last = cond(); last == "" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not reached:\n%s", what, last)
}

func TestAgainstAPIServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	c := testCluster.Client
	ns, err := testCluster.CreateNamespace(ctx, "podwatch")
	if err != nil {
		t.Fatal(err)
	}
	defer testCluster.DeleteNamespace(context.Background(), ns)
	nodes, err := testCluster.CreateNodes(ctx, "pw-node", 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := testCluster.WaitNodesReady(ctx, nodes...); err != nil {
		t.Fatal(err)
	}
	me := nodes[0]
	grantWatch(ctx, t, me)

	cfg, err := testCluster.NodeConfig(me)
	if err != nil {
		t.Fatal(err)
	}
	// The agent's own client (protobuf), as the node's kubelet identity
	// with no right to EndpointSlices: what the Node authorizer and the
	// agent's role allow is what the agent gets.
	src, err := kubeapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{claims: map[netip.Addr]tags.Identity{}}
	w, err := podwatch.New(podwatch.Config{Source: src, NodeName: me, Sink: rec})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	waitFor(t, "synced", func() string {
		if !w.HasSynced() {
			return "not synced (RBAC or field selector refused?)"
		}
		return ""
	})

	// Six pods round-robin on two nodes: three are ours.
	if _, err := testCluster.CreatePods(ctx, cluster.PodBatch{Namespace: ns, Prefix: "web", Count: 6, Nodes: nodes}); err != nil {
		t.Fatal(err)
	}
	if _, err := testCluster.WaitPodsRunning(ctx, ns, "app=web", 6); err != nil {
		t.Fatal(err)
	}
	want := expected(ctx, t, ns, me)
	if len(want) != 3 {
		t.Fatalf("expected 3 local pod IPs, API says %d", len(want))
	}
	waitFor(t, "created", func() string { return rec.diff(want) })

	// Relabel one local pod.
	patch := []byte(`{"metadata":{"labels":{"tier":"frontend"}}}`)
	if _, err := c.CoreV1().Pods(ns).Patch(ctx, "web-0", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "relabelled", func() string { return rec.diff(expected(ctx, t, ns, me)) })

	// A Service selecting tier=frontend: the EndpointSlice controller lists
	// web-0, which changes nothing in the agent's claims (the aggregator
	// derives Services from its own view). A relabel after the slice
	// exists proves the agent has processed everything before it.
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "front", Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"tier": "frontend"},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := c.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web-0 in the Service's EndpointSlice", func() string {
		list, err := c.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=front"})
		if err != nil {
			return err.Error()
		}
		for _, sl := range list.Items {
			for _, ep := range sl.Endpoints {
				if ep.TargetRef != nil && ep.TargetRef.Name == "web-0" {
					return ""
				}
			}
		}
		return "not listed yet"
	})
	if _, err := c.CoreV1().Pods(ns).Patch(ctx, "web-2", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "relabel after the Service, claims without Services", func() string {
		return rec.diff(expected(ctx, t, ns, me))
	})

	// Deleting a local pod releases its IP.
	if err := c.CoreV1().Pods(ns).Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deleted", func() string {
		want := expected(ctx, t, ns, me)
		if len(want) != 2 {
			return fmt.Sprintf("API still lists %d local pods", len(want))
		}
		return rec.diff(want)
	})
}
