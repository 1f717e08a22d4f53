package system

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubedag/kubedag/e2e/cluster"
	"github.com/kubedag/kubedag/e2e/pki"
	"github.com/kubedag/kubedag/userid"
)

const (
	// clusterName is the aggregator's cluster; tags start with tagPrefix.
	clusterName = "e2e"
	tagPrefix   = "k8s.cl_" + clusterName
	// canaryIP is the aggregator's default reboot canary.
	canaryIP = "192.0.2.254"
	// floorIP carries the aggregator's TTL floor marker (aggregator.DefaultFloorIP).
	floorIP = "203.0.113.254"
	// systemNS holds the agents' ServiceAccount and token pods.
	systemNS = "kubedag-system"
	// webGroup and reuseGroup are the node-name prefixes (and
	// cluster.NodeGroupLabel values) of the two node groups.
	webGroup   = "sys-web"
	reuseGroup = "sys-reuse"
)

// sys is the environment every test shares.
var sys *env

// env is the running system: control plane, emulator, aggregator, agents.
type env struct {
	c   *cluster.Cluster
	dir string
	sp  *spawner

	sim     *proc
	simURL  string // https://127.0.0.1:PORT
	simHTTP *http.Client
	fw      *userid.Client // the emulator's XML API, as kubedag's client sees it

	agg       *proc
	aggHealth string // host:port of the aggregator's /metrics

	webNodes  []string
	reuseNode string
	agents    map[string]*agentProc // by node
}

type agentProc struct {
	*proc
	health string // host:port of /readyz
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	began := time.Now()
	e, err := setup(ctx)
	if e != nil {
		defer e.teardown()
	}
	if err != nil {
		// Fail, never skip: a missing binary says to run `make tools`.
		fmt.Fprintf(os.Stderr, "FAIL: set up the system: %v\n", err)
		if e != nil {
			e.printLogs()
		}
		return 1
	}
	fmt.Fprintf(os.Stderr, "system (control plane, panos-sim, aggregator, %d agents) up in %s\n", len(e.agents), time.Since(began).Round(time.Millisecond))
	sys = e
	code := m.Run()
	if err := e.alive(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: a process died during the tests: %v\n", err)
		code = 1
	}
	if code != 0 {
		e.printLogs()
	}
	return code
}

// setup builds kubedag and starts everything. On error the returned env (if
// any) must still be torn down.
func setup(ctx context.Context) (*env, error) {
	dir, err := os.MkdirTemp("", "kubedag-e2e-system-")
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir, agents: map[string]*agentProc{}}
	bin := filepath.Join(dir, "kubedag")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/kubedag/kubedag/cmd/kubedag")
	if out, err := build.CombinedOutput(); err != nil {
		return e, fmt.Errorf("go build ./cmd/kubedag: %v\n%s", err, out)
	}
	if e.c, err = cluster.Start(ctx, cluster.Options{Kwok: true, DualStack: true}); err != nil {
		return e, fmt.Errorf("start control plane: %w", err)
	}
	e.sp = startSpawner()

	if err := e.startSim(ctx, bin); err != nil {
		return e, err
	}
	if err := e.setupKube(ctx); err != nil {
		return e, err
	}
	if err := e.startAggregator(ctx, bin); err != nil {
		return e, err
	}
	for _, node := range e.allNodes() {
		if err := e.startAgent(ctx, bin, node); err != nil {
			return e, err
		}
	}
	for _, node := range e.allNodes() {
		if err := e.waitAgentReady(ctx, node); err != nil {
			return e, err
		}
	}
	return e, nil
}

func (e *env) allNodes() []string { return append(append([]string{}, e.webNodes...), e.reuseNode) }

// procs lists every kubedag process.
func (e *env) procs() []*proc {
	ps := []*proc{}
	for _, p := range []*proc{e.sim, e.agg} {
		if p != nil {
			ps = append(ps, p)
		}
	}
	for _, n := range e.allNodes() {
		if a := e.agents[n]; a != nil {
			ps = append(ps, a.proc)
		}
	}
	return ps
}

func (e *env) alive() error {
	var errs []error
	for _, p := range e.procs() {
		errs = append(errs, p.alive())
	}
	if e.c != nil {
		errs = append(errs, e.c.Healthy())
	}
	return errors.Join(errs...)
}

func (e *env) printLogs() {
	for _, p := range e.procs() {
		fmt.Fprintf(os.Stderr, "\n===== last lines of %s =====\n%s\n", p.logPath, tail(p.logPath, 60))
	}
}

func (e *env) teardown() {
	for _, p := range e.procs() {
		if err := p.kill(); err != nil {
			fmt.Fprintln(os.Stderr, "teardown:", err)
		}
	}
	if e.sp != nil {
		e.sp.stop()
	}
	if e.fw != nil {
		e.fw.Close()
	}
	if e.c != nil {
		if err := e.c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "teardown: stop control plane:", err)
		}
	}
	os.RemoveAll(e.dir)
}

var simURLRe = regexp.MustCompile(`listening on (https://127\.0\.0\.1:\d+)/api/`)

// startSim runs panos-sim on a free port, learns its URL from its output,
// and gets an API key by keygen.
func (e *env) startSim(ctx context.Context, bin string) error {
	caPath := filepath.Join(e.dir, "panos-sim-ca.pem")
	e.sim = newProc(e.sp, e.dir, "panos-sim", bin, "panos-sim", "--listen", "127.0.0.1:0", "--control", "--ca-out", caPath)
	if err := e.sim.start(); err != nil {
		return err
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		if err := e.sim.alive(); err != nil {
			return false, err
		}
		b, _ := os.ReadFile(e.sim.logPath)
		m := simURLRe.FindSubmatch(b)
		if m == nil {
			return false, nil
		}
		e.simURL = string(m[1])
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("panos-sim did not print its URL: %w", err)
	}
	caPEM, err := os.ReadFile(caPath)
	if err != nil {
		return fmt.Errorf("panos-sim --ca-out: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return errors.New("panos-sim --ca-out holds no certificate")
	}
	e.simHTTP = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}

	key, err := e.keygen(ctx, "admin", "admin")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(e.dir, "api-key"), []byte(key+"\n"), 0o600); err != nil {
		return err
	}
	e.fw, err = userid.New(userid.Config{URL: e.simURL, APIKey: key, CAFile: caPath, Timeout: 10 * time.Second})
	if err != nil {
		return fmt.Errorf("userid client for panos-sim: %w", err)
	}
	return nil
}

// keygen runs type=keygen on the emulator's XML API.
func (e *env) keygen(ctx context.Context, user, password string) (string, error) {
	form := url.Values{"type": {"keygen"}, "user": {user}, "password": {password}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.simURL+"/api/", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := e.simHTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("keygen: %w", err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string `xml:"status,attr"`
		Key    string `xml:"result>key"`
	}
	if err := xml.NewDecoder(resp.Body).Decode(&r); err != nil {
		return "", fmt.Errorf("keygen answer: %w", err)
	}
	if r.Status != "success" || r.Key == "" {
		return "", fmt.Errorf("keygen: status %q (HTTP %d), key empty: %v", r.Status, resp.StatusCode, r.Key == "")
	}
	return r.Key, nil
}

// setupKube creates the nodes, the agents' RBAC, ServiceAccount and token
// pods.
func (e *env) setupKube(ctx context.Context) error {
	cs := e.c.Client
	web, err := e.c.CreateNodes(ctx, webGroup, 2)
	if err != nil {
		return err
	}
	reuse, err := e.c.CreateNodes(ctx, reuseGroup, 1)
	if err != nil {
		return err
	}
	e.webNodes, e.reuseNode = web, reuse[0]
	if err := e.c.WaitNodesReady(ctx, e.allNodes()...); err != nil {
		return err
	}
	// The Node authorizer lets a kubelet identity list and watch the pods
	// of its node; the agent also needs Namespaces, which the chart grants
	// its ServiceAccount. Here the agent runs as the node, so the group
	// system:nodes gets them. Not EndpointSlices: the aggregator derives
	// the pods' Services, and an agent that tried would never sync.
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "kubedag-e2e-agent"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch"}},
		},
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("agent ClusterRole: %w", err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "kubedag-e2e-agent"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "system:nodes"}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("agent ClusterRoleBinding: %w", err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNS}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("namespace %s: %w", systemNS, err)
	}
	if _, err := cs.CoreV1().ServiceAccounts(systemNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "kubedag-agent"}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("agent ServiceAccount: %w", err)
	}
	return nil
}

// agentToken creates the node's agent pod (hostNetwork, like the
// DaemonSet's) and writes a token bound to it, audience kubedag, to a file:
// the token carries the pod's node name, which the aggregator binds the
// stream to.
func (e *env) agentToken(ctx context.Context, node string) (string, error) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "kubedag-agent-" + node, Namespace: systemNS, Labels: map[string]string{"app": "kubedag-agent"}},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			HostNetwork:                   true,
			ServiceAccountName:            "kubedag-agent",
			AutomountServiceAccountToken:  new(false),
			TerminationGracePeriodSeconds: new(int64(0)),
			Containers:                    []corev1.Container{{Name: "agent", Image: "kubedag:e2e"}},
		},
	}
	pod, err := e.c.Client.CoreV1().Pods(systemNS).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("agent pod for %s: %w", node, err)
	}
	tr, err := e.c.Client.CoreV1().ServiceAccounts(systemNS).CreateToken(ctx, "kubedag-agent", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         []string{cluster.KubedagAudience},
			ExpirationSeconds: new(int64(3600)),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("TokenRequest for %s: %w", node, err)
	}
	path := filepath.Join(e.dir, "token-"+node)
	if err := os.WriteFile(path, []byte(tr.Status.Token), 0o600); err != nil {
		return "", err
	}
	return path, nil
}

// startAggregator writes the stream PKI and the config file and starts the
// aggregator without leader election.
func (e *env) startAggregator(ctx context.Context, bin string) error {
	if err := writeStreamPKI(e.dir); err != nil {
		return fmt.Errorf("agent stream PKI: %w", err)
	}
	cfg := fmt.Sprintf(`cluster: %s
tags:
  preset: k8s
  labels:
    deny: ["pod-template-hash"]
  nodes:
    enabled: true
    externalIPs: true
targets:
  - name: fw1
    url: %s
    kind: firewall
    apiKeyFile: %s
    caFile: %s
    timeout: 5s
`, clusterName, e.simURL, filepath.Join(e.dir, "api-key"), filepath.Join(e.dir, "panos-sim-ca.pem"))
	cfgPath := filepath.Join(e.dir, "aggregator.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	e.aggHealth = fmt.Sprintf("127.0.0.1:%d", ports[1])
	e.agg = newProc(e.sp, e.dir, "aggregator", bin, "aggregator",
		"--config", cfgPath,
		"--kubeconfig", e.c.Kubeconfig(),
		"--listen", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--tls-cert-file", filepath.Join(e.dir, "stream.crt"),
		"--tls-key-file", filepath.Join(e.dir, "stream.key"),
		"--health-listen", e.aggHealth,
		"--leader-elect=false",
		// As the chart does: only the agents' ServiceAccount may stream.
		"--agent-users", "system:serviceaccount:"+systemNS+":kubedag-agent",
		// Multus: secondary-interface IPs from network-status annotations.
		"--multus",
		// Only the canary may trigger a reconcile within a test's time, so
		// the reboot test proves canary detection.
		"--resync-interval", "30m",
		"--canary-interval", "3s",
	)
	return e.agg.start()
}

// aggStreamAddr is the aggregator's --listen.
func (e *env) aggStreamAddr() string {
	for i, a := range e.agg.args {
		if a == "--listen" {
			return e.agg.args[i+1]
		}
	}
	panic("aggregator has no --listen")
}

func (e *env) startAgent(ctx context.Context, bin, node string) error {
	a, err := e.newAgent(ctx, bin, node)
	if err != nil {
		return err
	}
	e.agents[node] = a
	return a.start()
}

// newAgent prepares (but neither starts nor registers) the agent of node.
func (e *env) newAgent(ctx context.Context, bin, node string) (*agentProc, error) {
	kubeconfig, err := e.c.NodeKubeconfig(node)
	if err != nil {
		return nil, err
	}
	token, err := e.agentToken(ctx, node)
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	a := &agentProc{health: fmt.Sprintf("127.0.0.1:%d", ports[0])}
	a.proc = newProc(e.sp, e.dir, "agent-"+node, bin, "agent",
		"--node-name", node,
		"--aggregator", e.aggStreamAddr(),
		"--ca-file", filepath.Join(e.dir, "stream-ca.pem"),
		"--token-file", token,
		"--ip-source", "api",
		"--multus",
		"--health-listen", a.health,
		"--kubeconfig", kubeconfig,
	)
	return a, nil
}

// freePorts returns n distinct free loopback ports (free when asked: a
// process must still bind them).
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]int, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// writeStreamPKI writes a CA (stream-ca.pem) and a serving certificate for
// 127.0.0.1 (stream.crt, stream.key) into dir.
func writeStreamPKI(dir string) error {
	ca, err := pki.NewCA("kubedag-e2e-stream-ca")
	if err != nil {
		return err
	}
	if err := ca.WriteCert(filepath.Join(dir, "stream-ca.pem")); err != nil {
		return err
	}
	kp, err := ca.Server("kubedag-aggregator", nil, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	return kp.WriteFiles(filepath.Join(dir, "stream.crt"), filepath.Join(dir, "stream.key"))
}
