package telemetry

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestNewSpanExporter: the exporter and protocol the OTEL_* environment
// names, the traces-specific protocol winning, and a clear error for values
// the specification does not define or kubedag does not ship.
func TestNewSpanExporter(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		wantType string // the exporter's type; for OTLP, its client's
		wantErr  string
	}{
		{"default is OTLP over HTTP", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "*otlptracehttp.client", ""},
		{"console", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, "*stdouttrace.Exporter", ""},
		{"grpc", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "*otlptracegrpc.client", ""},
		{"http/json is not shipped", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "", "OTEL_EXPORTER_OTLP_PROTOCOL \"http/json\""},
		{"traces protocol wins", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "thrift"}, "", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL \"thrift\""},
		{"unknown exporter", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, "", "OTEL_TRACES_EXPORTER \"zipkin\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp, err := newSpanExporter(context.Background(), func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer exp.Shutdown(context.Background())
			got := fmt.Sprintf("%T", exp)
			if got == "*otlptrace.Exporter" { // which transport: the client's type
				got = reflect.ValueOf(exp).Elem().FieldByName("client").Elem().Type().String()
			}
			if got != tt.wantType {
				t.Fatalf("exporter %s, want %s", got, tt.wantType)
			}
		})
	}
}
