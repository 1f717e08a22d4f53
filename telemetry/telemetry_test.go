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
