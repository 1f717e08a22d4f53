package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	promexporter "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
)

// Options configures Setup.
type Options struct {
	// Service is the OTel service.name, e.g. "kubedag-agent".
	Service string
	// Version is the service.version attribute.
	Version string
	// SpanExporter overrides the environment-selected exporter (tests pass
	// an in-memory exporter here). Spans are exported synchronously when set.
	SpanExporter sdktrace.SpanExporter
	// Getenv reads the environment; default os.Getenv.
	Getenv func(string) string
	// Attributes describe this process (k8s.node.name, k8s.pod.name,
	// k8s.cluster.name, service.instance.id, ...); OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES override them and Service.
	Attributes []attribute.KeyValue
	// Readers are extra metric readers beside /metrics (the demo reads its
	// latency histogram through one).
	Readers []sdkmetric.Reader
}

// K8sAttributes returns the Kubernetes semantic-convention attributes of
// this process from the environment the chart sets (CLUSTER_NAME, and
// NODE_NAME, POD_NAME, POD_NAMESPACE, POD_UID from the downward API; unset
// ones are left out). The pod UID, else the pod name, else the host name,
// is service.instance.id.
func K8sAttributes(getenv func(string) string) []attribute.KeyValue {
	if getenv == nil {
		getenv = os.Getenv
	}
	var out []attribute.KeyValue
	for _, kv := range []struct {
		env string
		key attribute.Key
	}{
		{"CLUSTER_NAME", semconv.K8SClusterNameKey},
		{"NODE_NAME", semconv.K8SNodeNameKey},
		{"POD_NAME", semconv.K8SPodNameKey},
		{"POD_NAMESPACE", semconv.K8SNamespaceNameKey},
		{"POD_UID", semconv.K8SPodUIDKey},
	} {
		if v := getenv(kv.env); v != "" {
			out = append(out, kv.key.String(v))
		}
	}
	instance := getenv("POD_UID")
	if instance == "" {
		instance = getenv("POD_NAME")
	}
	if instance == "" {
		instance, _ = os.Hostname()
	}
	if instance != "" {
		out = append(out, semconv.ServiceInstanceID(instance))
	}
	return out
}

// Telemetry holds the process's tracer and meter providers.
type Telemetry struct {
	TracerProvider *sdktrace.TracerProvider
	MeterProvider  *sdkmetric.MeterProvider
	registry       *prometheus.Registry
}

// Setup builds the providers and installs them (and the W3C trace-context
// propagator) as the OTel globals. It starts no goroutines of its own beyond
// those of the chosen span exporter; call Shutdown to flush and stop them.
func Setup(ctx context.Context, opts Options) (*Telemetry, error) {
	if opts.Service == "" {
		return nil, errors.New("telemetry: Options.Service is required")
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	// Later options win: the standard OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES override what the process says of itself.
	attrs := append([]attribute.KeyValue{semconv.ServiceName(opts.Service), semconv.ServiceVersion(opts.Version)}, opts.Attributes...)
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attrs...),
		resource.WithDetectors(envDetector{getenv}),
	)
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}

	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	switch {
	case opts.SpanExporter != nil:
		tpOpts = append(tpOpts, sdktrace.WithSyncer(opts.SpanExporter))
	case exportRequested(getenv):
		exp, err := newSpanExporter(ctx, getenv)
		if err != nil {
			return nil, fmt.Errorf("telemetry: span exporter from OTEL_* environment: %w", err)
		}
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// No otel_scope_* labels: every series would carry the same empty ones.
	pexp, err := promexporter.New(promexporter.WithRegisterer(reg), promexporter.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	mpOpts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(pexp)}
	for _, r := range opts.Readers {
		mpOpts = append(mpOpts, sdkmetric.WithReader(r))
	}
	mp := sdkmetric.NewMeterProvider(mpOpts...)

	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return &Telemetry{TracerProvider: tp, MeterProvider: mp, registry: reg}, nil
}

// exportRequested reports whether the OTEL_* environment asks for trace
// export. Unlike the OTel default (OTLP to localhost), kubedag exports
// nothing unless told where to.
func exportRequested(getenv func(string) string) bool {
	if v := getenv("OTEL_TRACES_EXPORTER"); v != "" {
		return v != "none"
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// MetricsHandler serves the Prometheus exposition of all OTel metrics plus
// Go runtime and process metrics.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// Shutdown flushes pending spans and stops the providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	return errors.Join(t.TracerProvider.Shutdown(ctx), t.MeterProvider.Shutdown(ctx))
}

// envDetector is resource.WithFromEnv reading through Options.Getenv:
// OTEL_RESOURCE_ATTRIBUTES (key=value,... percent-encoded) and
// OTEL_SERVICE_NAME, which wins over a service.name in the former.
type envDetector struct{ getenv func(string) string }

func (d envDetector) Detect(context.Context) (*resource.Resource, error) {
	var attrs []attribute.KeyValue
	var errs []error
	for _, pair := range strings.Split(d.getenv("OTEL_RESOURCE_ATTRIBUTES"), ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			errs = append(errs, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %q is not key=value", pair))
			continue
		}
		val, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %s: %w", k, err))
			continue
		}
		attrs = append(attrs, attribute.String(k, val))
	}
	if name := strings.TrimSpace(d.getenv("OTEL_SERVICE_NAME")); name != "" {
		attrs = append(attrs, semconv.ServiceName(name))
	}
	return resource.NewSchemaless(attrs...), errors.Join(errs...)
}
