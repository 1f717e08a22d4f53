package telemetry

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// newSpanExporter picks the span exporter the OTEL_* environment asks for,
// as the OpenTelemetry specification defines it: OTEL_TRACES_EXPORTER otlp
// (the default) or console, OTLP over OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
// else OTEL_EXPORTER_OTLP_PROTOCOL: grpc or http/protobuf (the default).
// The contrib autoexport package does the same but links the metric and
// log exporters of every protocol too, which the agent's binary (whose
// pages are part of its resident memory) would carry for nothing.
func newSpanExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	switch kind := getenv("OTEL_TRACES_EXPORTER"); kind {
	case "", "otlp":
	case "console":
		return stdouttrace.New()
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER %q: want otlp, console or none", kind)
	}
	key := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	proto := getenv(key)
	if proto == "" {
		key = "OTEL_EXPORTER_OTLP_PROTOCOL"
		proto = getenv(key)
	}
	switch proto {
	case "", "http/protobuf":
		return otlptracehttp.New(ctx)
	case "grpc":
		return otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("%s %q: want grpc or http/protobuf", key, proto)
	}
}
