package apiservertest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubedag/kubedag/aggregator"
	"github.com/kubedag/kubedag/aggregator/explain"
)

// TestExplain asks a running aggregator's explain endpoint about a pod
// whose tags reached the emulator: the pushers' own holdings, the
// confirmation and tag latency their hooks recorded, and the DAG read from
// the emulator's config, for a user RBAC lets get pods in the namespace.
func TestExplain(t *testing.T) {
	e := newEnv(t, "explain", 1)
	ctx := t.Context()
	node := e.nodes[0]
	web := e.runPods("web", 1, node, nil)[0]
	ns := prefix + ".ns_" + e.ns
	e.commitDAG(t, e.adminClient(t), vsys1, "web", fmt.Sprintf(`'%s.app.web'`, ns))

	cfg := e.config("fw", "  dags:\n    read: true\n")
	eln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	agg := e.startAggregator("agg", cfg, func(o *aggregator.Options) { o.ExplainListener = eln })
	agent := e.startAgent(node, agg.addr)
	agent.state.Set(podClaim(web))
	eventually(t, time.Minute, "pod tags registered", func() (bool, string) {
		got := owned(e.sim.Sim.Registered())[netip.MustParseAddr(web.Status.PodIP)]
		return slices.Contains(got, ns+".app.web"), fmt.Sprint(got)
	})

	// A user who may get pods in the namespace, with a real token.
	c := testCluster.Client
	if _, err := c.CoreV1().ServiceAccounts(e.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "dev"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RbacV1().Roles(e.ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "dev"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RbacV1().RoleBindings(e.ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "dev"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "dev"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "dev", Namespace: e.ns}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := c.CoreV1().ServiceAccounts(e.ns).CreateToken(ctx, "dev", &authnv1.TokenRequest{
		Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: e.tls.Client}, Timeout: 30 * time.Second}
	ask := func() (explain.Report, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+eln.Addr().String()+
			explain.Path(explain.Query{Kind: explain.KindPod, Namespace: e.ns, Name: web.Name}), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(explain.TokenHeader, "Bearer "+tr.Status.Token)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var r explain.Report
		if err := json.NewDecoder(res.Body).Decode(&r); err != nil || res.StatusCode != http.StatusOK {
			return r, fmt.Sprintf("status %d, %v", res.StatusCode, err)
		}
		b, _ := json.Marshal(r)
		return r, string(b)
	}
	var r explain.Report
	eventually(t, time.Minute, "explain shows the target holding the pod's tags, confirmed, with its latency and DAG", func() (bool, string) {
		var body string
		r, body = ask()
		if len(r.IPs) != 1 || len(r.IPs[0].Targets) != 1 {
			return false, body
		}
		tg := r.IPs[0].Targets[0]
		ok := tg.Known && slices.Equal(tg.Holds, r.IPs[0].Desired) && len(tg.Register) == 0 && len(tg.Unregister) == 0 &&
			tg.ConfirmedBy == "update" && tg.LastLatency != "" && tg.DAGsReadAt != nil &&
			len(tg.DAGs) == 1 && tg.DAGs[0].Name == "web" && tg.DAGs[0].Now && tg.DAGs[0].AfterPending
		return ok, body
	})
	if !r.Leader || len(r.Objects) != 1 || r.Objects[0].Node != node || len(r.IPs[0].AgentClaims) != 1 || r.IPs[0].AgentClaims[0].State != "confirmed" {
		t.Errorf("report: %+v", r)
	}
}
