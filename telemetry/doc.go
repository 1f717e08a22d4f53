// Package telemetry sets up kubedag's OpenTelemetry traces and metrics and
// its health endpoints, the same way for the agent and the aggregator.
//
// Traces are exported over OTLP only when the standard OTEL_* environment
// asks for it (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
// or OTEL_TRACES_EXPORTER); with none set, spans are still created (so trace
// context crosses the agent stream) but nothing leaves the process. Metrics
// are served in Prometheus format on /metrics of the health server.
//
// Usage:
//
//	tel, err := telemetry.Setup(ctx, telemetry.Options{Service: "kubedag-aggregator"})
//	if err != nil { ... }
//	defer tel.Shutdown(context.Background())
//	srv := telemetry.NewHealthServer(addr, tel, map[string]telemetry.Check{"leader": isLeader})
//	go srv.Run(ctx)
package telemetry
