package apiservertest

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubedag/kubedag/aggregator"
	"github.com/kubedag/kubedag/aggregator/verify"
	"github.com/kubedag/kubedag/internal/syncbuf"
)

// TestTelemetry follows a claim's trace from the agent to the firewall's
// acknowledgement, checks that no secret (API key, password, bearer token)
// appears in any span, log line or metric, and that /metrics on the health
// listener serves the aggregator's metrics for the target.
func TestTelemetry(t *testing.T) {
	e := newEnv(t, "otel", 1)
	node := e.nodes[0]
	// Labels PAN-OS cannot take as written (the '/'), on the pods and on
	// a Service: both sources report the replacement as a tag problem.
	pods := e.runPods("web", 2, node, map[string]string{"example.com/team": "red"})
	const target = "otel-fw"
	agg := e.startAggregator("agg", e.config(target, ""), nil)
	agent := e.startAgent(node, agg.addr)

	// The agent side: a tag-latency span per IP, started when the IP was
	// first seen (a moment well before the claim is sent).
	type sent struct {
		ip        netip.Addr
		firstSeen time.Time
		span      trace.SpanContext
	}
	var claims []sent
	if _, err := testCluster.Client.CoreV1().Services(e.ns).Create(t.Context(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"example.com/team": "blue"}},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i, p := range pods {
		c := podClaim(p, "web")
		c.FirstSeen = time.Now().Add(-time.Duration(300+i) * time.Millisecond)
		_, sp := otel.Tracer("fake-agent").Start(t.Context(), "kubedag.ip.live", trace.WithTimestamp(c.FirstSeen))
		c.Span = sp.SpanContext()
		sp.End()
		agent.state.Set(c)
		claims = append(claims, sent{c.IP, c.FirstSeen, c.Span})
	}
	ns := prefix + ".ns_" + e.ns
	want := withAPIServerService(t, map[netip.Addr][]string{aggregator.DefaultCanaryIP: {canaryTag}})
	for _, c := range claims {
		want[c.ip] = []string{ns, ns + ".app.web", ns + ".example.com_team.red", ns + ".svc_web"}
	}
	svc, err := testCluster.Client.CoreV1().Services(e.ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want[netip.MustParseAddr(svc.Spec.ClusterIP)] = []string{ns, ns + ".svc_web", ns + ".example.com_team.blue"}
	eventually(t, time.Minute, "emulator holds the expected kubedag tags", func() (bool, string) {
		got := owned(e.sim.Sim.Registered())
		return equalRegs(got, want), fmt.Sprint(got)
	})

	// The aggregator's "kubedag.tag.applied" span continues the agent's
	// trace: child of the agent's span, from FirstSeen to the target's ack.
	for _, c := range claims {
		var got tracetest.SpanStub
		eventually(t, 30*time.Second, "kubedag.tag.applied span for "+c.ip.String(), func() (bool, string) {
			for _, s := range spans.GetSpans() {
				if s.Name == "kubedag.tag.applied" && s.Parent.SpanID() == c.span.SpanID() {
					got = s
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d spans, none with parent %s", len(spans.GetSpans()), c.span.SpanID())
		})
		if got.SpanContext.TraceID() != c.span.TraceID() || !got.Parent.IsRemote() {
			t.Errorf("%s: span in trace %s (parent remote %v), want the agent's trace %s, remote parent", c.ip, got.SpanContext.TraceID(), got.Parent.IsRemote(), c.span.TraceID())
		}
		if !got.StartTime.Equal(c.firstSeen) {
			t.Errorf("%s: span starts %s, want FirstSeen %s", c.ip, got.StartTime, c.firstSeen)
		}
		if !got.EndTime.After(got.StartTime) {
			t.Errorf("%s: span ends %s, not after its start %s", c.ip, got.EndTime, got.StartTime)
		}
		attrs := attrMap(got.Attributes)
		if attrs["kubedag.target"] != target || attrs["kubedag.ip"] != c.ip.String() {
			t.Errorf("%s: span attributes %v, want kubedag.target=%s and kubedag.ip=%s", c.ip, attrs, target, c.ip)
		}
		// Which tags were applied: the pod's namespace tag among them.
		if n, _ := strconv.Atoi(attrs["kubedag.tags.count"]); !strings.Contains(attrs["kubedag.tags"], ns+".app.web") || n < 3 {
			t.Errorf("%s: span tags %q (count %s), want the tags applied, %s.app.web among them", c.ip, attrs["kubedag.tags"], attrs["kubedag.tags.count"], ns)
		}
	}

	// /readyz and /metrics on the health listener.
	eventually(t, 30*time.Second, "/readyz 200 (single replica, Services synced)", func() (bool, string) {
		code, body := get(t, agg.health, "/readyz")
		return code == http.StatusOK, fmt.Sprint(code, " ", body)
	})
	// kubedag_mappings counts the IPs the pusher keeps in step; the
	// reboot canary is not one of them.
	regs := len(want) - 1
	var metrics string
	eventually(t, 30*time.Second, "metrics for "+target, func() (bool, string) {
		_, metrics = get(t, agg.health, "/metrics")
		tl := `target="` + target + `"`
		lat, ok1 := metricValue(metrics, "kubedag_tag_latency_seconds_count", tl)
		maps, ok2 := metricValue(metrics, "kubedag_mappings", tl)
		batches, ok3 := metricValue(metrics, "kubedag_batch_entries_count", tl)
		calls, ok4 := metricValue(metrics, "kubedag_api_calls_total", tl, `result="ok"`)
		// One problem per pod claim (at least: snapshots may repeat them),
		// one per Service rebuild, both labelled alike.
		podProblems, _ := metricValue(metrics, "kubedag_tag_problems_total", `kind="Pod"`, `reason="invalid-chars"`)
		svcProblems, _ := metricValue(metrics, "kubedag_tag_problems_total", `kind="Service"`, `reason="invalid-chars"`)
		ok := ok1 && ok2 && ok3 && ok4 && lat >= float64(len(claims)) && int(maps) == regs && batches >= 1 && calls >= 1 &&
			podProblems >= float64(len(claims)) && svcProblems >= 1
		return ok, fmt.Sprintf("latency count %v, mappings %v (emulator %d), batches %v, calls %v, problems pod %v service %v",
			lat, maps, regs, batches, calls, podProblems, svcProblems)
	})

	t.Logf("metrics: %s", grepLines(metrics, "kubedag_"))
	// No secret anywhere: spans, logs, metrics.
	apiKey, err := e.sim.Sim.APIKeyFor(simUser) // the key the aggregator's keygen got
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"API key": apiKey, "password": e.password, "bearer token": agent.token}
	var texts []string
	for _, s := range spans.GetSpans() {
		texts = append(texts, spanText(s))
	}
	texts = append(texts, e.logs.String(), metrics)
	for what, secret := range secrets {
		for _, text := range texts {
			if strings.Contains(text, secret) {
				t.Errorf("the %s appears in %.200q", what, text)
			}
		}
	}
	if e.logs.String() == "" || len(spans.GetSpans()) == 0 {
		t.Fatal("nothing logged or traced: the secrets check checked nothing")
	}

	// A stopped aggregator reports no gauges any more (it would otherwise
	// report its last state forever, next to whatever runs after it).
	agg.kill(t)
	if st := agg.agg.Statuses(); len(st) != 0 {
		t.Errorf("stopped aggregator still reports target statuses %+v", st)
	}
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, name := range []string{"kubedag_mappings", "kubedag_target_healthy", "kubedag_stream_connections"} {
		if v, ok := metricValue(rec.Body.String(), name); ok {
			t.Errorf("after every aggregator of the process stopped, /metrics still has %s = %v", name, v)
		}
	}
}

func attrMap(kvs []attribute.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

// spanText is everything a span carries as text.
func spanText(s tracetest.SpanStub) string {
	var b strings.Builder
	b.WriteString(s.Name + " " + s.Status.Description + " ")
	write := func(kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			b.WriteString(string(kv.Key) + "=" + kv.Value.String() + " ")
		}
	}
	write(s.Attributes)
	for _, ev := range s.Events {
		b.WriteString(ev.Name + " ")
		write(ev.Attributes)
	}
	for _, l := range s.Links {
		write(l.Attributes)
	}
	if s.Resource != nil {
		write(s.Resource.Attributes())
	}
	return b.String()
}

func get(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// metricValue sums the samples of name (exact, before the labels) whose
// labels include every one of labels (written k="v").
func metricValue(exposition, name string, labels ...string) (float64, bool) {
	// Series without labels have no braces (no otel_scope_* labels either).
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(?:\{([^}]*)\})? (\S+)$`)
	var sum float64
	found := false
next:
	for _, m := range re.FindAllStringSubmatch(exposition, -1) {
		for _, l := range labels {
			if !strings.Contains(m[1], l) {
				continue next
			}
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestCountersFromZeroAndLogs: counters whose label sets are known at start
// are on /metrics at 0 before their first event (rate() and absent() need
// them), and no JSON log line repeats a key (target was logged twice).
func TestCountersFromZeroAndLogs(t *testing.T) {
	e := newEnv(t, "zero", 1)
	const target = "zero-fw"
	logs := &syncbuf.Buffer{}
	agg := e.startAggregator("agg", e.config(target, ""), func(o *aggregator.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	tl := `target="` + target + `"`
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"kubedag_target_reboots_total", []string{tl}},
		{"kubedag_reconcile_repairs_total", []string{tl}},
		{"kubedag_api_calls_total", []string{tl, `result="error"`}},
		{"kubedag_entry_errors_total", []string{tl, `kind="capacity-full"`}},
	} {
		eventually(t, 30*time.Second, c.name+" on /metrics", func() (bool, string) {
			_, metrics := get(t, agg.health, "/metrics")
			v, ok := metricValue(metrics, c.name, c.labels...)
			return ok && v == 0, grepLines(metrics, c.name)
		})
	}
	// The README's metric list names every kubedag metric served.
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, exposition := get(t, agg.health, "/metrics")
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (kubedag_\S+) (\S+)`).FindAllStringSubmatch(exposition, -1) {
		name := m[1]
		if m[2] == "counter" && !strings.HasSuffix(name, "_total") {
			name += "_total"
		}
		if !strings.Contains(string(readme), "`"+name) {
			t.Errorf("README's metric list lacks %s", name)
		}
	}
	// Every claim-rejection reason is a series from the start (process-wide:
	// other tests' refusals may have counted).
	_, exp := get(t, agg.health, "/metrics")
	for _, r := range append(slices.Clone(verify.Reasons), "malformed") {
		if _, ok := metricValue(exp, "kubedag_claim_rejections_total", `reason="`+string(r)+`"`); !ok {
			t.Errorf("kubedag_claim_rejections_total{reason=%q} missing", r)
		}
	}
	// Process-wide (other tests' conflicts may have counted): present.
	if _, metrics := get(t, agg.health, "/metrics"); !strings.Contains(metrics, "\nkubedag_conflicts_total ") {
		t.Errorf("kubedag_conflicts_total missing:\n%s", grepLines(metrics, "kubedag_conflicts"))
	}
	eventually(t, 30*time.Second, "pusher logs", func() (bool, string) {
		return strings.Contains(logs.String(), `"target":"`+target+`"`), logs.String()
	})
	agg.kill(t)
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if k := duplicateKey(line); k != "" {
			t.Errorf("log line repeats key %q: %s", k, line)
		}
	}
}

// duplicateKey returns a top-level key that appears twice in a JSON object.
func duplicateKey(line string) string {
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
