package agentv1

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kubedag/kubedag/tags"
)

// Hand-written conversions between the wire types and the Go types both
// sides use.

// AddrBytes returns ip as 4 (IPv4, also IPv4-mapped IPv6) or 16 bytes.
func AddrBytes(ip netip.Addr) []byte { return ip.Unmap().AsSlice() }

// ParseAddr parses 4 or 16 bytes into an address (IPv4-mapped IPv6 is
// unmapped).
func ParseAddr(b []byte) (netip.Addr, error) {
	ip, ok := netip.AddrFromSlice(b)
	if !ok {
		return netip.Addr{}, fmt.Errorf("ip of %d bytes, want 4 or 16", len(b))
	}
	return ip.Unmap(), nil
}

// IdentityToProto converts a tags.Identity.
func IdentityToProto(id tags.Identity) *Identity {
	return &Identity{
		Kind:            string(id.Kind),
		Namespace:       id.Namespace,
		Name:            id.Name,
		Uid:             id.UID,
		Labels:          id.Labels,
		OwnerKind:       id.OwnerKind,
		OwnerName:       id.OwnerName,
		Services:        id.Services,
		NamespaceLabels: id.NamespaceLabels,
		Network:         id.Network,
	}
}

// IdentityFromProto converts to a tags.Identity (empty maps and slices
// become nil).
func IdentityFromProto(p *Identity) tags.Identity {
	id := tags.Identity{
		Kind:      tags.Kind(p.GetKind()),
		Namespace: p.GetNamespace(),
		Name:      p.GetName(),
		UID:       p.GetUid(),
		OwnerKind: p.GetOwnerKind(),
		OwnerName: p.GetOwnerName(),
		Network:   p.GetNetwork(),
	}
	if len(p.GetLabels()) > 0 {
		id.Labels = p.GetLabels()
	}
	if len(p.GetServices()) > 0 {
		id.Services = p.GetServices()
	}
	if len(p.GetNamespaceLabels()) > 0 {
		id.NamespaceLabels = p.GetNamespaceLabels()
	}
	return id
}

var w3c = propagation.TraceContext{}

// TraceToProto encodes sc as W3C trace context; nil if sc is invalid.
func TraceToProto(sc trace.SpanContext) *TraceContext {
	if !sc.IsValid() {
		return nil
	}
	carrier := propagation.MapCarrier{}
	w3c.Inject(trace.ContextWithSpanContext(context.Background(), sc), carrier)
	return &TraceContext{Traceparent: carrier.Get("traceparent"), Tracestate: carrier.Get("tracestate")}
}

// TraceFromProto decodes a W3C trace context into a remote span context; the
// zero (invalid) SpanContext if p is nil or malformed.
func TraceFromProto(p *TraceContext) trace.SpanContext {
	if p.GetTraceparent() == "" {
		return trace.SpanContext{}
	}
	carrier := propagation.MapCarrier{"traceparent": p.GetTraceparent()}
	if p.GetTracestate() != "" {
		carrier["tracestate"] = p.GetTracestate()
	}
	return trace.SpanContextFromContext(w3c.Extract(context.Background(), carrier))
}

// ClaimToProto builds a wire claim.
func ClaimToProto(ip netip.Addr, id tags.Identity, firstSeen time.Time, sc trace.SpanContext) *Claim {
	c := &Claim{Ip: AddrBytes(ip), Identity: IdentityToProto(id), Trace: TraceToProto(sc)}
	if !firstSeen.IsZero() {
		c.FirstSeen = timestamppb.New(firstSeen)
	}
	return c
}

// ClaimFromProto parses a wire claim. The zero time stands for a missing
// first_seen.
func ClaimFromProto(p *Claim) (ip netip.Addr, id tags.Identity, firstSeen time.Time, sc trace.SpanContext, err error) {
	ip, err = ParseAddr(p.GetIp())
	if err != nil {
		return ip, id, firstSeen, sc, err
	}
	if p.GetFirstSeen() != nil {
		firstSeen = p.GetFirstSeen().AsTime()
	}
	return ip, IdentityFromProto(p.GetIdentity()), firstSeen, TraceFromProto(p.GetTrace()), nil
}
