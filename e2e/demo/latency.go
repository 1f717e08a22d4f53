package demo

import (
	"context"
	"fmt"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// latencyMetric is the aggregator's tag-latency histogram: first sight of
// an IP identity change on its node to the target's acknowledgement.
const latencyMetric = "kubedag_tag_latency_seconds"

// latencyReader reads the aggregator's tag-latency histogram from an OTel
// manual reader with delta temporality: each take returns what was
// recorded since the previous one.
type latencyReader struct {
	reader *sdkmetric.ManualReader
}

func newLatencyReader() *latencyReader {
	r := sdkmetric.NewManualReader(sdkmetric.WithTemporalitySelector(func(sdkmetric.InstrumentKind) metricdata.Temporality {
		return metricdata.DeltaTemporality
	}))
	return &latencyReader{reader: r}
}

// latency summarises tag latencies: how many times an IP got new tags (the
// aggregator records one per IP and acknowledged call) and how long each
// took.
type latency struct {
	Count    uint64
	Sum      time.Duration
	Min, Max time.Duration
}

func (l *latency) add(o latency) {
	if o.Count == 0 {
		return
	}
	if l.Count == 0 || o.Min < l.Min {
		l.Min = o.Min
	}
	if o.Max > l.Max {
		l.Max = o.Max
	}
	l.Count += o.Count
	l.Sum += o.Sum
}

// String renders the summary for a step line.
func (l latency) String() string {
	if l.Count == 0 {
		return "no new tags (unregisters only)"
	}
	mean := l.Sum / time.Duration(l.Count)
	changes := "changes"
	if l.Count == 1 {
		changes = "change"
	}
	return fmt.Sprintf("%d %s, mean %s, min %s, max %s", l.Count, changes, ms(mean), ms(l.Min), ms(l.Max))
}

// take returns the latencies recorded since the last take.
func (r *latencyReader) take(ctx context.Context) (latency, error) {
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(ctx, &rm); err != nil {
		return latency{}, fmt.Errorf("collect metrics: %w", err)
	}
	var out latency
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != latencyMetric {
				continue
			}
			h, ok := m.Data.(metricdata.Histogram[float64])
			if !ok {
				continue
			}
			for _, dp := range h.DataPoints {
				l := latency{Count: dp.Count, Sum: seconds(dp.Sum)}
				if v, ok := dp.Min.Value(); ok {
					l.Min = seconds(v)
				}
				if v, ok := dp.Max.Value(); ok {
					l.Max = seconds(v)
				}
				out.add(l)
			}
		}
	}
	return out, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// ms renders a duration in milliseconds, or seconds above 10 s.
func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return fmt.Sprintf("%dms", d.Round(time.Millisecond).Milliseconds())
}
