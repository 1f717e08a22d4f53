package charts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubedag/kubedag/aggregator/explain"
)

// TestExplainObjects: by default the aggregator serves explain on its
// port, its Service has the "explain" port the CLI's proxy path names, and
// a Role grants get on that Service's proxy (bound to explain.subjects);
// explain.enabled=false removes all of it.
func TestExplainObjects(t *testing.T) {
	objs := mustTemplate(t, "-f", minimalValues, "--set", "explain.subjects[0].kind=Group,explain.subjects[0].name=devs,explain.subjects[0].apiGroup=rbac.authorization.k8s.io")
	svc := find(t, objs, "Service", "-aggregator")
	var port map[string]any
	for _, p := range list(get(svc, "spec", "ports")) {
		if str(get(p, "name")) == explain.DefaultPort {
			port = p.(map[string]any)
		}
	}
	if port == nil || num(port["port"]) != 9444 || str(port["targetPort"]) != "explain" {
		t.Errorf("Service %s ports %v: want port %q 9444", svc.name(), get(svc, "spec", "ports"), explain.DefaultPort)
	}
	c := container(t, find(t, objs, "Deployment", "-aggregator"))
	if !slices.Contains(list(c["args"]), any("--explain-listen=:9444")) {
		t.Errorf("aggregator args %v lack --explain-listen=:9444", c["args"])
	}
	role := find(t, objs, "Role", "-aggregator-explain")
	rules := renderedRules(t, role)
	if len(rules) != 1 || !slices.Equal(rules[0].Resources, []string{"services/proxy"}) || !slices.Equal(rules[0].Verbs, []string{"get"}) ||
		!slices.Equal(rules[0].ResourceNames, []string{svc.name(), "https:" + svc.name() + ":" + explain.DefaultPort}) {
		t.Errorf("explain Role rules %+v", rules)
	}
	rb := find(t, objs, "RoleBinding", "-aggregator-explain")
	subj := list(get(rb, "subjects"))
	if str(get(rb, "roleRef", "name")) != role.name() || len(subj) != 1 || str(get(subj[0], "name")) != "devs" {
		t.Errorf("explain RoleBinding %v", rb)
	}

	off := mustTemplate(t, "-f", minimalValues, "--set", "explain.enabled=false")
	for _, o := range off {
		if o.kind() == "Role" && o.name() == role.name() || o.kind() == "RoleBinding" && o.name() == rb.name() {
			t.Errorf("%s %s rendered with explain off", o.kind(), o.name())
		}
	}
	if c := container(t, find(t, off, "Deployment", "-aggregator")); slices.Contains(list(c["args"]), any("--explain-listen=:9444")) {
		t.Error("--explain-listen passed with explain off")
	}
	// Without subjects, no RoleBinding: the operator binds the Role.
	for _, o := range mustTemplate(t, "-f", minimalValues) {
		if o.kind() == "RoleBinding" && o.name() == rb.name() {
			t.Error("explain RoleBinding rendered without explain.subjects")
		}
	}
}

// explainExplain asks the aggregator's explain endpoint (run with the
// chart's args) about Service namespace/name with token, over TLS checked
// against caFile for serverName, and fails unless it answers.
func explainExplain(t *testing.T, ctx context.Context, addr, serverName, caFile, namespace, name, token string) {
	t.Helper()
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: serverName}}}
	url := "https://" + addr + explain.Path(explain.Query{Kind: explain.KindService, Namespace: namespace, Name: name})
	var last string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		req.Header.Set(explain.TokenHeader, "Bearer "+token)
		res, err := client.Do(req)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		defer res.Body.Close()
		var r explain.Report
		if err := json.NewDecoder(res.Body).Decode(&r); err != nil || res.StatusCode != http.StatusOK {
			last = fmt.Sprintf("status %d, %v", res.StatusCode, err)
			return false, nil
		}
		return len(r.Objects) == 1 && r.Objects[0].Name == name, nil
	})
	if err != nil {
		t.Fatalf("explain endpoint with the chart's args and RBAC: %v (last: %s)", err, last)
	}
}
