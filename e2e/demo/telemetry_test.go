package demo

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
)

// TestDemoTelemetry: the demo honours the OTEL_* environment, serves
// /metrics, and says where to look.
func TestDemoTelemetry(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"otlp endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
			"traces: exported over OTLP to http://127.0.0.1:1"},
		{"nothing set", nil, "traces: not exported; set OTEL_EXPORTER_OTLP_ENDPOINT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			opts := Options{Out: &out, MetricsListen: "127.0.0.1:0", Getenv: func(k string) string { return tc.env[k] }}
			if err := opts.setDefaults(); err != nil {
				t.Fatal(err)
			}
			p := &printer{out: &out, now: time.Now}
			stop, err := startTelemetry(context.Background(), &opts, newLatencyReader(), p)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out.String())
			}
			// A kubedag metric recorded on the global provider is on /metrics.
			c, err := otel.Meter("kubedag/test").Int64Counter("kubedag_demo_test_events")
			if err != nil {
				t.Fatal(err)
			}
			c.Add(context.Background(), 2)
			m := regexp.MustCompile(`metrics: (http://\S+/metrics)`).FindStringSubmatch(out.String())
			if m == nil {
				t.Fatalf("output does not say where /metrics is:\n%s", out.String())
			}
			resp, err := http.Get(m[1])
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(b), "kubedag_demo_test_events_total 2") {
				t.Errorf("/metrics lacks the counter:\n%s", b)
			}
		})
	}
}
