package stream_test

import "go.opentelemetry.io/otel/trace"

var noSpan trace.SpanContext
