package charts

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/util/retry"

	"github.com/kubedag/kubedag/e2e/cluster"
)

// TestServerSideDryRun applies the rendered manifests with a server-side
// dry run to a real kube-apiserver, so every object is schema-valid and
// admitted (RBAC rules, PodDisruptionBudget fields, projected volumes...).
// The ServiceMonitor is left out: its CRD belongs to the Prometheus Operator
// and is checked structurally by TestTemplate.
func TestServerSideDryRun(t *testing.T) {
	helm := tool(t, "helm")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{ToolsDir: toolsDir(t)})
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	kc := c.Kubeconfig()
	cs := c.Client
	applyFn := newApplier(t, c)
	apply := func(t *testing.T, o obj, dryRun bool) error {
		t.Helper()
		return applyFn(ctx, o, dryRun)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}

	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			for _, o := range mustTemplate(t, tc.args...) {
				if o.kind() == "ServiceMonitor" || o.kind() == "PodMonitor" || o.kind() == "Certificate" {
					continue // CRDs of the Prometheus Operator and cert-manager: not in the test cluster
				}
				if err := apply(t, o, true); err != nil {
					t.Errorf("apiserver rejected %s %s: %v", o.kind(), o.name(), err)
				}
				n++
			}
			if n < 14 {
				t.Errorf("only %d objects applied; the chart renders more", n)
			}
		})
	}

	// The dry run must catch an invalid object, or the cases above prove nothing.
	t.Run("invalid object rejected", func(t *testing.T) {
		objs := mustTemplate(t, "-f", minimalValues)
		ds := find(t, objs, "DaemonSet", "-agent")
		pod := get(ds, "spec", "template", "spec").(map[string]any)
		pod["dnsPolicy"] = "ClusterFirstWithHostNetwork"
		err := apply(t, ds, true)
		if !apierrors.IsInvalid(err) {
			t.Fatalf("apply of a DaemonSet with a bad dnsPolicy: %v, want Invalid", err)
		}
	})

	// Pod Security: a namespace enforcing baseline would admit the DaemonSet
	// and run none of its pods (host network); the install must fail saying
	// which label to set.
	t.Run("pod security baseline refused", func(t *testing.T) {
		const ns = "kubedag-baseline"
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
			Labels: map[string]string{"pod-security.kubernetes.io/enforce": "baseline"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, stderr, err := run(t, helm, "install", "kdbase", chartDir, "--namespace", ns, "--kubeconfig", kc, "-f", minimalValues)
		if err == nil {
			t.Fatal("helm install succeeded in a namespace enforcing Pod Security baseline")
		}
		if !strings.Contains(stderr, "pod-security.kubernetes.io/enforce=privileged") {
			t.Errorf("helm install error does not say which label to set:\n%s", stderr)
		}
		// Labelled as documented, it installs (own release name: cluster-scoped
		// RBAC objects are named after it).
		if _, err := cs.CoreV1().Namespaces().Update(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
			Labels: map[string]string{"pod-security.kubernetes.io/enforce": "privileged"}}}, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, stderr, err := run(t, helm, "install", "kdbase", chartDir, "--namespace", ns, "--kubeconfig", kc, "-f", minimalValues); err != nil {
			t.Fatalf("helm install in a privileged namespace: %v\n%s", err, stderr)
		}
	})

	// Issue 10 item 5 / issue 15: every aggregator replica is Ready, and the
	// default PodDisruptionBudget lets a drain evict them one at a time
	// (never blocking it) while keeping one serving.
	t.Run("drain evicts one replica at a time", func(t *testing.T) {
		const ns = "kubedag-drain"
		// Its own release name: cluster-scoped RBAC objects are named after it.
		if _, stderr, err := run(t, helm, "install", "kddrain", chartDir, "--namespace", ns, "--create-namespace", "--kubeconfig", kc, "-f", minimalValues); err != nil {
			t.Fatalf("helm install: %v\n%s", err, stderr)
		}
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "kddrain-kubedag-aggregator", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cs.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "kddrain-kubedag-aggregator", metav1.GetOptions{}); err != nil {
			t.Fatalf("the default values install no PodDisruptionBudget: %v", err)
		}
		// Two Ready replicas, leader and standby, as the Deployment would run
		// them (no kubelet for these pods here).
		for _, name := range []string{"leader", "standby"} {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: d.Spec.Template.Labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "aggregator", Image: "kubedag:test"}}}}
			if _, err = cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			// The scheduler writes the pod's status too (unschedulable here): retry on conflict.
			if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				p.Status.Phase = corev1.PodRunning
				p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
				_, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		evict := func(name string) error {
			return cs.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
		}
		// The disruption controller first counts the two healthy pods; until
		// then the API refuses with 429, as it would for a drain's retries.
		var last error
		if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
			last = evict("leader")
			return last == nil, nil
		}); err != nil {
			t.Fatalf("a drain could not evict one of two Ready aggregators: %v", last)
		}
		// The other one is what keeps agents streamed and the firewall pushed.
		if err := evict("standby"); !apierrors.IsTooManyRequests(err) {
			t.Fatalf("evicting the last Ready aggregator: %v, want 429 (the PodDisruptionBudget keeps one)", err)
		}
	})

	// A real install and upgrade: NOTES tell the user what to check, and the
	// generated TLS Secret survives the upgrade (agents keep trusting it).
	t.Run("install and upgrade", func(t *testing.T) {
		const ns = "kubedag-upgrade"
		helmArgs := func(verb string, extra ...string) []string {
			return append([]string{verb, release, chartDir, "--namespace", ns, "--create-namespace",
				"--kubeconfig", kc, "-f", fullValues}, extra...)
		}
		out, stderr, err := run(t, helm, helmArgs("install")...)
		if err != nil {
			t.Fatalf("helm install: %v\n%s", err, stderr)
		}
		i := strings.Index(out, "NOTES:")
		if i < 0 {
			t.Fatalf("no NOTES in:\n%s", out)
		}
		notes := out[i:]
		for _, want := range []string{
			"-n kubedag-upgrade rollout status daemonset/kd-kubedag-agent",
			"get lease kd-kubedag-aggregator",
			"logs deployment/kd-kubedag-aggregator",
			"/metrics",
			"'k8s.cl_prod-eu1.ns_default'",
			"secret/fw1-panos with key api-key and ca.crt",
			"secret/panorama-panos with keys username, password",
			// No Prometheus Operator CRDs in the test cluster: left out, and said so.
			"WARNING: metrics.serviceMonitor.enabled is set but this cluster does not serve",
			"WARNING: metrics.podMonitor.enabled is set but this cluster does not serve",
		} {
			if !strings.Contains(notes, want) {
				t.Errorf("NOTES lack %q:\n%s", want, notes)
			}
		}

		secretName := find(t, mustTemplate(t, "-f", fullValues), "Secret", "-stream-tls").name()
		tlsData := func() map[string][]byte {
			s, err := cs.CoreV1().Secrets(ns).Get(ctx, secretName, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("get TLS Secret: %v", err)
			}
			return s.Data
		}
		annotation := func(key string) string {
			d, err := cs.AppsV1().Deployments(ns).Get(ctx, "kd-kubedag-aggregator", metav1.GetOptions{})
			if err != nil {
				t.Fatalf("get aggregator Deployment: %v", err)
			}
			return d.Spec.Template.Annotations[key]
		}
		checksum := func() string { return annotation("checksum/config") }
		agentTLSSum := func() string {
			d, err := cs.AppsV1().DaemonSets(ns).Get(ctx, "kd-kubedag-agent", metav1.GetOptions{})
			if err != nil {
				t.Fatalf("get agent DaemonSet: %v", err)
			}
			return d.Spec.Template.Annotations["checksum/tls"]
		}
		before, sumBefore, tlsSumBefore := tlsData(), checksum(), annotation("checksum/tls")
		if tlsSumBefore == "" || agentTLSSum() != tlsSumBefore {
			t.Fatalf("checksum/tls: aggregator %q, agent %q: want the same hash on both", tlsSumBefore, agentTLSSum())
		}
		if _, stderr, err := run(t, helm, helmArgs("upgrade", "--set", "tags.namespaceTags=false")...); err != nil {
			t.Fatalf("helm upgrade: %v\n%s", err, stderr)
		}
		after := tlsData()
		for _, k := range []string{"tls.crt", "tls.key", "ca.crt"} {
			if len(before[k]) == 0 || string(before[k]) != string(after[k]) {
				t.Errorf("upgrade changed %s of the stream Secret: agents would stop trusting the aggregator", k)
			}
		}
		if checksum() == sumBefore {
			t.Error("config changed on upgrade but the aggregator pod template did not: pods keep the old config")
		}
		if got := annotation("checksum/tls"); got != tlsSumBefore {
			t.Errorf("checksum/tls changed from %s to %s although the Secret was kept: a needless roll", tlsSumBefore, got)
		}
		// A Secret deleted (to renew it) is generated anew on the next upgrade,
		// and both components roll onto the new CA together.
		if err := cs.CoreV1().Secrets(ns).Delete(ctx, secretName, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, stderr, err := run(t, helm, helmArgs("upgrade", "--set", "tags.namespaceTags=false")...); err != nil {
			t.Fatalf("helm upgrade after deleting the Secret: %v\n%s", err, stderr)
		}
		if string(tlsData()["ca.crt"]) == string(before["ca.crt"]) {
			t.Fatal("the Secret was not regenerated")
		}
		if a, g := annotation("checksum/tls"), agentTLSSum(); a == tlsSumBefore || a != g {
			t.Errorf("after a new CA: checksum/tls aggregator %s, agent %s (was %s): want both changed and equal", a, g, tlsSumBefore)
		}
	})
}

// newApplier returns a function that server-side applies one rendered
// object to c; dryRun leaves nothing behind.
func newApplier(t *testing.T, c *cluster.Cluster) func(ctx context.Context, o obj, dryRun bool) error {
	t.Helper()
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return func(ctx context.Context, o obj, dryRun bool) error {
		u := &unstructured.Unstructured{Object: map[string]any(o)}
		gvk := u.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return err
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ri = dyn.Resource(m.Resource).Namespace(u.GetNamespace())
		}
		opts := metav1.ApplyOptions{FieldManager: "kubedag-chart-test", Force: true}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		_, err = ri.Apply(ctx, u.GetName(), u, opts)
		return err
	}
}
