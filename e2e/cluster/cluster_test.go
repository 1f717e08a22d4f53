package cluster

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// TestCreatePods checks the bulk helpers: pods pinned round-robin to fresh
// nodes run with distinct IPs from their own node's podCIDR.
func TestCreatePods(t *testing.T) {
	c := testCluster
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	ns, err := c.CreateNamespace(ctx, "bulk")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.DeleteNamespace(context.Background(), ns); err != nil {
			t.Error(err)
		}
	}()
	nodes, err := c.CreateNodes(ctx, "bulk-node", 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitNodesReady(ctx, nodes...); err != nil {
		t.Fatal(err)
	}
	const n = 60
	names, err := c.CreatePods(ctx, PodBatch{Namespace: ns, Prefix: "bulk", Count: n, Nodes: nodes, Labels: map[string]string{"tier": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != n {
		t.Fatalf("CreatePods returned %d names, want %d", len(names), n)
	}
	pods, err := c.WaitPodsRunning(ctx, ns, "app=bulk,tier=test", n)
	if err != nil {
		t.Fatal(err)
	}
	cidr := map[string]netip.Prefix{}
	for _, name := range nodes {
		node, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cidr[name] = netip.MustParsePrefix(node.Spec.PodCIDR)
	}
	perNode := map[string]int{}
	ips := map[string]string{}
	for _, p := range pods {
		perNode[p.Spec.NodeName]++
		if other, dup := ips[p.Status.PodIP]; dup {
			t.Errorf("pods %s and %s share IP %s", other, p.Name, p.Status.PodIP)
		}
		ips[p.Status.PodIP] = p.Name
		if !cidr[p.Spec.NodeName].Contains(netip.MustParseAddr(p.Status.PodIP)) {
			t.Errorf("pod %s IP %s outside node %s podCIDR %s", p.Name, p.Status.PodIP, p.Spec.NodeName, cidr[p.Spec.NodeName])
		}
	}
	for _, node := range nodes {
		if perNode[node] != n/len(nodes) {
			t.Errorf("node %s runs %d pods, want %d (round robin)", node, perNode[node], n/len(nodes))
		}
	}
	// Node podCIDRs do not overlap.
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			if cidr[a].Overlaps(cidr[b]) {
				t.Errorf("podCIDRs of %s (%s) and %s (%s) overlap", a, cidr[a], b, cidr[b])
			}
		}
	}
}

// TestNodeIdentity checks that NodeConfig authenticates as the node and that
// the Node authorizer scopes it: its own pods by field selector, not others'.
func TestNodeIdentity(t *testing.T) {
	c := testCluster
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	nodes, err := c.CreateNodes(ctx, "ident-node", 2)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := c.NodeConfig(nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := review.Status.UserInfo.Username, "system:node:"+nodes[0]; got != want {
		t.Errorf("user %q, want %q", got, want)
	}
	tests := []struct {
		name          string
		fieldSelector string
		wantForbidden bool
	}{
		{"own pods", fields.OneTermEqualSelector("spec.nodeName", nodes[0]).String(), false},
		{"other node's pods", fields.OneTermEqualSelector("spec.nodeName", nodes[1]).String(), true},
		{"all pods", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: tt.fieldSelector})
			if got := apierrors.IsForbidden(err); got != tt.wantForbidden {
				t.Fatalf("forbidden = %v (err %v), want %v", got, err, tt.wantForbidden)
			}
			if !tt.wantForbidden && err != nil {
				t.Fatal(err)
			}
		})
	}
	path, err := c.NodeKubeconfig(nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

// TestNodeAddresses: every node CreateNodes makes keeps its own InternalIP
// once kwok has made it Ready (kwok must not replace it with its
// --node-ip, which would give nodes duplicate IPs).
func TestNodeAddresses(t *testing.T) {
	c := testCluster
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	nodes, err := c.CreateNodes(ctx, "addr-node", 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitNodesReady(ctx, nodes...); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, name := range nodes {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ips := internalIPs(n)
		if len(ips) != 1 || ips[0] == c.defaultNodeIP() {
			t.Fatalf("node %s: InternalIPs %v, want one of its own (not kwok's default %s)", name, ips, c.defaultNodeIP())
		}
		if other, dup := seen[ips[0]]; dup {
			t.Fatalf("nodes %s and %s share InternalIP %s", other, name, ips[0])
		}
		seen[ips[0]] = name
	}
}

// TestKubeconfig checks the admin kubeconfig works for kubectl.
func TestKubeconfig(t *testing.T) {
	kubectl, err := ToolPath(Kubectl)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", testCluster.Kubeconfig(), "get", "namespace", "kube-system", "-o", "name").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl: %v: %s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "namespace/kube-system" {
		t.Fatalf("kubectl printed %q, want namespace/kube-system", got)
	}
}

func TestToolPath(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "etcd"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kwok"), []byte("not executable"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     string
		tool    string
		want    string // path on success
		wantErr string // substring of the error
	}{
		{"present", dir, Etcd, filepath.Join(dir, "etcd"), ""},
		{"missing binary", dir, KubeAPIServer, "", "run `make tools`"},
		{"not executable", dir, Kwok, "", "make tools"},
		{"missing dir", filepath.Join(dir, "nope"), Etcd, "", "make tools"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(ToolsDirEnv, tt.env)
			got, err := ToolPath(tt.tool)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ToolPath = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestToolsDirFromScript checks the fallback to tools.sh --print-dir.
func TestToolsDirFromScript(t *testing.T) {
	t.Setenv(ToolsDirEnv, "")
	got, err := toolsDirFromScript()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, filepath.Join("kubedag", "tools")) {
		t.Fatalf("tools dir %q does not look like the versioned cache dir", got)
	}
}

func TestStartFailsWithoutTools(t *testing.T) {
	dir := t.TempDir()
	_, err := Start(t.Context(), Options{ToolsDir: dir})
	if err == nil || !strings.Contains(err.Error(), "make tools") {
		t.Fatalf("Start with an empty tools dir: err = %v, want one naming `make tools`", err)
	}
}

func TestSubnets(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		i        int
		wantCIDR string
		wantAddr string
		wantErr  bool
	}{
		{"defaults first", Options{}, 0, "10.244.0.0/24", "172.30.0.1", false},
		{"defaults node 1", Options{}, 1, "10.244.1.0/24", "172.30.0.2", false},
		{"defaults last", Options{}, 255, "10.244.255.0/24", "172.30.1.0", false},
		{"defaults full", Options{}, 256, "", "", true},
		{"small nodes", Options{PodCIDR: "10.8.0.0/20", NodeCIDRMaskSize: 26}, 5, "10.8.1.64/26", "172.30.0.6", false},
		{"unaligned pod CIDR", Options{PodCIDR: "10.8.3.7/16"}, 2, "10.8.2.0/24", "172.30.0.3", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			if err := o.setDefaults(); err != nil {
				t.Fatal(err)
			}
			c := &Cluster{opts: o}
			cidr, err := c.nodePodCIDR(tt.i)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("nodePodCIDR(%d) = %s, want an error", tt.i, cidr)
				}
				return
			}
			if err != nil || cidr != tt.wantCIDR {
				t.Errorf("nodePodCIDR(%d) = %s, %v; want %s", tt.i, cidr, err, tt.wantCIDR)
			}
			addr, err := c.nodeAddress(tt.i)
			if err != nil || addr != tt.wantAddr {
				t.Errorf("nodeAddress(%d) = %s, %v; want %s", tt.i, addr, err, tt.wantAddr)
			}
		})
	}
}

func TestNodePodCIDR6(t *testing.T) {
	o := Options{DualStack: true}
	if err := o.setDefaults(); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{opts: o}
	for i, want := range map[int]string{0: "fd00:10:244::/64", 1: "fd00:10:244:1::/64", 255: "fd00:10:244:ff::/64"} {
		if got, err := c.nodePodCIDR6(i); err != nil || got != want {
			t.Errorf("nodePodCIDR6(%d) = %s, %v; want %s", i, got, err, want)
		}
	}
	if got, err := c.nodePodCIDR6(256); err == nil {
		t.Errorf("nodePodCIDR6(256) = %s, want an error", got)
	}
	if got := c.serviceRange(); got != "10.96.0.0/24,fd00:10:96::/112" {
		t.Errorf("serviceRange = %s", got)
	}
}

func TestOptionsErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"bad pod CIDR", Options{PodCIDR: "10.0.0.0"}},
		{"IPv6 pod CIDR", Options{PodCIDR: "fd00::/64"}},
		{"mask not larger", Options{PodCIDR: "10.0.0.0/24", NodeCIDRMaskSize: 24}},
		{"mask too large", Options{NodeCIDRMaskSize: 31}},
		{"tiny node range", Options{NodeAddressCIDR: "10.1.1.1/32"}},
		{"bad service CIDR", Options{ServiceCIDR: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			if err := o.setDefaults(); err == nil {
				t.Fatalf("setDefaults accepted %+v", tt.opts)
			}
		})
	}
}

// TestComponentsDieWithOwner runs a process that starts a control plane and
// exits without Stop: its components must die with it, and the next Start
// must remove its temp dir.
func TestComponentsDieWithOwner(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	// A private TMPDIR keeps the helper's dir away from the stale-dir
	// cleanup of control planes other packages start meanwhile.
	tmp := t.TempDir()
	cmd.Env = append(os.Environ(), orphanHelperEnv+"=1", "TMPDIR="+tmp)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, stderr.String())
	}
	fields := strings.Fields(string(out))
	if len(fields) != 5 {
		t.Fatalf("helper printed %q, want a dir and 4 pids", out)
	}
	dir := fields[0]
	for _, f := range fields[1:] {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			return errors.Is(syscall.Kill(-pid, 0), syscall.ESRCH), nil
		})
		if err != nil {
			t.Errorf("process group %d outlived its owner: %v", pid, err)
		}
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("helper's dir %s: %v (expected it left behind)", dir, err)
	}
	t.Setenv("TMPDIR", tmp)
	removeStaleDirs(slog.New(slog.DiscardHandler))
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale dir %s not removed: %v", dir, err)
	}
}

// TestStartReportsComponentFailure checks that a component dying at start
// fails Start at once with the component's own explanation.
func TestStartReportsComponentFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{APIServerFlags: []string{"--no-such-flag"}, Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		c.Stop()
		t.Fatal("Start succeeded with a bogus apiserver flag")
	}
	for _, want := range []string{"kube-apiserver exited", "no-such-flag"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}
