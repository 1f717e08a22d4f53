package charts

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

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
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatalf("kubeconfig %s: %v", kc, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}

	// apply server-side applies one object; dryRun leaves nothing behind.
	apply := func(t *testing.T, o obj, dryRun bool) error {
		t.Helper()
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

	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			for _, o := range mustTemplate(t, tc.args...) {
				if o.kind() == "ServiceMonitor" {
					continue
				}
				if err := apply(t, o, true); err != nil {
					t.Errorf("apiserver rejected %s %s: %v", o.kind(), o.name(), err)
				}
				n++
			}
			if n < 15 {
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

	// A real install and upgrade: NOTES tell the user what to check, and the
	// generated TLS Secret survives the upgrade (agents keep trusting it).
	t.Run("install and upgrade", func(t *testing.T) {
		const ns = "kubedag-upgrade"
		helmArgs := func(verb string, extra ...string) []string {
			return append([]string{verb, release, chartDir, "--namespace", ns, "--create-namespace",
				"--kubeconfig", kc, "-f", fullValues,
				// No Prometheus Operator CRDs in the test cluster.
				"--set", "metrics.serviceMonitor.enabled=false"}, extra...)
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
		checksum := func() string {
			d, err := cs.AppsV1().Deployments(ns).Get(ctx, "kd-kubedag-aggregator", metav1.GetOptions{})
			if err != nil {
				t.Fatalf("get aggregator Deployment: %v", err)
			}
			return d.Spec.Template.Annotations["checksum/config"]
		}
		before, sumBefore := tlsData(), checksum()
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
	})
}
