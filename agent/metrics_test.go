package agent

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubedag/kubedag/agent/ipsource"
	"github.com/kubedag/kubedag/agent/kubeapi/typed"
)

// gauge reads one int64 gauge's value from reader (ok false if absent).
func gauge(t *testing.T, reader *sdkmetric.ManualReader, name string) (int64, bool) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if g, ok := m.Data.(metricdata.Gauge[int64]); ok && m.Name == name && len(g.DataPoints) == 1 {
				return g.DataPoints[0].Value, true
			}
		}
	}
	return 0, false
}

func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	c := fake.NewClientset(testPod("a", "10.0.0.1"), testPod("b", "10.0.0.2"), testPod("c", "10.0.0.2"))
	a := start(t, Config{Source: typed.New(c), NodeName: node, IPSource: ipsource.ModeAPI, MeterProvider: mp})
	waitFor(t, "claimed", claimed(a, "10.0.0.1"))
	waitFor(t, "claimed", claimed(a, "10.0.0.2"))
	if v, ok := gauge(t, reader, "kubedag_agent_claims"); !ok || v != 2 {
		t.Fatalf("kubedag_agent_claims = %d (present %v), want 2", v, ok)
	}
	if v, ok := gauge(t, reader, "kubedag_agent_ip_conflicts"); !ok || v != 1 {
		t.Fatalf("kubedag_agent_ip_conflicts = %d (present %v), want 1 (pods b and c share 10.0.0.2)", v, ok)
	}
	// No stream configured: no stream gauge.
	if _, ok := gauge(t, reader, "kubedag_agent_stream_connected"); ok {
		t.Fatal("stream gauge reported without a stream")
	}
}
