package explain

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kubedag/kubedag/aggregator/push"
)

func TestRecorder(t *testing.T) {
	now := t0
	r := NewRecorder(2, func() time.Time { return now })
	var called []string
	h := r.Hooks(push.Hooks{
		Applied: func(string, netip.Addr, time.Time, trace.SpanContext, []string) { called = append(called, "applied") },
		Removed: func(string, netip.Addr, []string, trace.SpanContext) { called = append(called, "removed") },
	})
	a, b, c := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")

	h.Applied("fw1", a, t0.Add(-30*time.Millisecond), trace.SpanContext{}, []string{"x"})
	now = t0.Add(time.Second)
	h.Removed("fw1", a, []string{"y"}, trace.SpanContext{})
	h.EntryError("fw2", push.EntryError{IP: a, Message: "capacity"})
	if !slices.Equal(called, []string{"applied", "removed"}) {
		t.Errorf("the next hooks ran %v", called)
	}
	got, ok := r.Get("fw1", a)
	if !ok || !got.At.Equal(t0.Add(time.Second)) || got.Latency != 30*time.Millisecond ||
		!slices.Equal(got.Added, []string{"x"}) || !slices.Equal(got.Removed, []string{"y"}) {
		t.Errorf("fw1 ack = %+v, %v", got, ok)
	}
	if got, ok := r.Get("fw2", a); !ok || got.RefusedMsg != "capacity" || !got.At.IsZero() {
		t.Errorf("fw2 ack = %+v, %v", got, ok)
	}
	// No start time: latency unknown.
	r.Applied("fw1", b, time.Time{}, []string{"z"})
	if got, _ := r.Get("fw1", b); got.Latency != 0 {
		t.Errorf("latency without a start = %v", got.Latency)
	}
	// Bounded: a third IP evicts the least recently changed.
	r.Applied("fw1", c, time.Time{}, nil)
	if _, ok := r.Get("fw1", a); ok {
		t.Error("recorder holds more IPs than its size")
	}
	if _, ok := r.Get("fw1", c); !ok {
		t.Error("newest IP not recorded")
	}
}
