package aggregator

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/kubedag/kubedag/aggregator/push"
	"github.com/kubedag/kubedag/aggregator/verify"
	"github.com/kubedag/kubedag/userid"
)

// instruments are the aggregator's OTel metrics and the tracer that closes
// tag-latency spans. Names are stable: dashboards use them.
type instruments struct {
	tracer      trace.Tracer
	latency     metric.Float64Histogram
	batch       metric.Int64Histogram
	calls       metric.Int64Counter
	apiErrors   metric.Int64Counter
	entryErrors metric.Int64Counter
	conflicts   metric.Int64Counter
	repairs     metric.Int64Counter
	reboots     metric.Int64Counter
	rejections  metric.Int64Counter
	problems    metric.Int64Counter
}

func newInstruments() (*instruments, error) {
	m := otel.Meter("kubedag/aggregator")
	var errs []error
	i := &instruments{tracer: otel.Tracer("kubedag/aggregator")}
	var err error
	i.latency, err = m.Float64Histogram("kubedag_tag_latency_seconds",
		metric.WithDescription("Time from an IP identity change first seen on its node to the target's acknowledgement."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
	errs = append(errs, err)
	i.batch, err = m.Int64Histogram("kubedag_batch_entries",
		metric.WithDescription("Entries (IPs) per User-ID API call."),
		metric.WithExplicitBucketBoundaries(1, 10, 50, 100, 250, 500, 750, 1000))
	errs = append(errs, err)
	i.calls, err = m.Int64Counter("kubedag_api_calls", metric.WithDescription("User-ID update calls per target and result."))
	errs = append(errs, err)
	i.apiErrors, err = m.Int64Counter("kubedag_api_errors", metric.WithDescription("Failed User-ID update calls per target and PAN-OS error code (transport when none)."))
	errs = append(errs, err)
	i.entryErrors, err = m.Int64Counter("kubedag_entry_errors", metric.WithDescription("Entries a target refused, per target and kind."))
	errs = append(errs, err)
	i.conflicts, err = m.Int64Counter("kubedag_conflicts", metric.WithDescription("IP-reuse conflicts started (several owners claim one IP)."))
	errs = append(errs, err)
	i.repairs, err = m.Int64Counter("kubedag_reconcile_repairs", metric.WithDescription("IPs whose tags on a target differed from what the aggregator believed, found by reconcile."))
	errs = append(errs, err)
	i.reboots, err = m.Int64Counter("kubedag_target_reboots", metric.WithDescription("Target reboots detected by the canary registration."))
	errs = append(errs, err)
	i.rejections, err = m.Int64Counter("kubedag_claim_rejections", metric.WithDescription("Agent claims refused or withdrawn because the API server does not confirm them, by reason (unknown-ip, other-node, labels, ...; malformed for claims that do not parse)."))
	errs = append(errs, err)
	i.problems, err = m.Int64Counter("kubedag_tag_problems", metric.WithDescription("Labels or objects not tagged as written (replaced characters, truncation, over the tag limit, denied), by reason."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("aggregator metrics: %w", err)
	}
	return i, nil
}

// zero records 0 on every counter series whose label set is known at start
// (per target, each result and kind), so rate() and absent() see them from
// the first scrape rather than from their first event.
func (i *instruments) zero(targets []string) {
	ctx := context.Background()
	i.conflicts.Add(ctx, 0)
	for _, r := range verify.Reasons {
		i.rejections.Add(ctx, 0, metricReason(string(r)))
	}
	i.rejections.Add(ctx, 0, metricReason(reasonMalformed))
	for _, name := range targets {
		t := attribute.String("target", name)
		for _, result := range []string{"ok", "error"} {
			i.calls.Add(ctx, 0, metric.WithAttributes(t, attribute.String("result", result)))
		}
		for _, kind := range []string{"refused", "capacity-full"} {
			i.entryErrors.Add(ctx, 0, metric.WithAttributes(t, attribute.String("kind", kind)))
		}
		i.repairs.Add(ctx, 0, metric.WithAttributes(t))
		i.reboots.Add(ctx, 0, metric.WithAttributes(t))
	}
}

// observe registers the gauges read from live state; the caller
// unregisters them when it stops.
// claimCounts is what a ClaimValidator that keeps counts (verify.Gate)
// reports to the gauges.
type claimCounts interface {
	Pending() int
	Orphans() int
}

func (i *instruments) observe(statuses func() []push.Status, activeNodes func() int, leading func() bool, claims claimCounts) (metric.Registration, error) {
	m := otel.Meter("kubedag/aggregator")
	mappings, err := m.Int64ObservableGauge("kubedag_mappings", metric.WithDescription("IPs carrying kubedag tags on each target, as the aggregator believes."))
	if err != nil {
		return nil, err
	}
	healthy, err := m.Int64ObservableGauge("kubedag_target_healthy", metric.WithDescription("1 when the target's last call succeeded."))
	if err != nil {
		return nil, err
	}
	streams, err := m.Int64ObservableGauge("kubedag_stream_connections", metric.WithDescription("Agent streams currently connected to this replica (every replica takes every agent's stream)."))
	if err != nil {
		return nil, err
	}
	leader, err := m.Int64ObservableGauge("kubedag_leader", metric.WithDescription("1 on the replica holding the Lease (the one pushing), 0 on a standby."))
	if err != nil {
		return nil, err
	}
	pending, err := m.Int64ObservableGauge("kubedag_claims_pending", metric.WithDescription("Agent claims waiting (at most 500 ms) for the API server's view to confirm them."))
	if err != nil {
		return nil, err
	}
	orphaned, err := m.Int64ObservableGauge("kubedag_claims_orphaned", metric.WithDescription("Claims kept from the API server's view alone because their node's agent has not streamed to this replica for longer than the node grace period (agent down or partitioned)."))
	if err != nil {
		return nil, err
	}
	instruments := []metric.Observable{mappings, healthy, streams, leader}
	if claims != nil {
		instruments = append(instruments, pending, orphaned)
	}
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, st := range statuses() {
			attrs := metric.WithAttributes(attribute.String("target", st.Target))
			o.ObserveInt64(mappings, int64(st.Registered), attrs)
			h := int64(0)
			if st.Healthy {
				h = 1
			}
			o.ObserveInt64(healthy, h, attrs)
		}
		o.ObserveInt64(streams, int64(activeNodes()))
		l := int64(0)
		if leading() {
			l = 1
		}
		o.ObserveInt64(leader, l)
		if claims != nil {
			o.ObserveInt64(pending, int64(claims.Pending()))
			o.ObserveInt64(orphaned, int64(claims.Orphans()))
		}
		return nil
	}, instruments...)
}

// hooks returns the pusher hooks that feed the metrics and end the
// tag-latency spans.
func (i *instruments) hooks() push.Hooks {
	ctx := context.Background()
	return push.Hooks{
		Call: func(target string, c push.CallInfo) {
			t := attribute.String("target", target)
			i.batch.Record(ctx, int64(c.Register+c.Unregister), metric.WithAttributes(t))
			result := "ok"
			if c.Err != nil {
				result = "error"
				code := "transport"
				var apiErr *userid.APIError
				if errors.As(c.Err, &apiErr) {
					code = strconv.Itoa(apiErr.Code)
				}
				i.apiErrors.Add(ctx, 1, metric.WithAttributes(t, attribute.String("code", code)))
			}
			i.calls.Add(ctx, 1, metric.WithAttributes(t, attribute.String("result", result)))
		},
		EntryError: func(target string, e push.EntryError) {
			kind := "refused"
			if e.CapacityFull {
				kind = "capacity-full"
			}
			i.entryErrors.Add(ctx, 1, metric.WithAttributes(attribute.String("target", target), attribute.String("kind", kind)))
		},
		Applied: func(target string, ip netip.Addr, firstSeen time.Time, span trace.SpanContext, added []string) {
			if firstSeen.IsZero() {
				return
			}
			now := time.Now()
			i.latency.Record(ctx, now.Sub(firstSeen).Seconds(), metric.WithAttributes(attribute.String("target", target)))
			if !span.IsValid() {
				return // not traced (Service claims, unsampled changes)
			}
			// The tag-latency span: from first sight on the node (the
			// agent's span is its parent) to this acknowledgement.
			_, s := i.tracer.Start(trace.ContextWithRemoteSpanContext(ctx, span), "kubedag.tag.applied", trace.WithTimestamp(firstSeen),
				trace.WithAttributes(append(tagAttrs(added), attribute.String("kubedag.target", target), attribute.String("kubedag.ip", ip.String()))...))
			s.End(trace.WithTimestamp(now))
		},
		// Unregistrations (pods deleted, labels changed) get a span too,
		// in the IP's trace while something still claims it.
		Removed: func(target string, ip netip.Addr, removed []string, span trace.SpanContext) {
			parent := ctx
			if span.IsValid() {
				parent = trace.ContextWithRemoteSpanContext(ctx, span)
			}
			_, s := i.tracer.Start(parent, "kubedag.tag.removed",
				trace.WithAttributes(append(tagAttrs(removed), attribute.String("kubedag.target", target), attribute.String("kubedag.ip", ip.String()))...))
			s.End()
		},
		Reconciled: func(target string, listed, drift int) {
			i.repairs.Add(ctx, int64(drift), metric.WithAttributes(attribute.String("target", target)))
		},
		Reboot: func(target string) {
			i.reboots.Add(ctx, 1, metric.WithAttributes(attribute.String("target", target)))
		},
	}
}

// maxSpanTags bounds the tag names on one span (an IP carries at most 32).
const maxSpanTags = 16

// tagAttrs names the tags a span is about, at most maxSpanTags of them,
// and how many there were.
func tagAttrs(ts []string) []attribute.KeyValue {
	names := ts[:min(len(ts), maxSpanTags)]
	return []attribute.KeyValue{attribute.StringSlice("kubedag.tags", names), attribute.Int("kubedag.tags.count", len(ts))}
}

// metricProblem labels a tag problem with the kind of object (Pod from the
// agent streams, Service from the Service watcher) and its reason.
func metricProblem(kind, reason string) metric.AddOption {
	return metric.WithAttributes(attribute.String("kind", kind), attribute.String("reason", reason))
}

// reasonMalformed labels claims that do not parse.
const reasonMalformed = "malformed"

// metricReason labels a refused agent claim with its reason.
func metricReason(reason string) metric.AddOption {
	return metric.WithAttributes(attribute.String("reason", reason))
}
