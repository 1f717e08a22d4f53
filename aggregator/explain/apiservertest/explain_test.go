package apiservertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/kubedag/kubedag/aggregator/dags"
	"github.com/kubedag/kubedag/aggregator/explain"
	"github.com/kubedag/kubedag/aggregator/podview"
	"github.com/kubedag/kubedag/aggregator/push"
	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/aggregator/verify"
	"github.com/kubedag/kubedag/e2e/pki"
	"github.com/kubedag/kubedag/tags"
	"github.com/kubedag/kubedag/tags/dagfilter"
	"github.com/kubedag/kubedag/userid"
)

// fixture is an aggregator's explain endpoint over a real pod view, with
// two namespaces (the caller's and another's), a pod in each sharing one
// IP (reuse), and users of every kind of access.
type fixture struct {
	ns, other string
	ip        netip.Addr
	url       string // the endpoint, direct
	client    *http.Client
	tokens    map[string]string // user -> ServiceAccount token
	tls       pki.TestTLS
}

const (
	sharedIP = "10.77.0.5"
	podIP    = "10.77.0.9"
)

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	c := testCluster.Client
	f := &fixture{ip: netip.MustParseAddr(sharedIP), tokens: map[string]string{}, tls: pki.NewTestTLS(t, "kubedag-aggregator")}
	var err error
	if f.ns, err = testCluster.CreateNamespace(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if f.other, err = testCluster.CreateNamespace(ctx, "secret"); err != nil {
		t.Fatal(err)
	}
	var crbs []string
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, ns := range []string{f.ns, f.other} {
			pods, _ := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			for _, p := range pods.Items {
				_ = c.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
			}
			if err := testCluster.DeleteNamespace(ctx, ns); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		for _, n := range crbs {
			_ = c.RbacV1().ClusterRoleBindings().Delete(ctx, n, metav1.DeleteOptions{})
		}
	})

	// Pods: web in the caller's namespace, spy in the other, both holding
	// sharedIP (an IP being reused); db holds podIP alone.
	mkPod := func(ns, name, ip string, labels map[string]string) {
		p, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		setPodIP(t, ns, p.Name, ip)
	}
	mkPod(f.ns, "web", sharedIP, map[string]string{"app": "web"})
	mkPod(f.ns, "db", podIP, map[string]string{"app": "db"})
	mkPod(f.other, "spy", sharedIP, map[string]string{"app": "spy"})

	// Users: ServiceAccounts with real tokens, access by RBAC.
	mkUser := func(name string, rules ...rbacv1.PolicyRule) {
		if _, err := c.CoreV1().ServiceAccounts(f.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if len(rules) > 0 {
			if _, err := c.RbacV1().Roles(f.ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.RbacV1().RoleBindings(f.ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
				Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: f.ns}}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		tr, err := c.CoreV1().ServiceAccounts(f.ns).CreateToken(ctx, name, &authnv1.TokenRequest{
			Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[name] = tr.Status.Token
	}
	get := func(resource string, names ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{resource}, Verbs: []string{"get"}, ResourceNames: names}
	}
	mkUser("viewer", get("pods"), get("services"))
	mkUser("web-only", get("pods", "web"))
	mkUser("nobody")
	mkUser("admin")
	// admin may get pods and services everywhere (the "view" ClusterRole
	// of a real cluster has that; the bootstrap roles are not needed here).
	crb := "explain-admin-" + f.ns
	crbs = append(crbs, crb)
	if _, err := c.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: crb},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "admin", Namespace: f.ns}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The aggregator's state: a real pod view; the store with both pods'
	// claims on the shared IP; the claim gate and a target, faked.
	view, err := podview.New(podview.Options{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	viewDone := make(chan error, 1)
	go func() { viewDone <- view.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-viewDone })
	waitFor(t, "pod view synced with the shared IP's two pods", func() bool {
		return view.HasSynced() && len(view.Holders(f.ip)) == 2
	})
	d, err := tags.NewDeriver(tags.Config{Cluster: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(store.Options{})
	idOf := func(ns, name string) tags.Identity {
		n, ok := view.ByName(ns, name)
		if !ok {
			t.Fatalf("pod %s/%s not in the view", ns, name)
		}
		return n.Identity
	}
	web, spy, db := idOf(f.ns, "web"), idOf(f.other, "spy"), idOf(f.ns, "db")
	claim := func(node string, ip netip.Addr, id tags.Identity) {
		set, _ := d.Tags(id)
		st.Upsert("node/"+node, ip, store.Claim{Tags: set, Owner: id.UID, FirstSeen: time.Now()})
	}
	claim("n1", f.ip, web)
	claim("n2", f.ip, spy)
	claim("n1", netip.MustParseAddr(podIP), db)
	spyTags, _ := d.Tags(spy)
	agents := fakeAgents{f.ip: {{Node: "n1", Identity: web, Forwarded: true}, {Node: "n2", Identity: spy, Forwarded: true}}}
	dagSet := func() *dags.Set {
		fs := []userid.DAGFilter{{Location: userid.DAGLocation{Scope: userid.ScopeShared}, Group: "db-servers", Filter: "'k8s.cl_prod.ns_" + f.ns + ".app.db'"}}
		fs[0].Expr, _ = dagfilter.Parse(fs[0].Filter)
		return dags.NewSet(fs, nil, time.Now())
	}
	target := explain.TargetSource{
		Name: "fw1",
		Holding: func(_ context.Context, ip netip.Addr) (push.Holding, error) {
			h := push.Holding{Synced: true, LastReconcile: time.Now().Add(-time.Minute)}
			if ip == f.ip {
				h.Tags = spyTags // the previous owner's tags, not yet replaced
			}
			return h, nil
		},
		Status: func() push.Status { return push.Status{Target: "fw1", Healthy: true} },
		DAGs:   dagSet,
	}
	h, err := explain.NewHandler(explain.Config{Client: c, Deriver: d, Pods: view, Store: st, Agents: agents,
		Targets: func() []explain.TargetSource { return []explain.TargetSource{target} }, Leading: func() bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srvDone := make(chan error, 1)
	go func() { srvDone <- explain.Serve(runCtx, ln, f.tls.Server, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-srvDone; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	f.url = "https://" + ln.Addr().String()
	f.client = &http.Client{Transport: &http.Transport{TLSClientConfig: f.tls.Client}, Timeout: 30 * time.Second}
	return f
}

// setPodIP gives a pod an IP and the Running phase, as a kubelet would.
func setPodIP(t *testing.T, ns, name, ip string) {
	t.Helper()
	pods := testCluster.Client.CoreV1().Pods(ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := pods.Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		p.Status.PodIP, p.Status.PodIPs, p.Status.Phase = ip, []corev1.PodIP{{IP: ip}}, corev1.PodRunning
		_, err = pods.UpdateStatus(t.Context(), p, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("pod %s/%s status: %v", ns, name, err)
	}
}

type fakeAgents map[netip.Addr][]verify.ClaimState

func (a fakeAgents) Inspect(ip netip.Addr) []verify.ClaimState { return a[ip] }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// get asks the endpoint directly; header is the header the token goes in
// ("" for none).
func (f *fixture) get(t *testing.T, path, header, token string) (int, explain.Report, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		req.Header.Set(header, "Bearer "+token)
	}
	res, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(res.Body).Decode(&raw); err != nil {
		t.Fatalf("%s: decode: %v", path, err)
	}
	var r explain.Report
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
	}
	return res.StatusCode, r, string(raw)
}

func objectNames(r explain.Report) []string {
	var out []string
	for _, o := range r.Objects {
		out = append(out, o.Namespace+"/"+o.Name)
	}
	slices.Sort(out)
	return out
}

// TestEndpointAuth: the endpoint authenticates with TokenReview and
// authorises with SubjectAccessReview against the real API server's RBAC.
func TestEndpointAuth(t *testing.T) {
	f := setup(t)
	podPath := explain.Path(explain.Query{Kind: explain.KindPod, Namespace: f.ns, Name: "web"})
	ipPath := explain.Path(explain.Query{Kind: explain.KindIP, IP: f.ip})
	tok := explain.TokenHeader

	if code, _, body := f.get(t, podPath, "", ""); code != http.StatusUnauthorized || !strings.Contains(body, tok) {
		t.Errorf("no token: %d %s", code, body)
	}
	if code, _, body := f.get(t, podPath, tok, "not-a-token"); code != http.StatusUnauthorized {
		t.Errorf("bad token: %d %s", code, body)
	}
	if code, _, body := f.get(t, podPath, tok, f.tokens["nobody"]); code != http.StatusForbidden || !strings.Contains(body, "may not get pods") {
		t.Errorf("nobody, pod: %d %s", code, body)
	}

	// viewer may get pods in the namespace: the pod, its tags, the shared
	// IP's conflict, and nothing of the pod in the other namespace.
	for _, header := range []string{tok, "Authorization"} {
		code, r, body := f.get(t, podPath, header, f.tokens["viewer"])
		if code != http.StatusOK {
			t.Fatalf("viewer via %s: %d %s", header, code, body)
		}
		if !slices.Equal(objectNames(r), []string{f.ns + "/web"}) || len(r.IPs) != 1 || !r.IPs[0].Conflict {
			t.Errorf("viewer's report: %s", body)
		}
		if strings.Contains(body, f.other) || strings.Contains(body, "spy") || r.Hidden == 0 || r.IPs[0].HiddenTags == 0 {
			t.Errorf("viewer sees the other namespace's pod or its tags (hidden %d): %s", r.Hidden, body)
		}
		// Pods of different namespaces share no tag: during the reuse
		// the IP's desired set (their intersection) is empty.
		if tg := r.IPs[0].Targets; len(tg) != 1 || !tg[0].Known || len(r.IPs[0].Desired) != 0 {
			t.Errorf("target state: %+v", tg)
		}
	}
	// db's IP is its own: the target lacks its tags, and the DAG matching
	// its label is one it joins once they land.
	code, r, body := f.get(t, explain.Path(explain.Query{Kind: explain.KindPod, Namespace: f.ns, Name: "db"}), tok, f.tokens["viewer"])
	if code != http.StatusOK || len(r.IPs) != 1 || r.IPs[0].Conflict || r.Hidden != 0 {
		t.Fatalf("viewer, pod db: %d %s", code, body)
	}
	if tg := r.IPs[0].Targets[0]; !tg.Known || len(tg.Register) != len(r.IPs[0].Desired) || len(tg.Register) == 0 ||
		len(tg.DAGs) != 1 || tg.DAGs[0].Name != "db-servers" || tg.DAGs[0].Now || !tg.DAGs[0].AfterPending {
		t.Errorf("viewer, pod db, target: %+v", tg)
	}
	// A Service the viewer may get that does not exist: 404 after authz.
	if code, _, body := f.get(t, explain.Path(explain.Query{Kind: explain.KindService, Namespace: f.ns, Name: "nope"}), tok, f.tokens["viewer"]); code != http.StatusNotFound {
		t.Errorf("missing service: %d %s", code, body)
	}

	// web-only may get pod web by name only: web, but not db.
	if code, r, body := f.get(t, podPath, tok, f.tokens["web-only"]); code != http.StatusOK || !slices.Equal(objectNames(r), []string{f.ns + "/web"}) || len(r.IPs[0].Claims) != 1 {
		t.Errorf("web-only, pod web: %d %s", code, body)
	}
	if code, _, _ := f.get(t, explain.Path(explain.Query{Kind: explain.KindPod, Namespace: f.ns, Name: "db"}), tok, f.tokens["web-only"]); code != http.StatusForbidden {
		t.Errorf("web-only, pod db: %d, want 403", code)
	}

	// IP lookups show each caller only the owners they may see.
	if code, r, body := f.get(t, ipPath, tok, f.tokens["nobody"]); code != http.StatusOK || len(r.Objects) != 0 || len(r.IPs) != 0 || r.Hidden == 0 {
		t.Errorf("nobody, IP: %d %s", code, body)
	}
	if code, r, _ := f.get(t, ipPath, tok, f.tokens["viewer"]); code != http.StatusOK || !slices.Equal(objectNames(r), []string{f.ns + "/web"}) {
		t.Errorf("viewer, IP: %d %v", code, objectNames(r))
	}
	code, r, body = f.get(t, ipPath, tok, f.tokens["admin"])
	if want := []string{f.ns + "/web", f.other + "/spy"}; code != http.StatusOK || !slices.Equal(objectNames(r), slices.Sorted(slices.Values(want))) || r.Hidden != 0 || len(r.IPs[0].Claims) != 2 {
		t.Errorf("admin, IP: %d %s", code, body)
	}
	if tg := r.IPs[0].Targets[0]; len(tg.Unregister) == 0 || tg.DAGsReadAt == nil {
		t.Errorf("admin sees no pending unregister of the previous owner's tags, or no DAG read: %+v", tg)
	}
}

// TestCLIThroughServiceProxy runs the `kubedag explain` client path: a
// kubeconfig with the user's token, the API server's service proxy (which
// requires get on services/proxy), the endpoint.
func TestCLIThroughServiceProxy(t *testing.T) {
	f := setup(t)
	ctx := t.Context()
	c := testCluster.Client
	aggNS, err := testCluster.CreateNamespace(ctx, "kubedag")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = c.CoreV1().Pods(aggNS).Delete(ctx, "aggregator-0", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
		if err := testCluster.DeleteNamespace(ctx, aggNS); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	// The aggregator "pod" at a pod IP the pod network proxy routes to the
	// endpoint, behind the chart's Service and its explain port.
	const aggIP, port = "10.77.1.10", 8443
	p, err := c.CoreV1().Pods(aggNS).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "aggregator-0"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setPodIP(t, aggNS, p.Name, aggIP)
	if _, err := c.CoreV1().Services(aggNS).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: explain.DefaultService},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: explain.DefaultPort, Port: port}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DiscoveryV1().EndpointSlices(aggNS).Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: explain.DefaultService + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: explain.DefaultService}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{aggIP}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: aggNS, Name: "aggregator-0"}}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To(explain.DefaultPort), Port: ptr.To[int32](port)}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	podNet.route(t, fmt.Sprintf("%s:%d", aggIP, port), strings.TrimPrefix(f.url, "https://"))

	// viewer may use the proxy to the explain Service (what the chart's
	// kubedag-explain Role grants), nobody may not.
	if _, err := c.RbacV1().Roles(aggNS).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "explain"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"services/proxy"}, ResourceNames: []string{
			explain.DefaultService, "https:" + explain.DefaultService + ":" + explain.DefaultPort}, Verbs: []string{"get"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RbacV1().RoleBindings(aggNS).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "explain"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "explain"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "viewer", Namespace: f.ns}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	client := func(user string) *explain.Client {
		t.Helper()
		kc := clientcmdapi.NewConfig()
		kc.Clusters["c"] = &clientcmdapi.Cluster{Server: testCluster.Config.Host, CertificateAuthority: testCluster.CAFile()}
		kc.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: f.tokens[user]}
		kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: user}
		kc.CurrentContext = "c"
		path := filepath.Join(t.TempDir(), "kubeconfig")
		if err := clientcmd.WriteToFile(*kc, path); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := explain.RESTConfig(path, "")
		if err != nil {
			t.Fatal(err)
		}
		cl, err := explain.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cl.Namespace = aggNS
		return cl
	}

	q := explain.Query{Kind: explain.KindPod, Namespace: f.ns, Name: "db"}
	var r explain.Report
	// The API server's view of the EndpointSlice may lag its creation.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r, err = client("viewer").Explain(ctx, q); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("viewer through the service proxy: %v", err)
	}
	if !slices.Equal(objectNames(r), []string{f.ns + "/db"}) || len(r.Objects[0].Tags) == 0 || len(r.IPs) != 1 {
		t.Errorf("report through the proxy: %+v", r)
	}
	var dagNames []string
	for _, d := range r.IPs[0].Targets[0].DAGs {
		dagNames = append(dagNames, d.Name)
	}
	if !slices.Equal(dagNames, []string{"db-servers"}) {
		t.Errorf("DAGs through the proxy = %v", dagNames)
	}

	// nobody is refused by the API server's proxy authorisation...
	_, err = client("nobody").Explain(ctx, q)
	if err == nil || !strings.Contains(err.Error(), "services/proxy") {
		t.Errorf("nobody through the proxy: err = %v, want a services/proxy refusal", err)
	}
	// ...and the endpoint's own refusals reach the user through the proxy.
	_, err = client("viewer").Explain(ctx, explain.Query{Kind: explain.KindPod, Namespace: f.other, Name: "spy"})
	if err == nil || !strings.Contains(err.Error(), "may not get pods") {
		t.Errorf("viewer asking about another namespace's pod: err = %v", err)
	}
}
