package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubedag/kubedag/e2e/pki"
)

// TestAggregatorFlagValidation runs `kubedag aggregator` with bad flags or
// configuration files and checks that it fails at start with an error
// naming the flag or field at fault. None of the cases reaches an API
// server or a firewall.
func TestAggregatorFlagValidation(t *testing.T) {
	t.Setenv("POD_NAMESPACE", "") // the default of --leader-election-namespace
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const secret = "hunter2-do-not-print"
	keyFile := write("api-key", secret)
	target := "targets:\n- name: fw\n  url: https://127.0.0.1:1\n  apiKeyFile: " + keyFile + "\n"
	good := write("good.yaml", "cluster: prod\n"+target)
	badDuration := write("bad-duration.yaml", "cluster: prod\nbatchInterval: fast\n"+target)
	unknownField := write("unknown.yaml", "cluster: prod\nbatchIntervall: 1s\n"+target)
	noURL := write("no-url.yaml", "cluster: prod\ntargets:\n- name: fw\n  apiKeyFile: "+keyFile+"\n")
	noCluster := write("no-cluster.yaml", target)
	noPassword := write("no-password.yaml", "cluster: prod\ntargets:\n- name: fw\n  url: https://127.0.0.1:1\n  usernameFile: "+keyFile+"\n  passwordFile: "+filepath.Join(dir, "missing-password")+"\n")
	kubeconfig := write("kubeconfig", `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`)
	// A serving pair for the cases that get past TLS loading.
	cert, key := servingPair(t, dir)

	const agents = "--agent-users=system:serviceaccount:kubedag:kubedag-agent"
	base := func(cfg string, extra ...string) []string {
		return append([]string{"aggregator", "--leader-elect=false", "--config=" + cfg, agents,
			"--tls-cert-file=" + filepath.Join(dir, "missing.crt"), "--tls-key-file=" + filepath.Join(dir, "missing.key"),
			"--listen=127.0.0.1:0", "--health-listen=127.0.0.1:0", "--kubeconfig=" + kubeconfig}, extra...)
	}
	tests := []struct {
		name string
		args []string
		want []string // all must appear in the error
	}{
		{"no TLS files", []string{"aggregator", "--leader-elect=false", "--config=" + good, agents}, []string{"--tls-cert-file", "--tls-key-file"}},
		{"no TLS key", []string{"aggregator", "--leader-elect=false", "--config=" + good, agents, "--tls-cert-file=" + cert}, []string{"--tls-key-file"}},
		{"no API request budget", base(good, "--kube-api-qps=0"), []string{"--kube-api-qps"}},
		{"leader election without namespace", []string{"aggregator", "--config=" + good, agents, "--tls-cert-file=" + cert, "--tls-key-file=" + key}, []string{"--leader-election-namespace"}},
		// Any pod could spoof tags: refuse to start without knowing the agents' identity.
		{"no agent users", []string{"aggregator", "--leader-elect=false", "--config=" + good, "--tls-cert-file=" + cert, "--tls-key-file=" + key}, []string{"--agent-users", "--allow-any-agent"}},
		{"agent users and allow any", base(good, "--allow-any-agent"), []string{"--agent-users", "--allow-any-agent", "exclude"}},
		{"agent user not a ServiceAccount", []string{"aggregator", "--leader-elect=false", "--config=" + good, "--agent-users=kubedag-agent",
			"--tls-cert-file=" + cert, "--tls-key-file=" + key}, []string{"--agent-users", "system:serviceaccount:<namespace>:<name>"}},
		{"max batch zero", base(good, "--max-batch=0"), []string{"--max-batch"}},
		{"bad canary IP", base(good, "--canary-ip=192.0.2"), []string{"--canary-ip"}},
		{"bad log level", base(good, "--log-level=loud"), []string{"--log-level"}},
		{"missing config file", base(filepath.Join(dir, "absent.yaml")), []string{"absent.yaml"}},
		{"bad duration in file", base(badDuration), []string{"batchInterval", "fast"}},
		{"unknown field in file", base(unknownField), []string{"batchIntervall"}},
		{"target without url", base(noURL), []string{"targets[fw].url"}},
		{"no cluster", base(noCluster), []string{"cluster: required"}},
		{"flag makes the file invalid", base(good, "--tag-ttl=1s"), []string{"tagTTL"}},
		{"TLS files missing", base(good), []string{"agent stream TLS", "missing.crt"}},
		// The explicit opt-out gets past the identity check (and fails later, on TLS).
		{"allow any agent", []string{"aggregator", "--leader-elect=false", "--config=" + good, "--allow-any-agent",
			"--tls-cert-file=" + filepath.Join(dir, "missing.crt"), "--tls-key-file=" + filepath.Join(dir, "missing.key"),
			"--listen=127.0.0.1:0", "--health-listen=127.0.0.1:0", "--kubeconfig=" + kubeconfig}, []string{"agent stream TLS"}},
		{"target secret file missing", append(base(noPassword), "--tls-cert-file="+cert, "--tls-key-file="+key), []string{"target fw", "passwordFile", "missing-password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := newRootCmd()
			cmd.SetArgs(tt.args)
			err := cmd.ExecuteContext(t.Context())
			if err == nil {
				t.Fatal("aggregator started; want a start-up error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to mention %q", err, w)
				}
			}
			t.Logf("error: %v", err)
			if strings.Contains(err.Error(), secret) {
				t.Errorf("err = %v carries the content of a secret file", err)
			}
		})
	}
}

// servingPair writes a throwaway serving certificate and key (PEM) into
// dir and returns their paths; they are only loaded, never trusted.
func servingPair(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	ca, err := pki.NewCA("aggregator test CA")
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.Server("aggregator.test", nil, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := kp.WriteFiles(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
