package charts

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/kubedag/kubedag/agent"
	"github.com/kubedag/kubedag/aggregator"
	"github.com/kubedag/kubedag/e2e/cluster"
)

// auditEvent is the part of a kube-apiserver audit event the test reads.
type auditEvent struct {
	Stage string `json:"stage"`
	Verb  string `json:"verb"`
	User  struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		APIGroup    string `json:"apiGroup"`
		Subresource string `json:"subresource"`
		Name        string `json:"name"`
		Namespace   string `json:"namespace"`
	} `json:"objectRef"`
	RequestURI     string `json:"requestURI"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

// TestComponentsWithChartRBAC installs the chart's ServiceAccounts, roles
// and TLS Secret on a real kube-apiserver (audit log on), runs the real
// aggregator and agent binaries with the chart's args and their chart
// ServiceAccounts' tokens, lets an agent stream its node's pods, and then
// reads the audit log: no call was forbidden, every call is within the
// rules kept next to the code (which the chart grants exactly, see
// checkRBAC), and the calls the test can provoke were made.
func TestComponentsWithChartRBAC(t *testing.T) {
	dir := t.TempDir()
	aggUser := "system:serviceaccount:" + namespace + ":" + release + "-kubedag-aggregator"
	agentUser := "system:serviceaccount:" + namespace + ":" + release + "-kubedag-agent"
	policy := filepath.Join(dir, "audit-policy.yaml")
	auditLog := filepath.Join(dir, "audit.log")
	if err := os.WriteFile(policy, []byte(`apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  users: ["`+aggUser+`", "`+agentUser+`"]
- level: None
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{ToolsDir: toolsDir(t), Kwok: true,
		APIServerFlags: []string{"--audit-policy-file=" + policy, "--audit-log-path=" + auditLog, "--audit-log-mode=blocking"}})
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	cs := c.Client

	// The chart's objects, but no workloads: the binaries run here instead.
	objs := mustTemplate(t, "-f", minimalValues)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	applyAll(ctx, t, c, objs, "Deployment", "DaemonSet")

	nodes, err := c.CreateNodes(ctx, "rbac", 1)
	if err != nil {
		t.Fatal(err)
	}
	node := nodes[0]
	if err := c.WaitNodesReady(ctx, node); err != nil {
		t.Fatal(err)
	}
	// Something to tag: pods on the node behind a Service.
	app, err := c.CreateNamespace(ctx, "rbac-app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreatePods(ctx, cluster.PodBatch{Namespace: app, Prefix: "web", Count: 2, Nodes: nodes}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Services(app).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitPodsRunning(ctx, app, "app=web", 2); err != nil {
		t.Fatal(err)
	}

	// The agent's pod (as the DaemonSet would make it), for its bound token.
	agentSA := find(t, objs, "ServiceAccount", "-agent").name()
	aggSA := find(t, objs, "ServiceAccount", "-aggregator").name()
	agentPod, err := cs.CoreV1().Pods(namespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "agent-" + node},
		Spec: corev1.PodSpec{NodeName: node, HostNetwork: true, ServiceAccountName: agentSA,
			AutomountServiceAccountToken: ptr.To(false), TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers: []corev1.Container{{Name: "agent", Image: "kubedag:test"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	token := func(sa string, audiences []string, pod *corev1.Pod) string {
		t.Helper()
		req := &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: ptr.To[int64](3600)}}
		if pod != nil {
			req.Spec.BoundObjectRef = &authnv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
		}
		tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("TokenRequest for %s: %v", sa, err)
		}
		return tr.Status.Token
	}
	kubeconfig := func(name, tok string) string {
		t.Helper()
		kc := clientcmdapi.NewConfig()
		kc.Clusters["c"] = &clientcmdapi.Cluster{Server: c.Config.Host, CertificateAuthorityData: c.Config.CAData}
		kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: tok}
		kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
		kc.CurrentContext = "c"
		p := filepath.Join(dir, name+".kubeconfig")
		if err := clientcmd.WriteToFile(*kc, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write := func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	secret := find(t, objs, "Secret", "-stream-tls")
	tlsFile := func(key string) string {
		b, err := base64.StdEncoding.DecodeString(str(get(secret, "data", key)))
		if err != nil {
			t.Fatal(err)
		}
		return write(key, b)
	}
	raw := str(get(find(t, objs, "ConfigMap", "-aggregator-config"), "data", "config.yaml"))
	targets := filepath.Join(dir, "targets")
	if err := os.MkdirAll(filepath.Join(targets, "fw1"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("targets/fw1/api-key", []byte("placeholder"))
	config := write("config.yaml", []byte(strings.ReplaceAll(raw, "/etc/kubedag/targets/", targets+"/")))
	ports := freeLoopbackPorts(t, 4)
	streamAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	aggHealth := fmt.Sprintf("127.0.0.1:%d", ports[1])
	explainAddr := fmt.Sprintf("127.0.0.1:%d", ports[3])

	// The rendered args, with the pod's paths and addresses moved here.
	aggArgs := rewriteArgs(containerArgs(t, find(t, objs, "Deployment", "-aggregator")), map[string]string{
		"--config": config, "--tls-cert-file": tlsFile("tls.crt"), "--tls-key-file": tlsFile("tls.key"),
		"--listen": streamAddr, "--health-listen": aggHealth, "--leader-election-namespace": namespace,
		"--explain-listen": explainAddr,
	})
	aggArgs = append(aggArgs, "--kubeconfig="+kubeconfig("aggregator", token(aggSA, nil, nil)))
	startProc(t, dir, "aggregator", binaryOf(t, find(t, objs, "Deployment", "-aggregator")), aggArgs, "POD_NAME=aggregator-0", "POD_NAMESPACE="+namespace)

	host := str(get(find(t, objs, "Service", "-aggregator"), "metadata", "name")) + "." + namespace + ".svc"
	agentArgs := rewriteArgs(containerArgs(t, find(t, objs, "DaemonSet", "-agent")), map[string]string{
		"--node-name": node, "--aggregator": streamAddr, "--ca-file": tlsFile("ca.crt"),
		"--token-file":    write("stream-token", []byte(token(agentSA, []string{cluster.KubedagAudience}, agentPod))),
		"--health-listen": fmt.Sprintf("127.0.0.1:%d", ports[2]),
		// api: this host has no routes for kwok's pod IPs.
		"--ip-source":   "api",
		"--server-name": host,
	})
	agentArgs = append(agentArgs, "--kubeconfig="+kubeconfig("agent", token(agentSA, nil, agentPod)))
	agentProc := startProc(t, dir, "agent", binaryOf(t, find(t, objs, "DaemonSet", "-agent")), agentArgs)

	// The agent's stream is up (TokenReview, --agent-users) and its claims
	// checked against the node (the claim validator's reads).
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		v, err := scrape(ctx, aggHealth, "kubedag_stream_connections")
		return err == nil && v == 1, nil
	})
	if err != nil {
		t.Fatalf("agent stream never connected: aggregator log:\n%s\nagent log:\n%s", tailFile(filepath.Join(dir, "aggregator.log")), tailFile(filepath.Join(dir, "agent.log")))
	}

	// The agent's memory, against the chart's request (measured, not guessed:
	// below the request an agent is an early eviction candidate).
	if rss, err := residentBytes(agentProc.Process.Pid); err != nil {
		t.Errorf("agent memory: %v", err)
	} else {
		req := resource.MustParse(str(get(container(t, find(t, objs, "DaemonSet", "-agent")), "resources", "requests", "memory")))
		t.Logf("agent resident memory %d MiB (request %s)", rss>>20, req.String())
		if rss > req.Value() {
			t.Errorf("agent uses %d MiB, above its memory request %s", rss>>20, req.String())
		}
	}

	// An explain request about the aggregator's own Service: the caller's
	// token reviewed, their access reviewed, the Service read.
	svcName := str(get(find(t, objs, "Service", "-aggregator"), "metadata", "name"))
	explainExplain(t, ctx, explainAddr, host, tlsFile("ca.crt"), namespace, svcName, token(aggSA, nil, nil))

	allowed := map[string][]grant{
		aggUser:   grants(append(slices.Clone(aggregator.ClusterRBACRules), aggregator.LeaseRBACRules...)),
		agentUser: grants(agent.RBACRules),
	}
	permitted := func(user string, e auditEvent) bool {
		for _, g := range allowed[user] {
			if g.group == e.ObjectRef.APIGroup && g.resource == e.ObjectRef.Resource && g.verb == e.Verb {
				return true
			}
		}
		return false
	}
	// The calls this setup provokes (Events need the sandwich, off here).

	// Informers list with a streaming watch (WatchList) where the API server
	// supports it, so "list" is granted for older servers but not expected.
	want := map[string][]string{
		aggUser: {"watch services", "watch pods", "watch namespaces", "watch discovery.k8s.io/endpointslices",
			"create authentication.k8s.io/tokenreviews", "list pods",
			"create authorization.k8s.io/subjectaccessreviews", "get services",
			"get coordination.k8s.io/leases", "create coordination.k8s.io/leases"},
		agentUser: {"watch pods", "watch namespaces"},
	}
	var seen map[string]map[string]bool
	var problems []string
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		seen, problems = map[string]map[string]bool{aggUser: {}, agentUser: {}}, nil
		f, err := os.Open(auditLog)
		if err != nil {
			return false, nil
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var e auditEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				return false, fmt.Errorf("audit log: %w", err)
			}
			user := e.User.Username
			if _, ours := allowed[user]; !ours {
				continue
			}
			if e.ResponseStatus != nil && e.ResponseStatus.Code == http.StatusForbidden {
				problems = append(problems, fmt.Sprintf("%s: %s %s forbidden", user, e.Verb, e.RequestURI))
			}
			if e.ObjectRef == nil {
				continue // discovery and other non-resource URLs
			}
			if e.ObjectRef.Subresource != "" || !permitted(user, e) {
				problems = append(problems, fmt.Sprintf("%s: %s %s is not in the rules kept with the code", user, e.Verb, e.RequestURI))
			}
			key := e.Verb + " " + e.ObjectRef.Resource
			if e.ObjectRef.APIGroup != "" {
				key = e.Verb + " " + e.ObjectRef.APIGroup + "/" + e.ObjectRef.Resource
			}
			seen[user][key] = true
		}
		for user, calls := range want {
			for _, call := range calls {
				if !seen[user][call] {
					return false, nil
				}
			}
		}
		return true, nil
	})
	for _, p := range slices.Compact(problems) {
		t.Error(p)
	}
	if err != nil {
		t.Fatalf("the components did not make the expected calls (seen %v): %v\naggregator log:\n%s\nagent log:\n%s",
			seen, err, tailFile(filepath.Join(dir, "aggregator.log")), tailFile(filepath.Join(dir, "agent.log")))
	}
	for _, log := range []string{"aggregator.log", "agent.log"} {
		b, _ := os.ReadFile(filepath.Join(dir, log))
		if bytes.Contains(bytes.ToLower(b), []byte("forbidden")) {
			t.Errorf("%s mentions a forbidden call:\n%s", log, tailFile(filepath.Join(dir, log)))
		}
		// JSON logs: no line repeats a key (log pipelines keep one of them).
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if k := repeatedKey(line); k != "" {
				t.Errorf("%s: line repeats key %q: %s", log, k, line)
			}
		}
	}
}

// repeatedKey returns a top-level key that appears twice in a JSON object.
func repeatedKey(line string) string {
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return ""
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		k, _ := tok.(string)
		if seen[k] {
			return k
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}

// applyAll server-side applies the objects (leaving out the given kinds
// and the Prometheus Operator's).
func applyAll(ctx context.Context, t *testing.T, c *cluster.Cluster, objs []obj, skip ...string) {
	t.Helper()
	apply := newApplier(t, c)
	for _, o := range objs {
		if slices.Contains(skip, o.kind()) || o.kind() == "ServiceMonitor" || o.kind() == "PodMonitor" {
			continue
		}
		if err := apply(ctx, o, false); err != nil {
			t.Fatalf("apply %s %s: %v", o.kind(), o.name(), err)
		}
	}
}

// rewriteArgs replaces the values of the named --flag=value args; flags
// not in args are appended.
func rewriteArgs(args []string, set map[string]string) []string {
	out := slices.Clone(args)
	done := map[string]bool{}
	for i, a := range out {
		name, _, _ := strings.Cut(a, "=")
		if v, ok := set[name]; ok {
			out[i] = name + "=" + v
			done[name] = true
		}
	}
	for name, v := range set {
		if !done[name] {
			out = append(out, name+"="+v)
		}
	}
	return out
}

// startProc runs a kubedag subcommand until the test ends; its output goes
// to dir/<name>.log.
func startProc(t *testing.T, dir, name, bin string, args []string, env ...string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	return cmd
}

func tailFile(p string) string {
	b, _ := os.ReadFile(p)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// freeLoopbackPorts returns n distinct free loopback ports.
func freeLoopbackPorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	return out
}

// scrape sums one metric's samples on addr's /metrics.
func scrape(ctx context.Context, addr, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	found := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		f := strings.Fields(rest[strings.LastIndex(rest, "}")+1:])
		var v float64
		if len(f) > 0 {
			if _, err := fmt.Sscan(f[0], &v); err == nil {
				sum += v
				found = true
			}
		}
	}
	if !found {
		return 0, fmt.Errorf("%s not on %s/metrics", name, addr)
	}
	return sum, nil
}

// residentBytes reads a process's resident set size (VmRSS).
func residentBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err != nil {
				return 0, fmt.Errorf("VmRSS %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
