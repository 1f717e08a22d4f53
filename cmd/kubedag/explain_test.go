package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/kubedag/kubedag/aggregator/explain"
)

func TestExplainQuery(t *testing.T) {
	tests := []struct {
		args    []string
		ns      string // -n
		want    explain.Query
		wantErr string
	}{
		{args: []string{"pod", "shop/web"}, want: explain.Query{Kind: "pod", Namespace: "shop", Name: "web"}},
		{args: []string{"po", "web"}, ns: "shop", want: explain.Query{Kind: "pod", Namespace: "shop", Name: "web"}},
		{args: []string{"pod", "web"}, want: explain.Query{Kind: "pod", Name: "web"}}, // namespace from the context
		{args: []string{"svc", "shop/db"}, want: explain.Query{Kind: "service", Namespace: "shop", Name: "db"}},
		{args: []string{"ip", "10.0.1.5"}, want: explain.Query{Kind: "ip", IP: netip.MustParseAddr("10.0.1.5")}},
		{args: []string{"ip", "::ffff:10.0.1.5"}, want: explain.Query{Kind: "ip", IP: netip.MustParseAddr("10.0.1.5")}},
		{args: []string{"ip", "nope"}, wantErr: "not an IP"},
		{args: []string{"node", "n1"}, wantErr: "want pod, service or ip"},
		{args: []string{"pod", "a/b/c"}, wantErr: "[NAMESPACE/]NAME"},
		{args: []string{"pod", "/web"}, wantErr: "[NAMESPACE/]NAME"},
		{args: []string{"pod", "shop/"}, wantErr: "[NAMESPACE/]NAME"},
		{args: []string{"pod", "shop/web"}, ns: "other", wantErr: "-n says"},
	}
	for _, tt := range tests {
		o := &explainOptions{output: "text", namespace: tt.ns}
		got, err := o.query(tt.args, tt.ns != "")
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: err = %v, want %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%v: %+v, %v; want %+v", tt.args, got, err, tt.want)
		}
	}
	if _, err := (&explainOptions{output: "xml"}).query([]string{"ip", "10.0.0.1"}, false); err == nil {
		t.Error("-o xml accepted")
	}
}

func TestPluginName(t *testing.T) {
	for argv0, want := range map[string]string{
		"kubedag": "kubedag", "/usr/local/bin/kubedag": "kubedag",
		"/usr/local/bin/kubectl-kubedag": "kubectl kubedag", "kubectl-kubedag": "kubectl kubedag",
	} {
		if got := pluginName(argv0); got != want {
			t.Errorf("pluginName(%q) = %q, want %q", argv0, got, want)
		}
	}
}

// TestExplainCommand runs `kubedag explain` against a stand-in API server:
// the request goes to the aggregator Service's proxy path with the
// kubeconfig's token in explain.TokenHeader, and each output format prints
// the report.
func TestExplainCommand(t *testing.T) {
	report := explain.Report{Query: "pod shop/web", At: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Leader: true,
		Objects: []explain.Object{{Kind: "Pod", Namespace: "shop", Name: "web", Preset: "k8s", MaxTags: 32,
			Tags: []explain.Tag{{Tag: "k8s.cl_prod.ns_shop", From: "namespace shop", Source: "namespace", Status: "kept"}}}}}
	var gotPath, gotToken string
	var requests, standbyAnswers int // the first standbyAnswers requests reach a replica that does not lead
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotToken = r.URL.Path, r.Header.Get(explain.TokenHeader)
		requests++
		rep := report
		rep.Leader = requests > standbyAnswers
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rep)
	}))
	defer srv.Close()
	kc := clientcmdapi.NewConfig()
	// clientcmd sends credentials to https servers only.
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: srv.URL, CertificateAuthorityData: caPEM}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "s3cret"}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u", Namespace: "shop"}
	kc.CurrentContext = "c"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := newRootCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetArgs(append([]string{"explain", "--kubeconfig", path}, args...))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("explain %v: %v", args, err)
		}
		return out.String()
	}

	text := run("pod", "web") // namespace from the context
	if want := "/api/v1/namespaces/kubedag/services/https:kubedag-aggregator:explain/proxy/explain/v1/pod/shop/web"; gotPath != want {
		t.Errorf("path = %q, want %q", gotPath, want)
	}
	if gotToken != "Bearer s3cret" {
		t.Errorf("%s = %q, want the kubeconfig's token", explain.TokenHeader, gotToken)
	}
	if !strings.Contains(text, "Pod shop/web") || !strings.Contains(text, "from namespace shop") {
		t.Errorf("text output:\n%s", text)
	}

	var fromJSON explain.Report
	if err := json.Unmarshal([]byte(run("pod", "shop/web", "-o", "json")), &fromJSON); err != nil || fromJSON.Query != report.Query || len(fromJSON.Objects[0].Tags) != 1 {
		t.Errorf("json output: %+v, %v", fromJSON, err)
	}
	var fromYAML explain.Report
	if err := yaml.Unmarshal([]byte(run("ip", "10.0.1.5", "-o", "yaml", "--kubedag-namespace", "sec", "--kubedag-port", "9443")), &fromYAML); err != nil || fromYAML.Query != report.Query {
		t.Errorf("yaml output: %+v, %v", fromYAML, err)
	}
	if want := "/api/v1/namespaces/sec/services/https:kubedag-aggregator:9443/proxy/explain/v1/ip/10.0.1.5"; gotPath != want {
		t.Errorf("path = %q, want %q", gotPath, want)
	}

	// Standby replicas answer too: the CLI asks again until the leader does.
	requests, standbyAnswers = 0, 2
	if out := run("pod", "shop/web", "-o", "json"); requests != 3 || !strings.Contains(out, `"leader": true`) {
		t.Errorf("after 2 standby answers: %d requests, output %s", requests, out)
	}
	// No replica leads (an election in progress): the last answer, after
	// every attempt (the server's report then carries a note saying so).
	requests, standbyAnswers = 0, 100
	if out := run("pod", "shop/web"); requests != explain.DefaultAttempts || !strings.Contains(out, "Pod shop/web") {
		t.Errorf("no leader: %d requests, output %s", requests, out)
	}
}
