package charts

import (
	"encoding/base64"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator/leader"
	"github.com/kubedag/kubedag/e2e/pki"
)

var (
	buildOnce sync.Once
	builtDir  string
	buildErr  error
	buildOut  []byte
)

// binaryOf returns the image's binary that workload o's container runs
// (its command, else the image's entrypoint /kubedag), built from ./cmd
// once per test binary.
func binaryOf(t *testing.T, o obj) string {
	t.Helper()
	buildOnce.Do(func() {
		if builtDir, buildErr = os.MkdirTemp("", "kubedag-chart-bin-"); buildErr != nil {
			return
		}
		buildOut, buildErr = exec.Command("go", "build", "-o", builtDir+"/", "../cmd/kubedag", "../cmd/kubedag-agent").CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build kubedag, kubedag-agent: %v\n%s", buildErr, buildOut)
	}
	name := "kubedag"
	if cmd := list(container(t, o)["command"]); len(cmd) > 0 {
		name = strings.TrimPrefix(str(cmd[0]), "/")
		if len(cmd) != 1 || (name != "kubedag" && name != "kubedag-agent") {
			t.Fatalf("%s runs %v, not one of the image's binaries /kubedag, /kubedag-agent", o.name(), cmd)
		}
	}
	return filepath.Join(builtDir, name)
}

func containerArgs(t *testing.T, o obj) []string {
	t.Helper()
	var args []string
	for _, a := range list(container(t, o)["args"]) {
		args = append(args, str(a))
	}
	return args
}

// TestArgsParseWithTheBinary renders the chart and runs every container's
// args through the real kubedag binary's flag parser (cobra rejects an
// unknown flag or a bad value even with --help), so the chart can never
// pass a flag the commands do not have.
func TestArgsParseWithTheBinary(t *testing.T) {
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			objs := mustTemplate(t, tc.args...)
			checked := 0
			for _, kind := range []string{"DaemonSet", "Deployment"} {
				for _, o := range ofKind(objs, kind) {
					args := containerArgs(t, o)
					bin := binaryOf(t, o)
					out, err := exec.Command(bin, append(args, "--help")...).CombinedOutput()
					if err != nil {
						t.Errorf("%s %s: %s %v rejects its args: %v\n%s", kind, o.name(), filepath.Base(bin), args, err, out)
					}
					checked++
				}
			}
			if checked != 2 {
				t.Fatalf("checked %d workloads, want the agent DaemonSet and the aggregator Deployment", checked)
			}
		})
	}
}

// TestBinariesStartWithRenderedValues runs both commands with the args the
// chart renders, the config file of its ConfigMap and the TLS material of
// its Secret (paths moved into a temp dir), and checks they pass every
// start-up check (flags, config after flags, TLS) and stop only where a
// pod would go on: at the in-cluster API configuration. A value the schema
// accepts but a binary rejects at start fails here.
func TestBinariesStartWithRenderedValues(t *testing.T) {
	cases := append([]renderCase{}, renderCases...)
	for _, v := range documentedValueCases {
		cases = append(cases, renderCase{name: v.name, args: append([]string{"-f", minimalValues}, v.args...)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := mustTemplate(t, tc.args...)
			dir := t.TempDir()
			move := func(p string) string { return filepath.Join(dir, strings.TrimPrefix(p, "/")) }
			write := func(p string, b []byte) {
				t.Helper()
				if err := os.MkdirAll(filepath.Dir(move(p)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(move(p), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// TLS material: the generated Secret, or a pair standing in for an existing one.
			tlsData := map[string][]byte{}
			if secrets := ofKind(objs, "Secret"); len(secrets) == 1 {
				for k, v := range get(secrets[0], "data").(map[string]any) {
					b, err := base64.StdEncoding.DecodeString(str(v))
					if err != nil {
						t.Fatal(err)
					}
					tlsData[k] = b
				}
			} else {
				ca, err := pki.NewCA("chart test CA")
				if err != nil {
					t.Fatal(err)
				}
				kp, err := ca.Server("kubedag-aggregator", nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				tlsData["tls.crt"], tlsData["tls.key"], tlsData["ca.crt"] = kp.CertPEM, kp.KeyPEM, ca.CertPEM()
			}

			for _, kind := range []string{"Deployment", "DaemonSet"} {
				w := ofKind(objs, kind)
				if len(w) != 1 {
					t.Fatalf("%d %ss rendered, want 1", len(w), kind)
				}
				args := containerArgs(t, w[0])
				for i, a := range args {
					name, val, _ := strings.Cut(a, "=")
					switch name {
					case "--config":
						raw := str(get(find(t, objs, "ConfigMap", "-aggregator-config"), "data", "config.yaml"))
						write(val, []byte(strings.ReplaceAll(raw, "/etc/kubedag/targets/", move("/etc/kubedag/targets/")+"/")))
					case "--tls-cert-file":
						write(val, tlsData["tls.crt"])
					case "--tls-key-file":
						write(val, tlsData["tls.key"])
					case "--ca-file":
						write(val, tlsData["ca.crt"])
					case "--token-file":
						write(val, []byte("not-a-token"))
					case "--listen", "--health-listen", "--explain-listen":
						args[i] = name + "=127.0.0.1:0" // the test host's ports, not the pod's
						continue
					default:
						continue
					}
					args[i] = name + "=" + move(val)
				}
				// The container's literal environment (OTEL_*, extraEnv), and
				// no KUBERNETES_SERVICE_HOST: not in a pod.
				env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
				for _, e := range list(container(t, w[0])["env"]) {
					if v, ok := get(e, "value").(string); ok {
						env = append(env, str(get(e, "name"))+"="+v)
					}
				}
				cmd := exec.Command(binaryOf(t, w[0]), args...)
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				if err == nil {
					t.Fatalf("%s: kubedag %v ran without an API server", kind, args)
				}
				if !strings.Contains(string(out), "kubernetes client config") {
					t.Errorf("%s: kubedag %s stopped before its API client, at:\n%s", kind, args[0], out)
				}
			}
		})
	}
}

// TestLeaseTimingsAreTheBinarys: the chart's default Lease timings are the
// aggregator's own defaults, whose takeover bound the READMEs state.
func TestLeaseTimingsAreTheBinarys(t *testing.T) {
	d := find(t, mustTemplate(t, "-f", minimalValues), "Deployment", "-aggregator")
	want := map[string]time.Duration{"--lease-duration": leader.DefaultLeaseDuration,
		"--renew-deadline": leader.DefaultRenewDeadline, "--retry-period": leader.DefaultRetryPeriod}
	got := map[string]time.Duration{}
	for _, a := range containerArgs(t, d) {
		name, v, ok := strings.Cut(a, "=")
		if _, timing := want[name]; !ok || !timing {
			continue
		}
		dur, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		got[name] = dur
	}
	if !maps.Equal(got, want) {
		t.Errorf("chart passes %v, the aggregator's defaults are %v", got, want)
	}
}
