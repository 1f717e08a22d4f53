package agent

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/metric"
)

// registerMetrics registers the agent's gauges on meter, read from live
// state at collection time (nothing is counted on the hot path). The
// returned registration is unregistered when Run ends.
func (a *Agent) registerMetrics(meter metric.Meter) (metric.Registration, error) {
	claims, err := meter.Int64ObservableGauge("kubedag_agent_claims",
		metric.WithDescription("IPs this node's agent currently claims."))
	if err != nil {
		return nil, err
	}
	conflicts, err := meter.Int64ObservableGauge("kubedag_agent_ip_conflicts",
		metric.WithDescription("IPs reported by more than one local pod."))
	if err != nil {
		return nil, err
	}
	connected, err := meter.Int64ObservableGauge("kubedag_agent_stream_connected",
		metric.WithDescription("1 while the stream to at least one aggregator replica is up."))
	if err != nil {
		return nil, err
	}
	replicas, err := meter.Int64ObservableGauge("kubedag_agent_stream_replicas",
		metric.WithDescription("Aggregator replicas the agent keeps a stream to (one per address of the aggregator name)."))
	if err != nil {
		return nil, err
	}
	replicasUp, err := meter.Int64ObservableGauge("kubedag_agent_stream_replicas_connected",
		metric.WithDescription("Aggregator replicas whose stream is up (snapshot acknowledged)."))
	if err != nil {
		return nil, err
	}
	sessions, err := meter.Int64ObservableCounter("kubedag_agent_stream_sessions",
		metric.WithDescription("Streams opened to the aggregator (each sends a full snapshot)."))
	if err != nil {
		return nil, err
	}
	rejections, err := meter.Int64ObservableCounter("kubedag_agent_claim_rejections",
		metric.WithDescription("Claims the aggregator refused (IP not held by this node, ...)."))
	if err != nil {
		return nil, err
	}
	reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(claims, int64(a.State.Len()))
		o.ObserveInt64(conflicts, int64(a.Pods.Conflicts()))
		if a.Stream != nil {
			up := int64(0)
			if a.Stream.Connected() {
				up = 1
			}
			o.ObserveInt64(connected, up)
			conn, known := a.Stream.Replicas()
			o.ObserveInt64(replicas, int64(known))
			o.ObserveInt64(replicasUp, int64(conn))
			o.ObserveInt64(sessions, int64(a.Stream.Sessions()))
			o.ObserveInt64(rejections, int64(a.Stream.Rejections()))
		}
		return nil
	}, claims, conflicts, connected, replicas, replicasUp, sessions, rejections)
	if err != nil {
		return nil, fmt.Errorf("agent metrics: %w", err)
	}
	return reg, nil
}
