package push

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

const (
	tracerName    = "kubedag/aggregator/push"
	batchSpanName = "kubedag.push.batch"
	// MaxBatchLinks is the most span links a batch span carries; further
	// changes are counted in the kubedag.push.links_dropped attribute.
	MaxBatchLinks = 128
)

// Attribute keys of the batch span.
const (
	attrTarget       = attribute.Key("kubedag.push.target")
	attrRegister     = attribute.Key("kubedag.push.register")
	attrUnregister   = attribute.Key("kubedag.push.unregister")
	attrFailed       = attribute.Key("kubedag.push.failed")
	attrResult       = attribute.Key("kubedag.push.result")
	attrLinks        = attribute.Key("kubedag.push.links")
	attrLinksDropped = attribute.Key("kubedag.push.links_dropped")
)

// Values of kubedag.push.result.
const (
	resultOK      = "ok"      // the target applied every entry
	resultPartial = "partial" // the target refused some entries
	resultError   = "error"   // the call failed: unknown what applied
)

// startBatchSpan starts the span of the engine's in-flight Update call. Only when the span
// records does it look at the batch: attributes (counts and the target's
// name, never credentials) and one link per IP whose owned tags the call
// changes (TTL refreshes carry no change), to that IP's latest claim's
// span, at most MaxBatchLinks. Links are added after the start, so
// samplers do not see them; a no-op tracer costs one Start call.
func (p *Pusher) startBatchSpan(ctx context.Context, u Update) (context.Context, trace.Span) {
	ctx, span := p.tracer.Start(ctx, batchSpanName, trace.WithSpanKind(trace.SpanKindClient))
	if !span.IsRecording() {
		return ctx, span
	}
	ib := &p.eng.batch
	b, items, des := ib.b, ib.items, ib.des
	links, dropped := 0, 0
	for i, op := range b.Ops {
		it := &items[i]
		if len(op.Unregister) == 0 && it.Actual.Equal(it.Desired) {
			continue // a refresh
		}
		sc := des[i].Span
		if !sc.IsValid() {
			continue
		}
		if links >= MaxBatchLinks {
			dropped++
			continue
		}
		span.AddLink(trace.Link{SpanContext: sc})
		links++
	}
	span.SetAttributes(
		attrTarget.String(p.opts.Name),
		attrRegister.Int(len(u.Register)),
		attrUnregister.Int(len(u.Unregister)),
		attrLinks.Int(links),
		attrLinksDropped.Int(dropped),
	)
	return ctx, span
}

// endBatchSpan records the call's outcome and ends the span. The error
// text is the one the pusher logs; the userid client scrubs credentials
// from it.
func endBatchSpan(span trace.Span, res UpdateResult, err error) {
	if span.IsRecording() {
		result := resultOK
		switch {
		case err != nil:
			result = resultError
			span.SetStatus(codes.Error, err.Error())
		case len(res.Failed) > 0:
			result = resultPartial
		}
		span.SetAttributes(attrResult.String(result), attrFailed.Int(len(res.Failed)))
	}
	span.End()
}
