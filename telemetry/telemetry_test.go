package telemetry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestExportRequested(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing set", nil, false},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, true},
		{"exporter none wins", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, false},
		{"exporter console", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exportRequested(func(k string) string { return tt.env[k] }); got != tt.want {
				t.Fatalf("exportRequested = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSetupTracesAndMetrics(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tel, err := Setup(context.Background(), Options{Service: "kubedag-test", SpanExporter: exp, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())

	_, span := otel.Tracer("test").Start(context.Background(), "op")
	span.End()
	if got := exp.GetSpans(); len(got) != 1 || got[0].Name != "op" {
		t.Fatalf("spans = %v", got)
	}
	// W3C trace context must be the global propagator: the agent stream relies on it.
	carrier := propagation.MapCarrier{}
	ctx, span2 := otel.Tracer("test").Start(context.Background(), "op2")
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	span2.End()
	if carrier["traceparent"] == "" {
		t.Fatal("no traceparent injected")
	}

	c, err := otel.Meter("test").Int64Counter("kubedag_test_events")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(context.Background(), 3)
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if body := rec.Body.String(); !strings.Contains(body, "kubedag_test_events_total") {
		t.Fatalf("metric missing from /metrics:\n%s", body)
	}
}

func TestSetupRequiresService(t *testing.T) {
	if _, err := Setup(context.Background(), Options{}); err == nil {
		t.Fatal("Setup without Service succeeded")
	}
}

func TestHealthServer(t *testing.T) {
	var leaderErr error = errors.New("not leader")
	s := NewHealthServer("", nil, map[string]Check{"leader": func() error { return leaderErr }})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()

	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz = %d", code)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "leader: not leader") {
		t.Fatalf("/readyz not ready = %d %q", code, body)
	}
	leaderErr = nil
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("/readyz ready = %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
}

// TestResourceFromEnvAndKubernetes: the standard OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES win over what the process says of itself, and
// the Kubernetes identity (k8s semantic conventions) is on every span.
func TestResourceFromEnvAndKubernetes(t *testing.T) {
	env := map[string]string{
		"OTEL_SERVICE_NAME":        "kubedag-agent-canary",
		"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod%20eu",
		"CLUSTER_NAME":             "prod-eu1",
		"NODE_NAME":                "node-7",
		"POD_NAME":                 "kubedag-agent-x1",
		"POD_NAMESPACE":            "kubedag",
		"POD_UID":                  "0a1b",
	}
	getenv := func(k string) string { return env[k] }
	exp := tracetest.NewInMemoryExporter()
	tel, err := Setup(context.Background(), Options{Service: "kubedag-agent", Version: "v1", SpanExporter: exp,
		Getenv: getenv, Attributes: K8sAttributes(getenv)})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	_, span := tel.TracerProvider.Tracer("test").Start(context.Background(), "op")
	span.End()
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	got := map[string]string{}
	for _, kv := range spans[0].Resource.Attributes() {
		got[string(kv.Key)] = kv.Value.String()
	}
	for k, want := range map[string]string{
		"service.name": "kubedag-agent-canary", "service.version": "v1", "service.instance.id": "0a1b",
		"k8s.cluster.name": "prod-eu1", "k8s.node.name": "node-7", "k8s.pod.name": "kubedag-agent-x1",
		"k8s.namespace.name": "kubedag", "k8s.pod.uid": "0a1b", "deployment.environment": "prod eu",
	} {
		if got[k] != want {
			t.Errorf("resource %s = %q, want %q (all: %v)", k, got[k], want, got)
		}
	}
	if _, err := Setup(context.Background(), Options{Service: "s", Getenv: func(k string) string {
		return map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "novalue"}[k]
	}}); err == nil {
		t.Error("a malformed OTEL_RESOURCE_ATTRIBUTES was accepted")
	}
}

// TestMetricsWithoutScopeLabels: no series carries the otel_scope_* labels.
func TestMetricsWithoutScopeLabels(t *testing.T) {
	tel, err := Setup(context.Background(), Options{Service: "kubedag-test", Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	c, err := tel.MeterProvider.Meter("kubedag/test").Int64Counter("kubedag_scope_test")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(context.Background(), 1)
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	if !strings.Contains(body, "kubedag_scope_test_total") {
		t.Fatalf("counter missing:\n%s", body)
	}
	if strings.Contains(body, "otel_scope_") {
		t.Errorf("/metrics carries otel_scope_* labels:\n%s", body)
	}
}
