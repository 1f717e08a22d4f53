package charts

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/kubedag/kubedag/agent"
	"github.com/kubedag/kubedag/aggregator"
)

const (
	// kubeVersion is what helm template assumes: a helm built with `go
	// install` would otherwise claim v1.20, below the chart's kubeVersion.
	kubeVersion = "v1.37.2"
	release     = "kd"
	namespace   = "kubedag-system"
)

var (
	minimalValues = filepath.Join(chartDir, "ci", "minimal-values.yaml")
	fullValues    = filepath.Join(chartDir, "ci", "full-values.yaml")
)

// Flags of cli-contract.md; the chart must pass nothing else.
var (
	agentFlags = []string{"node-name", "aggregator", "ca-file", "server-name", "token-file",
		"ip-source", "tag-host-network", "multus", "health-listen", "kubeconfig", "aggregator-resolve-interval"}
	aggregatorFlags = []string{"config", "kubeconfig", "listen", "tls-cert-file", "tls-key-file",
		"insecure-listen", "health-listen", "batch-interval", "max-batch", "resync-interval", "tag-ttl",
		"snapshot-grace", "node-grace", "leader-elect", "leader-election-namespace",
		"leader-election-id", "log-level", "agent-users", "allow-node-ip", "canary-ip", "explain-listen",
		"lease-duration", "renew-deadline", "retry-period", "agent-selector", "agent-namespace", "multus"}
	durationFlags = []string{"batch-interval", "resync-interval", "tag-ttl", "snapshot-grace", "node-grace",
		"lease-duration", "renew-deadline", "retry-period"}
)

func helmTemplate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	helm := tool(t, "helm")
	out, errOut, err := run(t, helm, append([]string{"template", release, chartDir, "--namespace", namespace, "--kube-version", kubeVersion}, args...)...)
	if err != nil {
		return "", fmt.Errorf("%w\n%s", err, errOut)
	}
	return out, nil
}

func mustTemplate(t *testing.T, args ...string) []obj {
	t.Helper()
	out, err := helmTemplate(t, args...)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	return parseDocs(t, out)
}

func TestHelmLint(t *testing.T) {
	helm := tool(t, "helm")
	tests := []struct {
		name    string
		args    []string
		values  string // extra values file content
		wantErr []string
	}{
		{name: "minimal values", args: []string{"-f", minimalValues}},
		{name: "full values", args: []string{"-f", fullValues}},
		{name: "chart defaults alone", wantErr: []string{"schema", "/cluster", "minLength", "/targets", "minItems"}},
		{name: "no targets", args: []string{"--set", "cluster=c1"}, wantErr: []string{"schema", "/targets", "minItems"}},
		{name: "cluster name with spaces", values: "cluster: my cluster\n", wantErr: []string{"schema", "/cluster"}},
		// The aggregator refuses these at start (tags.Config): the schema must refuse them at install.
		{name: "cluster name with a dot", values: "cluster: prod.eu\n", wantErr: []string{"schema", "/cluster"}},
		{name: "cluster name over 48", values: "cluster: " + strings.Repeat("c", 49) + "\n", wantErr: []string{"schema", "/cluster"}},
		{name: "unknown preset", args: []string{"-f", minimalValues}, values: "tags: {preset: eks}\n", wantErr: []string{"schema", "/tags/preset", "must be one of"}},
		{name: "custom preset without template", args: []string{"-f", minimalValues}, values: "tags: {preset: custom}\n", wantErr: []string{"schema", "template"}},
		{name: "node tags", args: []string{"-f", minimalValues}, values: "tags: {nodes: {enabled: true, externalIPs: true, labels: []}}\n"},
		{name: "unknown ip source", args: []string{"-f", minimalValues}, values: "agent: {ipSource: ebpf}\n", wantErr: []string{"schema", "/agent/ipSource"}},
		{name: "misspelled value", args: []string{"-f", minimalValues}, values: "agent: {ipsource: api}\n", wantErr: []string{"schema", "ipsource"}},
		{
			name: "api key in clear", args: []string{"-f", minimalValues},
			values:  "targets: [{name: fw1, url: 'https://10.0.0.1', kind: firewall, credentialsSecret: fw1, apiKey: LUFRPT14MW5xOEo1R09KVlBZNnpnemh0VHRBOWl6TGM9bXcwM3JHUGVhRlNiY0dCR0srNERUQT09}]\n",
			wantErr: []string{"schema", "apiKey"},
		},
		{
			name: "password in clear", args: []string{"-f", minimalValues},
			values:  "targets: [{name: fw1, url: 'https://10.0.0.1', kind: firewall, credentialsSecret: fw1, auth: password, password: hunter2}]\n",
			wantErr: []string{"schema", "password"},
		},
		{
			name: "target kind unknown", args: []string{"-f", minimalValues},
			values:  "targets: [{name: fw1, url: 'https://10.0.0.1', kind: router, credentialsSecret: fw1}]\n",
			wantErr: []string{"schema", "/targets/0/kind"},
		},
		{
			name: "target url without scheme", args: []string{"-f", minimalValues},
			values:  "targets: [{name: fw1, url: '10.0.0.1', kind: firewall, credentialsSecret: fw1}]\n",
			wantErr: []string{"schema", "/targets/0/url"},
		},
		{
			name: "target without credentials secret", args: []string{"-f", minimalValues},
			values:  "targets: [{name: fw1, url: 'https://10.0.0.1', kind: firewall}]\n",
			wantErr: []string{"schema", "credentialsSecret"},
		},
		{
			name: "panorama with vsys", args: []string{"-f", minimalValues},
			values:  "targets: [{name: pano, url: 'https://10.0.0.2', kind: panorama, vsys: vsys1, credentialsSecret: p}]\n",
			wantErr: []string{"schema", "/targets/0/vsys"},
		},
		{name: "bad duration", args: []string{"-f", minimalValues}, values: "aggregator: {batchInterval: fast}\n", wantErr: []string{"schema", "/aggregator/batchInterval"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"lint", "--strict", chartDir}, tc.args...)
			if tc.values != "" {
				args = append(args, "-f", writeValues(t, tc.values))
			}
			out, errOut, err := run(t, helm, args...)
			all := out + errOut
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("helm lint failed: %v\n%s", err, all)
				}
				if !strings.Contains(all, "0 chart(s) failed") {
					t.Fatalf("helm lint did not report success:\n%s", all)
				}
				return
			}
			if err == nil {
				t.Fatalf("helm lint accepted bad values:\n%s", all)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(all, w) {
					t.Errorf("helm lint output lacks %q:\n%s", w, all)
				}
			}
		})
	}
}

// TestTemplateErrors covers what the schema cannot express.
func TestTemplateErrors(t *testing.T) {
	tests := []struct {
		name, values, want string
	}{
		{
			name: "duplicate target names",
			values: "cluster: c1\ntargets:\n" +
				"- {name: fw1, url: 'https://10.0.0.1', kind: firewall, credentialsSecret: a}\n" +
				"- {name: fw1, url: 'https://10.0.0.2', kind: firewall, credentialsSecret: b}\n",
			want: `name "fw1" is used twice`,
		},
		{
			name:   "cert-manager without its API",
			values: "cluster: c1\ntargets: [{name: fw1, url: 'https://10.0.0.1', kind: firewall, credentialsSecret: a}]\ntls: {certManager: {enabled: true, issuerRef: {name: ca}}}\n",
			want:   "does not serve cert-manager.io/v1 Certificate",
		},
		{
			name:   "cert-manager and an existing Secret",
			values: "cluster: c1\ntargets: [{name: fw1, url: 'https://10.0.0.1', kind: firewall, credentialsSecret: a}]\ntls: {existingSecret: s, certManager: {enabled: true, issuerRef: {name: ca}}}\n",
			want:   "exclude each other",
		},
		{
			name:   "nothing to tag",
			values: "cluster: c1\ntargets: [{name: fw1, url: 'https://10.0.0.1', kind: firewall, credentialsSecret: a}]\ntags: {pods: false, services: false}\n",
			want:   "would tag nothing",
		},
		{
			name:   "multus with ipSource netlink",
			values: "cluster: c1\ntargets: [{name: fw1, url: 'https://10.0.0.1', kind: firewall, credentialsSecret: a}]\nagent: {multus: true, ipSource: netlink}\n",
			want:   "agent.multus needs agent.ipSource both or api",
		},
		{
			name:   "node tags and tagHostNetwork",
			values: "cluster: c1\ntargets: [{name: fw1, url: 'https://10.0.0.1', kind: firewall, credentialsSecret: a}]\ntags: {nodes: {enabled: true}}\nagent: {tagHostNetwork: true}\n",
			want:   "tags.nodes.enabled and agent.tagHostNetwork exclude each other",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := helmTemplate(t, "-f", writeValues(t, tc.values))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("helm template error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// renderCase is one values set and what the rendered objects must show.
type renderCase struct {
	name           string
	args           []string
	replicas       int
	image          string
	ipSource       string
	tagHostNetwork string
	agentPort      int
	logLevel       string
	targets        []wantTarget
	serviceMonitor bool
	networkPolicy  bool
	tlsSecret      string // Secret the pods mount
	tlsGenerated   bool
	caKey          string
	certManager    bool
}

type wantTarget struct {
	name, secret, auth string
	ca                 bool
	maxCallsPerSecond  float64 // 0: the key is absent
	prune              bool    // dags: {prune: true, ...}
}

var renderCases = []renderCase{
	{
		name: "minimal", args: []string{"-f", minimalValues},
		replicas: 2, image: "ghcr.io/kubedag/kubedag:" + chartAppVersion(), ipSource: "both", tagHostNetwork: "false",
		agentPort: 10271, logLevel: "info", tlsSecret: "kd-kubedag-stream-tls", tlsGenerated: true, caKey: "ca.crt",
		targets: []wantTarget{{name: "fw1", secret: "fw1-panos", auth: "apiKey"}},
	},
	{
		name: "full", args: []string{"-f", fullValues, "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor", "--api-versions", "monitoring.coreos.com/v1/PodMonitor"},
		replicas: 3, image: "registry.example.com/kubedag:v1.2.3", ipSource: "netlink", tagHostNetwork: "true",
		agentPort: 19091, logLevel: "debug", tlsSecret: "kd-kubedag-stream-tls", tlsGenerated: true, caKey: "ca.crt",
		targets: []wantTarget{
			{name: "fw1", secret: "fw1-panos", auth: "apiKey", ca: true},
			{name: "panorama", secret: "panorama-panos", auth: "password", maxCallsPerSecond: 50, prune: true},
		},
		serviceMonitor: true, networkPolicy: true,
	},
	{
		name: "cert-manager", args: []string{"-f", minimalValues, "--set", "tls.certManager.enabled=true,tls.certManager.issuerRef.name=kubedag-ca",
			"--api-versions", "cert-manager.io/v1/Certificate"},
		replicas: 2, image: "ghcr.io/kubedag/kubedag:" + chartAppVersion(), ipSource: "both", tagHostNetwork: "false",
		agentPort: 10271, logLevel: "info", tlsSecret: "kd-kubedag-stream-tls", caKey: "ca.crt", certManager: true,
		targets: []wantTarget{{name: "fw1", secret: "fw1-panos", auth: "apiKey"}},
	},
	{
		name: "existing TLS secret", args: []string{"-f", minimalValues, "--set", "tls.existingSecret=my-tls,tls.caKey=bundle.pem"},
		replicas: 2, image: "ghcr.io/kubedag/kubedag:" + chartAppVersion(), ipSource: "both", tagHostNetwork: "false",
		agentPort: 10271, logLevel: "info", tlsSecret: "my-tls", caKey: "bundle.pem",
		targets: []wantTarget{{name: "fw1", secret: "fw1-panos", auth: "apiKey"}},
	},
}

// chartAppVersion reads appVersion from Chart.yaml, the default image tag.
func chartAppVersion() string {
	b, err := readFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return "unreadable-Chart.yaml"
	}
	var c struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil || c.AppVersion == "" {
		return "no-appVersion"
	}
	return c.AppVersion
}

func TestTemplate(t *testing.T) {
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			objs := mustTemplate(t, tc.args...)
			for _, o := range objs {
				if ns := str(get(o, "metadata", "namespace")); ns != "" && ns != namespace {
					t.Errorf("%s/%s in namespace %q, want %q", o.kind(), o.name(), ns, namespace)
				}
			}
			t.Run("agent", func(t *testing.T) { checkAgent(t, objs, tc) })
			t.Run("aggregator", func(t *testing.T) { checkAggregator(t, objs, tc) })
			t.Run("config", func(t *testing.T) { checkConfig(t, objs, tc) })
			t.Run("rbac", func(t *testing.T) { checkRBAC(t, objs) })
			// Telemetry resources carry the k8s identity (telemetry.K8sAttributes).
			t.Run("telemetry identity", func(t *testing.T) {
				cluster := str(renderedConfig(t, objs)["cluster"])
				for _, o := range append(ofKind(objs, "Deployment"), ofKind(objs, "DaemonSet")...) {
					env := container(t, o)["env"]
					if e := byName(env, "CLUSTER_NAME"); str(get(e, "value")) != cluster {
						t.Errorf("%s CLUSTER_NAME env %v, want %q", o.kind(), e, cluster)
					}
					for name, path := range map[string]string{"NODE_NAME": "spec.nodeName", "POD_NAME": "metadata.name",
						"POD_NAMESPACE": "metadata.namespace", "POD_UID": "metadata.uid"} {
						if e := byName(env, name); str(get(e, "valueFrom", "fieldRef", "fieldPath")) != path {
							t.Errorf("%s %s env %v, want fieldRef %s", o.kind(), name, e, path)
						}
					}
				}
			})
			t.Run("tls", func(t *testing.T) { checkTLS(t, objs, tc) })
			t.Run("no secrets", func(t *testing.T) { checkNoSecrets(t, objs, tc) })
			t.Run("optional objects", func(t *testing.T) {
				for _, kind := range []string{"ServiceMonitor", "PodMonitor"} {
					if got := len(ofKind(objs, kind)); got != b2i(tc.serviceMonitor) {
						t.Errorf("%d %ss, want %d", got, kind, b2i(tc.serviceMonitor))
					}
				}
				// cert-manager writes the Secret the pods mount, for the name agents dial.
				certs := ofKind(objs, "Certificate")
				if len(certs) != b2i(tc.certManager) {
					t.Errorf("%d cert-manager Certificates, want %d", len(certs), b2i(tc.certManager))
				}
				if tc.certManager {
					c := certs[0]
					if str(get(c, "spec", "secretName")) != tc.tlsSecret {
						t.Errorf("Certificate secretName %v, want %s", get(c, "spec", "secretName"), tc.tlsSecret)
					}
					host := flags(t, list(container(t, find(t, objs, "DaemonSet", "-agent"))["args"])[1:])["server-name"]
					if !slices.Contains(list(get(c, "spec", "dnsNames")), any(host)) {
						t.Errorf("Certificate dnsNames %v lack %s, the name agents verify", get(c, "spec", "dnsNames"), host)
					}
					if str(get(c, "spec", "issuerRef", "name")) != "kubedag-ca" {
						t.Errorf("Certificate issuerRef %v", get(c, "spec", "issuerRef"))
					}
				}
				if got := len(ofKind(objs, "NetworkPolicy")); got != b2i(tc.networkPolicy) {
					t.Errorf("%d NetworkPolicies, want %d", got, b2i(tc.networkPolicy))
				}
				if tc.networkPolicy {
					np := find(t, objs, "NetworkPolicy", "-aggregator")
					var ports []int
					for _, r := range list(get(np, "spec", "ingress")) {
						for _, p := range list(get(r, "ports")) {
							ports = append(ports, num(get(p, "port")))
						}
					}
					slices.Sort(ports)
					if !slices.Equal(ports, []int{9090, 9443, 9444}) {
						t.Errorf("NetworkPolicy ingress ports %v, want [9090 9443 9444] (metrics, stream, explain)", ports)
					}
				}
				if tc.serviceMonitor {
					sm := find(t, objs, "ServiceMonitor", "kubedag")
					sel := get(sm, "spec", "selector", "matchLabels").(map[string]any)
					n := 0
					for _, svc := range ofKind(objs, "Service") {
						if matches(sel, get(svc, "metadata", "labels")) {
							n++
							if byName(get(svc, "spec", "ports"), "metrics") == nil {
								t.Errorf("Service %s selected by the ServiceMonitor has no metrics port", svc.name())
							}
						}
					}
					if n != 2 {
						t.Errorf("ServiceMonitor selects %d Services, want 2 (agent and aggregator metrics)", n)
					}
				}
			})
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func num(v any) int {
	switch n := v.(type) {
	case float64:
		return int(n)
	case int64:
		return int(n)
	case int:
		return n
	}
	return -1
}

// matches reports whether every selector label is in labels.
func matches(selector map[string]any, labels any) bool {
	for k, v := range selector {
		if get(labels, k) != v {
			return false
		}
	}
	return true
}

func container(t *testing.T, o obj) map[string]any {
	t.Helper()
	cs := list(get(o, "spec", "template", "spec", "containers"))
	if len(cs) != 1 {
		t.Fatalf("%s %s has %d containers, want 1", o.kind(), o.name(), len(cs))
	}
	return cs[0].(map[string]any)
}

// checkHardened asserts the pod and container security settings both
// components share.
func checkHardened(t *testing.T, o obj) {
	t.Helper()
	c := container(t, o)
	sc := get(c, "securityContext")
	if get(sc, "readOnlyRootFilesystem") != true || get(sc, "allowPrivilegeEscalation") != false ||
		get(sc, "runAsNonRoot") != true || num(get(sc, "runAsUser")) != 65532 {
		t.Errorf("%s container securityContext %v: want read-only root, no privilege escalation, non-root uid 65532", o.kind(), sc)
	}
	if get(sc, "privileged") == true {
		t.Errorf("%s container is privileged", o.kind())
	}
	if add := list(get(sc, "capabilities", "add")); len(add) != 0 {
		t.Errorf("%s adds capabilities %v, want none (no NET_ADMIN: netlink subscriptions need no privilege)", o.kind(), add)
	}
	if drop := list(get(sc, "capabilities", "drop")); !slices.Contains(drop, any("ALL")) {
		t.Errorf("%s drops capabilities %v, want ALL", o.kind(), drop)
	}
	psc := get(o, "spec", "template", "spec", "securityContext")
	if get(psc, "runAsNonRoot") != true || str(get(psc, "seccompProfile", "type")) != "RuntimeDefault" {
		t.Errorf("%s pod securityContext %v: want runAsNonRoot and seccomp RuntimeDefault", o.kind(), psc)
	}
	if c["resources"] == nil || get(c, "resources", "requests") == nil {
		t.Errorf("%s container has no resource requests", o.kind())
	}
}

// mountedFile resolves a file path in container c to the volume and the key
// behind it; it fails when no mount covers the path.
func mountedFile(t *testing.T, pod any, c map[string]any, path string) (vol map[string]any, rel string) {
	t.Helper()
	for _, m := range list(c["volumeMounts"]) {
		mp := str(get(m, "mountPath"))
		if strings.HasPrefix(path, mp+"/") {
			v := byName(get(pod, "volumes"), str(get(m, "name")))
			if v == nil {
				t.Fatalf("mount %s refers to a missing volume %s", mp, get(m, "name"))
			}
			return v, strings.TrimPrefix(path, mp+"/")
		}
	}
	t.Fatalf("no volume mount covers %s", path)
	return nil, ""
}

// secretKey returns the key of the Secret volume vol that appears as file rel.
func secretKey(t *testing.T, vol map[string]any, rel string) (secret, key string) {
	t.Helper()
	s := get(vol, "secret")
	if s == nil {
		t.Fatalf("volume %s is not a Secret volume", vol["name"])
	}
	items := list(get(s, "items"))
	if len(items) == 0 {
		return str(get(s, "secretName")), rel
	}
	for _, it := range items {
		if str(get(it, "path")) == rel {
			return str(get(s, "secretName")), str(get(it, "key"))
		}
	}
	t.Fatalf("Secret volume %s has no item at path %s", vol["name"], rel)
	return "", ""
}

func checkAgent(t *testing.T, objs []obj, tc renderCase) {
	ds := find(t, objs, "DaemonSet", "-agent")
	pod := get(ds, "spec", "template", "spec")
	if get(pod, "hostNetwork") != true {
		t.Error("agent hostNetwork is not true")
	}
	if str(get(pod, "dnsPolicy")) != "ClusterFirstWithHostNet" {
		t.Errorf("agent dnsPolicy %v, want ClusterFirstWithHostNet (cluster DNS from the host network)", get(pod, "dnsPolicy"))
	}
	// Runs on tainted nodes too: a toleration that matches every taint.
	tolerateAll := false
	for _, tol := range list(get(pod, "tolerations")) {
		if str(get(tol, "operator")) == "Exists" && get(tol, "key") == nil && get(tol, "effect") == nil {
			tolerateAll = true
		}
	}
	if !tolerateAll {
		t.Errorf("agent tolerations %v do not tolerate every taint", get(pod, "tolerations"))
	}
	checkHardened(t, ds)
	if str(get(pod, "serviceAccountName")) != find(t, objs, "ServiceAccount", "-agent").name() {
		t.Errorf("agent runs as ServiceAccount %v, not the agent's", get(pod, "serviceAccountName"))
	}

	c := container(t, ds)
	if str(c["image"]) != tc.image {
		t.Errorf("agent image %v, want %s", c["image"], tc.image)
	}
	// The agent-only binary (its pages are part of every node's agent memory).
	if cmd := list(c["command"]); len(cmd) != 1 || str(cmd[0]) != "/kubedag-agent" {
		t.Errorf("agent command %v, want [/kubedag-agent]", c["command"])
	}
	args := list(c["args"])
	if len(args) == 0 || str(args[0]) != "agent" {
		t.Fatalf("agent args %v do not start with the agent subcommand", args)
	}
	f := flags(t, args[1:])
	for k := range f {
		if !slices.Contains(agentFlags, k) {
			t.Errorf("agent flag --%s is not in cli-contract.md", k)
		}
	}
	// One stream per aggregator replica: the agents resolve the headless
	// Service of the Ready replicas, and verify the name the certificate
	// carries (the aggregator Service's).
	svc := find(t, objs, "Service", "-aggregator")
	replicas := find(t, objs, "Service", "-aggregator-replicas")
	wantAddr := fmt.Sprintf("%s.%s.svc:%d", replicas.name(), namespace, 9443)
	if f["aggregator"] != wantAddr {
		t.Errorf("--aggregator=%s, want %s", f["aggregator"], wantAddr)
	}
	if want := fmt.Sprintf("%s.%s.svc", svc.name(), namespace); f["server-name"] != want {
		t.Errorf("--server-name=%s, want %s (the certificate's name)", f["server-name"], want)
	}
	if str(get(replicas, "spec", "clusterIP")) != "None" || get(replicas, "spec", "publishNotReadyAddresses") != false {
		t.Errorf("replicas Service %v: want headless, Ready replicas only", get(replicas, "spec"))
	}
	for _, s := range []obj{svc, replicas} {
		if sp := byName(get(s, "spec", "ports"), "stream"); sp == nil || num(sp["port"]) != 9443 {
			t.Errorf("Service %s ports %v lack stream port 9443", s.name(), get(s, "spec", "ports"))
		}
		if !matches(get(s, "spec", "selector").(map[string]any), get(find(t, objs, "Deployment", "-aggregator"), "spec", "template", "metadata", "labels")) {
			t.Errorf("Service %s does not select the aggregator pods", s.name())
		}
	}
	if f["ip-source"] != tc.ipSource || f["tag-host-network"] != tc.tagHostNetwork ||
		f["health-listen"] != fmt.Sprintf(":%d", tc.agentPort) || f["node-name"] != "$(NODE_NAME)" {
		t.Errorf("agent flags %v: want ip-source %s, tag-host-network %s, health-listen :%d, node-name $(NODE_NAME)",
			f, tc.ipSource, tc.tagHostNetwork, tc.agentPort)
	}
	if e := byName(c["env"], "NODE_NAME"); str(get(e, "valueFrom", "fieldRef", "fieldPath")) != "spec.nodeName" {
		t.Errorf("NODE_NAME env %v is not the downward-API spec.nodeName", e)
	}

	// The token: projected, audience kubedag, at the contract's path.
	if f["token-file"] != "/var/run/secrets/kubedag/token" {
		t.Errorf("--token-file=%s, want /var/run/secrets/kubedag/token", f["token-file"])
	}
	vol, rel := mountedFile(t, pod, c, "/var/run/secrets/kubedag/token")
	var sat any
	for _, s := range list(get(vol, "projected", "sources")) {
		if x := get(s, "serviceAccountToken"); x != nil && str(get(x, "path")) == rel {
			sat = x
		}
	}
	if sat == nil {
		t.Fatalf("/var/run/secrets/kubedag/token is not a projected ServiceAccount token (volume %v)", vol)
	}
	if str(get(sat, "audience")) != "kubedag" {
		t.Errorf("token audience %v, want kubedag", get(sat, "audience"))
	}

	// The CA, and only the CA, of the stream's TLS Secret.
	vol, rel = mountedFile(t, pod, c, f["ca-file"])
	secret, key := secretKey(t, vol, rel)
	if secret != tc.tlsSecret || key != tc.caKey {
		t.Errorf("--ca-file is key %s of Secret %s, want %s of %s", key, secret, tc.caKey, tc.tlsSecret)
	}
	for _, v := range list(get(pod, "volumes")) {
		if s := get(v, "secret"); s != nil {
			items := list(get(s, "items"))
			if len(items) == 0 {
				t.Errorf("agent mounts all of Secret %v, want only the CA", get(s, "secretName"))
			}
			for _, it := range items {
				if k := str(get(it, "key")); k == "tls.key" {
					t.Errorf("agent mounts the aggregator's private key from %v", get(s, "secretName"))
				}
			}
		}
	}
	// On the host network a declared port becomes a hostPort: declare none.
	if ports := list(c["ports"]); len(ports) != 0 {
		t.Errorf("agent declares ports %v: on the host network they become hostPorts (Pod Security, conflicts)", ports)
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if str(get(c, probe, "httpGet", "path")) != path || num(get(c, probe, "httpGet", "port")) != tc.agentPort {
			t.Errorf("agent %s %v, want GET %s on port %d", probe, get(c, probe), path, tc.agentPort)
		}
	}
	if p := byName(get(find(t, objs, "Service", "-agent-metrics"), "spec", "ports"), "metrics"); p == nil ||
		num(p["port"]) != tc.agentPort || num(p["targetPort"]) != tc.agentPort {
		t.Errorf("agent metrics Service port %v, want %d", p, tc.agentPort)
	}
	// An evicted agent takes its node's tags away: critical, like CNI agents.
	if pc := str(get(pod, "priorityClassName")); pc != "system-node-critical" {
		t.Errorf("agent priorityClassName %q, want system-node-critical", pc)
	}
}

func checkProbes(t *testing.T, c map[string]any, port int) {
	t.Helper()
	p := byName(c["ports"], "metrics")
	if p == nil || num(p["containerPort"]) != port {
		t.Errorf("container ports %v lack metrics %d", c["ports"], port)
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if str(get(c, probe, "httpGet", "path")) != path || get(c, probe, "httpGet", "port") != "metrics" {
			t.Errorf("%s %v, want GET %s on the health port", probe, get(c, probe), path)
		}
	}
}

func checkAggregator(t *testing.T, objs []obj, tc renderCase) {
	d := find(t, objs, "Deployment", "-aggregator")
	if num(get(d, "spec", "replicas")) != tc.replicas {
		t.Errorf("aggregator replicas %v, want %d", get(d, "spec", "replicas"), tc.replicas)
	}
	checkHardened(t, d)
	pod := get(d, "spec", "template", "spec")
	if str(get(pod, "serviceAccountName")) != find(t, objs, "ServiceAccount", "-aggregator").name() {
		t.Errorf("aggregator runs as ServiceAccount %v, not the aggregator's", get(pod, "serviceAccountName"))
	}
	if get(pod, "hostNetwork") == true {
		t.Error("aggregator uses the host network")
	}
	term := get(pod, "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution")
	if l := list(term); len(l) == 0 || str(get(l[0], "podAffinityTerm", "topologyKey")) != "kubernetes.io/hostname" ||
		!matches(get(l[0], "podAffinityTerm", "labelSelector", "matchLabels").(map[string]any), get(d, "spec", "template", "metadata", "labels")) {
		t.Errorf("aggregator anti-affinity %v: want preferred on kubernetes.io/hostname against its own pods", term)
	}
	// Every replica is Ready (hot standby): a PDB keeps one serving, a
	// normal rolling update replaces one at a time, replicas spread over
	// zones and nodes (dryrun_test shows a drain is not blocked).
	if pdbs := ofKind(objs, "PodDisruptionBudget"); len(pdbs) != 1 {
		t.Errorf("%d PodDisruptionBudgets, want 1", len(pdbs))
	} else {
		pdb := pdbs[0]
		if !matches(get(pdb, "spec", "selector", "matchLabels").(map[string]any), get(d, "spec", "template", "metadata", "labels")) {
			t.Errorf("PodDisruptionBudget %v does not select the aggregator pods", get(pdb, "spec"))
		}
		if num(get(pdb, "spec", "minAvailable")) != 1 || str(get(pdb, "spec", "unhealthyPodEvictionPolicy")) != "AlwaysAllow" {
			t.Errorf("PodDisruptionBudget %v: want minAvailable 1, unhealthyPodEvictionPolicy AlwaysAllow", get(pdb, "spec"))
		}
	}
	if ru := get(d, "spec", "strategy", "rollingUpdate"); str(get(d, "spec", "strategy", "type")) != "RollingUpdate" ||
		num(get(ru, "maxUnavailable")) != 0 || num(get(ru, "maxSurge")) != 1 {
		t.Errorf("aggregator strategy %v: want a rolling update with maxSurge 1, maxUnavailable 0", get(d, "spec", "strategy"))
	}
	if num(get(d, "spec", "minReadySeconds")) < 10 {
		t.Errorf("aggregator minReadySeconds %v: want time for agents to find a new replica", get(d, "spec", "minReadySeconds"))
	}
	spread := map[string]bool{}
	for _, c := range list(get(pod, "topologySpreadConstraints")) {
		if str(get(c, "whenUnsatisfiable")) == "ScheduleAnyway" &&
			matches(get(c, "labelSelector", "matchLabels").(map[string]any), get(d, "spec", "template", "metadata", "labels")) {
			spread[str(get(c, "topologyKey"))] = true
		}
	}
	if !spread["topology.kubernetes.io/zone"] || !spread["kubernetes.io/hostname"] {
		t.Errorf("aggregator topologySpreadConstraints %v: want zone and hostname spread of its own pods", get(pod, "topologySpreadConstraints"))
	}

	c := container(t, d)
	if str(c["image"]) != tc.image {
		t.Errorf("aggregator image %v, want %s", c["image"], tc.image)
	}
	args := list(c["args"])
	if len(args) == 0 || str(args[0]) != "aggregator" {
		t.Fatalf("aggregator args %v do not start with the aggregator subcommand", args)
	}
	f := flags(t, args[1:])
	for k := range f {
		if !slices.Contains(aggregatorFlags, k) {
			t.Errorf("aggregator flag --%s is not in cli-contract.md", k)
		}
	}
	for _, k := range durationFlags {
		if _, err := time.ParseDuration(f[k]); err != nil {
			t.Errorf("--%s=%q is not a Go duration: %v", k, f[k], err)
		}
	}
	// The snapshot gate waits for the nodes running the chart's agents.
	ds := find(t, objs, "DaemonSet", "-agent")
	sel, err := labels.Parse(f["agent-selector"])
	if err != nil || !sel.Matches(labels.Set(toStrings(get(ds, "spec", "template", "metadata", "labels")))) || f["agent-namespace"] != "$(POD_NAMESPACE)" {
		t.Errorf("--agent-selector=%q (%v) --agent-namespace=%q: want the agent pods' labels in the release namespace", f["agent-selector"], err, f["agent-namespace"])
	}
	if f["listen"] != ":9443" || f["health-listen"] != ":9090" || f["leader-elect"] != "true" ||
		f["leader-election-namespace"] != "$(POD_NAMESPACE)" || f["log-level"] != tc.logLevel {
		t.Errorf("aggregator flags %v", f)
	}
	if _, ok := f["insecure-listen"]; ok {
		t.Error("aggregator runs the stream without TLS")
	}
	// Streams are bound to the agent ServiceAccount: any other pod's token is refused.
	agentSA := find(t, objs, "ServiceAccount", "-agent")
	if want := "system:serviceaccount:" + namespace + ":" + agentSA.name(); f["agent-users"] != want {
		t.Errorf("--agent-users=%q, want %q (the agent ServiceAccount only)", f["agent-users"], want)
	}
	if _, ok := f["allow-any-agent"]; ok {
		t.Error("aggregator accepts any pod's token (--allow-any-agent)")
	}
	// The agents tag hostNetwork pods only if the aggregator accepts node-IP claims.
	if f["allow-node-ip"] != tc.tagHostNetwork {
		t.Errorf("--allow-node-ip=%s, want %s (agent.tagHostNetwork)", f["allow-node-ip"], tc.tagHostNetwork)
	}
	// Leader election: env from the downward API, and a Role for exactly that Lease.
	for env, path := range map[string]string{"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"} {
		if e := byName(c["env"], env); str(get(e, "valueFrom", "fieldRef", "fieldPath")) != path {
			t.Errorf("%s env %v, want fieldRef %s", env, e, path)
		}
	}
	role := find(t, objs, "Role", "-leader-election")
	leaseNamed := false
	for _, r := range list(get(role, "rules")) {
		if slices.Contains(list(get(r, "resourceNames")), any(f["leader-election-id"])) {
			leaseNamed = true
		}
	}
	if !leaseNamed {
		t.Errorf("leader-election Role does not name the Lease %q", f["leader-election-id"])
	}
	// TLS serving material from the stream Secret.
	for flag, want := range map[string]string{"tls-cert-file": "tls.crt", "tls-key-file": "tls.key"} {
		vol, rel := mountedFile(t, pod, c, f[flag])
		secret, key := secretKey(t, vol, rel)
		if secret != tc.tlsSecret || key != want {
			t.Errorf("--%s is key %s of Secret %s, want %s of %s", flag, key, secret, want, tc.tlsSecret)
		}
	}
	checkProbes(t, c, 9090)
}

// renderedConfig returns the aggregator config file the pods read: the
// ConfigMap key behind --config.
func renderedConfig(t *testing.T, objs []obj) map[string]any {
	t.Helper()
	d := find(t, objs, "Deployment", "-aggregator")
	c := container(t, d)
	f := flags(t, list(c["args"])[1:])
	vol, rel := mountedFile(t, get(d, "spec", "template", "spec"), c, f["config"])
	cmName := str(get(vol, "configMap", "name"))
	cm := find(t, objs, "ConfigMap", cmName)
	raw := str(get(cm, "data", rel))
	if raw == "" {
		t.Fatalf("ConfigMap %s has no key %s", cmName, rel)
	}
	var cfg map[string]any
	if err := yaml.UnmarshalStrict([]byte(raw), &cfg); err != nil {
		t.Fatalf("config file is not valid YAML: %v\n%s", err, raw)
	}
	return cfg
}

func checkConfig(t *testing.T, objs []obj, tc renderCase) {
	cfg := renderedConfig(t, objs)
	known := []string{"cluster", "tags", "targets"}
	for k := range cfg {
		if !slices.Contains(known, k) {
			t.Errorf("config key %q is not in cli-contract.md", k)
		}
	}
	if str(cfg["cluster"]) == "" {
		t.Error("config has no cluster name")
	}
	tagKeys := []string{"preset", "prefix", "template", "labels", "pods", "services", "namespaceTags", "nodes"}
	for k := range get(cfg, "tags").(map[string]any) {
		if !slices.Contains(tagKeys, k) {
			t.Errorf("config tags.%s is not in cli-contract.md", k)
		}
	}
	targetKeys := []string{"name", "url", "kind", "vsys", "serial", "apiKeyFile", "usernameFile", "passwordFile", "caFile", "insecureSkipVerify", "maxCallsPerSecond", "dags"}
	targets := list(cfg["targets"])
	if len(targets) != len(tc.targets) {
		t.Fatalf("config has %d targets, want %d", len(targets), len(tc.targets))
	}
	d := find(t, objs, "Deployment", "-aggregator")
	c := container(t, d)
	pod := get(d, "spec", "template", "spec")
	for i, want := range tc.targets {
		got := targets[i].(map[string]any)
		for k := range got {
			if !slices.Contains(targetKeys, k) {
				t.Errorf("config targets[%d].%s is not in cli-contract.md", i, k)
			}
		}
		if got["name"] != want.name {
			t.Errorf("targets[%d].name %v, want %s", i, got["name"], want.name)
		}
		if v, ok := got["maxCallsPerSecond"]; (want.maxCallsPerSecond == 0) == ok || (ok && fmt.Sprint(v) != fmt.Sprint(want.maxCallsPerSecond)) {
			t.Errorf("targets[%d].maxCallsPerSecond = %v (set %v), want %v", i, v, ok, want.maxCallsPerSecond)
		}
		if dags, ok := got["dags"].(map[string]any); ok != want.prune || (ok && dags["prune"] != true) {
			t.Errorf("targets[%d].dags = %v, want prune %v", i, got["dags"], want.prune)
		}
		// Every credential file named in the config is a key of the target's Secret.
		files := map[string]string{"apiKeyFile": "api-key"}
		if want.auth == "password" {
			files = map[string]string{"usernameFile": "username", "passwordFile": "password"}
		}
		if want.ca {
			files["caFile"] = "ca.crt"
		}
		for field, wantKey := range files {
			vol, rel := mountedFile(t, pod, c, str(got[field]))
			secret, key := secretKey(t, vol, rel)
			if secret != want.secret || key != wantKey {
				t.Errorf("targets[%d].%s is key %s of Secret %s, want %s of %s", i, field, key, secret, wantKey, want.secret)
			}
		}
		for _, field := range []string{"apiKeyFile", "usernameFile", "passwordFile", "caFile"} {
			if _, set := files[field]; !set && str(got[field]) != "" {
				t.Errorf("targets[%d].%s = %v, want empty for auth %s", i, field, got[field], want.auth)
			}
		}
	}
}

// grant is one (API group, resource, verb, resource name) a role allows.
type grant struct{ group, resource, verb, name string }

// grants expands policy rules into sorted single grants.
func grants(rules []rbacv1.PolicyRule) []grant {
	var out []grant
	for _, r := range rules {
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					for _, n := range names {
						out = append(out, grant{g, res, v, n})
					}
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b grant) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return slices.Compact(out)
}

// renderedRules reads the rules of a rendered Role or ClusterRole.
func renderedRules(t *testing.T, o obj) []rbacv1.PolicyRule {
	t.Helper()
	b, err := yaml.Marshal(get(o, "rules"))
	if err != nil {
		t.Fatal(err)
	}
	var rules []rbacv1.PolicyRule
	if err := yaml.UnmarshalStrict(b, &rules); err != nil {
		t.Fatalf("%s %s rules: %v", o.kind(), o.name(), err)
	}
	return rules
}

// checkRBAC: each role grants exactly the calls its component's code lists
// (agent.RBACRules, aggregator.ClusterRBACRules, aggregator.LeaseRBACRules),
// the Lease verbs other than create limited to the one Lease.
func checkRBAC(t *testing.T, objs []obj) {
	leaseName := find(t, objs, "Deployment", "-aggregator").name()
	var lease []rbacv1.PolicyRule
	for _, r := range aggregator.LeaseRBACRules {
		if !slices.Contains(r.Verbs, "create") {
			r.ResourceNames = []string{leaseName}
		}
		lease = append(lease, r)
	}
	tests := []struct {
		kind, suffix string
		want         []rbacv1.PolicyRule
	}{
		{"ClusterRole", "-agent", agent.RBACRules},
		{"ClusterRole", "-aggregator", aggregator.ClusterRBACRules},
		{"Role", "-leader-election", lease},
	}
	for _, tc := range tests {
		o := find(t, objs, tc.kind, tc.suffix)
		if got, want := grants(renderedRules(t, o)), grants(tc.want); !slices.Equal(got, want) {
			t.Errorf("%s %s grants\n got %v\nwant %v (the calls the code makes)", tc.kind, o.name(), got, want)
		}
	}
	// Each binding gives its role to its component's ServiceAccount only.
	for _, b := range []struct{ kind, suffix, role, sa string }{
		{"ClusterRoleBinding", "-agent", "-agent", "-agent"},
		{"ClusterRoleBinding", "-aggregator", "-aggregator", "-aggregator"},
		{"RoleBinding", "-leader-election", "-leader-election", "-aggregator"},
	} {
		o := find(t, objs, b.kind, b.suffix)
		subj := list(get(o, "subjects"))
		if !strings.HasSuffix(str(get(o, "roleRef", "name")), b.role) || len(subj) != 1 ||
			str(get(subj[0], "kind")) != "ServiceAccount" || !strings.HasSuffix(str(get(subj[0], "name")), b.sa) ||
			str(get(subj[0], "namespace")) != namespace {
			t.Errorf("%s %s: roleRef %v subjects %v", b.kind, o.name(), get(o, "roleRef"), subj)
		}
	}
}

func checkTLS(t *testing.T, objs []obj, tc renderCase) {
	secrets := ofKind(objs, "Secret")
	if !tc.tlsGenerated {
		if len(secrets) != 0 {
			t.Fatalf("%d Secrets rendered with tls.existingSecret set, want 0", len(secrets))
		}
		return
	}
	s := find(t, objs, "Secret", "-stream-tls")
	if s.name() != tc.tlsSecret || str(s["type"]) != "kubernetes.io/tls" {
		t.Fatalf("TLS Secret %s of type %v, want %s of type kubernetes.io/tls", s.name(), s["type"], tc.tlsSecret)
	}
	decode := func(key string) []byte {
		b, err := base64.StdEncoding.DecodeString(str(get(s, "data", key)))
		if err != nil {
			t.Fatalf("Secret key %s: %v", key, err)
		}
		return b
	}
	parse := func(key string) *x509.Certificate {
		blk, _ := pem.Decode(decode(key))
		if blk == nil {
			t.Fatalf("Secret key %s holds no PEM", key)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatalf("Secret key %s: %v", key, err)
		}
		return c
	}
	ca, cert := parse("ca.crt"), parse("tls.crt")
	if blk, _ := pem.Decode(decode("tls.key")); blk == nil {
		t.Error("tls.key holds no PEM")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	// The agent dials the host of --aggregator and verifies with the CA.
	svc := find(t, objs, "Service", "-aggregator").name()
	for _, host := range []string{svc, svc + "." + namespace, svc + "." + namespace + ".svc", svc + "." + namespace + ".svc.cluster.local"} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("certificate does not verify for %s: %v", host, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "evil.example.com", Roots: pool}); err == nil {
		t.Error("certificate verifies for a foreign name")
	}
}

var credentialKey = regexp.MustCompile(`(?i)^(api-?key|apikey|password|passwd|secret|token|private-?key)$`)

// checkNoSecrets walks every rendered string (and the config file inside the
// ConfigMap): no credential-like key carries a value other than a file path,
// and the only Secret is the stream's TLS material.
func checkNoSecrets(t *testing.T, objs []obj, tc renderCase) {
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && credentialKey.MatchString(k) && s != "" && !strings.HasPrefix(s, "/") &&
					!strings.HasSuffix(path, ".items[]") && !strings.HasSuffix(path, ".valueFrom.secretKeyRef") {
					t.Errorf("%s.%s carries a value %q that looks like a credential", path, k, s)
				}
				walk(path+"."+k, e)
			}
		case obj:
			walk(path, map[string]any(x))
		case []any:
			for _, e := range x {
				walk(path+"[]", e)
			}
		}
	}
	for _, o := range objs {
		if o.kind() == "Secret" {
			var keys []string
			for k := range get(o, "data").(map[string]any) {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, []string{"ca.crt", "tls.crt", "tls.key"}) || str(o["type"]) != "kubernetes.io/tls" {
				t.Errorf("Secret %s has keys %v: the chart renders no Secret but the stream's TLS material", o.name(), keys)
			}
			continue
		}
		walk(o.kind()+"/"+o.name(), o)
	}
	walk("config", renderedConfig(t, objs))
	for _, o := range append(ofKind(objs, "Deployment"), ofKind(objs, "DaemonSet")...) {
		for _, e := range list(get(container(t, o), "env")) {
			if get(e, "valueFrom", "secretKeyRef") != nil {
				t.Errorf("%s exposes a Secret as env %v; credentials are files", o.kind(), get(e, "name"))
			}
		}
	}
}

func TestConfigChecksumRollsPods(t *testing.T) {
	checksum := func(cluster string) string {
		objs := mustTemplate(t, "-f", minimalValues, "--set", "cluster="+cluster)
		d := find(t, objs, "Deployment", "-aggregator")
		sum := str(get(d, "spec", "template", "metadata", "annotations", "checksum/config"))
		if len(sum) != 64 {
			t.Fatalf("checksum/config annotation %q is not a sha256", sum)
		}
		return sum
	}
	a1, a2, b := checksum("alpha"), checksum("alpha"), checksum("beta")
	if a1 != a2 {
		t.Errorf("same values, different checksums %s and %s: pods would roll on every upgrade", a1, a2)
	}
	if a1 == b {
		t.Error("config changed but the checksum did not: pods would keep the old config")
	}
}

// TestTLSChecksumMatchesRenderedSecret: both pod templates carry a hash of
// the stream certificate the same render puts in the Secret (generated once
// per render, not once per template), so a regenerated CA rolls agents and
// aggregators together; with a Secret from elsewhere, the values that name it.
func TestTLSChecksumMatchesRenderedSecret(t *testing.T) {
	sums := func(objs []obj) []string {
		var out []string
		for _, o := range []obj{find(t, objs, "Deployment", "-aggregator"), find(t, objs, "DaemonSet", "-agent")} {
			sum := str(get(o, "spec", "template", "metadata", "annotations", "checksum/tls"))
			if len(sum) != 64 {
				t.Fatalf("%s: checksum/tls annotation %q is not a sha256", o.kind(), sum)
			}
			out = append(out, sum)
		}
		return out
	}
	objs := mustTemplate(t, "-f", minimalValues)
	data := get(find(t, objs, "Secret", "-stream-tls"), "data")
	// The JSON the chart hashes: keys sorted, base64 values as in the Secret.
	want := fmt.Sprintf("%x", sha256.Sum256(fmt.Appendf(nil, `{"ca":%q,"crt":%q,"key":%q}`,
		str(get(data, "ca.crt")), str(get(data, "tls.crt")), str(get(data, "tls.key")))))
	for _, got := range sums(objs) {
		if got != want {
			t.Errorf("checksum/tls %s, want %s (sha256 of the rendered Secret's certificate)", got, want)
		}
	}
	if again := sums(mustTemplate(t, "-f", minimalValues)); again[0] == want {
		t.Error("two renders without a cluster produced the same certificate hash: is the CA still generated?")
	}
	a := sums(mustTemplate(t, "-f", minimalValues, "--set", "tls.existingSecret=certs-a"))
	b := sums(mustTemplate(t, "-f", minimalValues, "--set", "tls.existingSecret=certs-b"))
	if a[0] != a[1] || a[0] == b[0] {
		t.Errorf("existingSecret checksums %v then %v: want equal on both pods, changed with the Secret's name", a, b)
	}
}

// TestMonitorsNeedTheirAPI: a ServiceMonitor or PodMonitor is rendered only
// where the cluster serves the Prometheus Operator's API, so enabling one
// cannot fail the install on an unknown kind.
func TestMonitorsNeedTheirAPI(t *testing.T) {
	for _, kind := range []string{"ServiceMonitor", "PodMonitor"} {
		key := strings.ToLower(kind[:1]) + kind[1:]
		set := []string{"-f", minimalValues, "--set", "metrics." + key + ".enabled=true"}
		if n := len(ofKind(mustTemplate(t, set...), kind)); n != 0 {
			t.Errorf("%d %ss rendered for a cluster without monitoring.coreos.com/v1", n, kind)
		}
		objs := mustTemplate(t, append(set, "--api-versions", "monitoring.coreos.com/v1/"+kind)...)
		if n := len(ofKind(objs, kind)); n != 1 {
			t.Errorf("%d %ss rendered with monitoring.coreos.com/v1/%s served, want 1", n, kind, kind)
		}
	}
}

// TestDefaultImageTagIsTheReleaseTag: the Makefile names images after `git
// describe --tags` (release tags are vX.Y.Z), and the chart's default tag is
// its appVersion: they must have the same form.
func TestDefaultImageTagIsTheReleaseTag(t *testing.T) {
	if v := chartAppVersion(); !regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(v) {
		t.Fatalf("appVersion %q: want vX.Y.Z, the release tag `make image` names the image after", v)
	}
	mk, err := readFile(filepath.Join("..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), "git describe --tags") || !strings.Contains(string(mk), "IMAGE     ?= kubedag:$(VERSION)") {
		t.Fatal("Makefile no longer names the image kubedag:$(VERSION) from git describe --tags: recheck the chart's default tag")
	}
}

// toStrings converts a decoded map of strings.
func toStrings(v any) map[string]string {
	out := map[string]string{}
	m, _ := v.(map[string]any)
	for k, x := range m {
		out[k] = str(x)
	}
	return out
}
