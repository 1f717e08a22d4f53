package push

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/tags"
)

// ctxFirewall records the span context each Update call's ctx carries.
type ctxFirewall struct {
	*fakeFirewall
	mu  sync.Mutex
	ctx []trace.SpanContext
}

func (f *ctxFirewall) Update(ctx context.Context, u Update) (UpdateResult, error) {
	f.mu.Lock()
	f.ctx = append(f.ctx, trace.SpanContextFromContext(ctx))
	f.mu.Unlock()
	return f.fakeFirewall.Update(ctx, u)
}

// spanCtx is the tag-latency span context of the i-th test change.
func spanCtx(i int) trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, byte(i >> 8), byte(i)},
		SpanID:     trace.SpanID{2, byte(i >> 8), byte(i)},
		TraceFlags: trace.FlagsSampled,
	})
}

// traceFixture is a pusher driven synchronously (driver) with a recording
// tracer; claims remembers which span each IP's claim carries.
type traceFixture struct {
	fw     *ctxFirewall
	st     *store.Store
	p      *Pusher
	claims map[trace.SpanID]netip.Addr
}

func (f *traceFixture) claim(ip netip.Addr, span int, ts ...string) {
	c := store.Claim{Owner: "uid-" + ip.String(), Tags: tags.NewSet(ts...)}
	if span >= 0 {
		c.Span = spanCtx(span)
		f.claims[c.Span.SpanID()] = ip
	}
	f.st.Upsert("n1", ip, c)
}

type wantSpan struct {
	register, unregister, links, dropped, failed int
	result                                       string
}

func TestBatchSpans(t *testing.T) {
	tests := []struct {
		name     string
		maxBatch int
		setup    func(f *traceFixture)
		want     []wantSpan
	}{
		{
			name: "registers link each traced claim",
			setup: func(f *traceFixture) {
				for i := range 3 {
					f.claim(ipN(i), i, "k8s.a")
				}
				f.claim(ipN(3), -1, "k8s.a") // untraced: no link
			},
			want: []wantSpan{{register: 4, links: 3, result: resultOK}},
		},
		{
			name: "a narrowed set links to the new claim",
			setup: func(f *traceFixture) {
				f.fw.set(ipN(0), "k8s.a", "k8s.b")
				f.p.eng.actual.Set(ipN(0), actualRec{tags: tags.NewSet("k8s.a", "k8s.b")})
				f.claim(ipN(0), 5, "k8s.a")
			},
			want: []wantSpan{{unregister: 1, links: 1, result: resultOK}},
		},
		{
			name: "a TTL refresh carries no change, so no link",
			setup: func(f *traceFixture) {
				f.fw.set(ipN(0), "k8s.a")
				f.p.eng.actual.Set(ipN(0), actualRec{tags: tags.NewSet("k8s.a"), expires: uncertainExpiry})
				f.claim(ipN(0), 0, "k8s.a")
			},
			want: []wantSpan{{register: 1, links: 0, result: resultOK}},
		},
		{
			name: "links are capped and the rest counted",
			setup: func(f *traceFixture) {
				for i := range MaxBatchLinks + 72 {
					f.claim(ipN(i), i, "k8s.a")
				}
			},
			want: []wantSpan{{register: MaxBatchLinks + 72, links: MaxBatchLinks, dropped: 72, result: resultOK}},
		},
		{
			name:     "one span per Update call",
			maxBatch: 2,
			setup: func(f *traceFixture) {
				for i := range 3 {
					f.claim(ipN(i), i, "k8s.a")
				}
			},
			want: []wantSpan{{register: 2, links: 2, result: resultOK}, {register: 1, links: 1, result: resultOK}},
		},
		{
			name: "refused entries make a partial result",
			setup: func(f *traceFixture) {
				f.fw.refuse = func(ip netip.Addr) bool { return ip == ipN(1) }
				for i := range 2 {
					f.claim(ipN(i), i, "k8s.a")
				}
			},
			want: []wantSpan{{register: 2, links: 2, failed: 1, result: resultPartial}},
		},
		{
			name: "a failed call is an error",
			setup: func(f *traceFixture) {
				f.fw.failCall = 1
				f.claim(ipN(0), 0, "k8s.a")
			},
			want: []wantSpan{{register: 1, links: 1, result: resultError}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			fw := &ctxFirewall{fakeFirewall: newFakeFirewall(newFakeClock())}
			st := store.New(store.Options{})
			opts := quietOptions()
			opts.Now, opts.TracerProvider = fw.clk.Now, tp
			if tt.maxBatch > 0 {
				opts.MaxBatch = tt.maxBatch
			}
			p, err := New(fw, st, opts)
			if err != nil {
				t.Fatal(err)
			}
			d := newDriver(t, p, fw.clk)
			defer d.Close()
			d.step() // the first reconcile, of an empty target
			f := &traceFixture{fw: fw, st: st, p: p, claims: map[trace.SpanID]netip.Addr{}}
			tt.setup(f)
			d.flush()

			spans := rec.Ended()
			if len(spans) != len(tt.want) {
				t.Fatalf("%d spans, want %d", len(spans), len(tt.want))
			}
			calls := fw.callsCopy() // successful calls only
			for i, s := range spans {
				checkBatchSpan(t, f, s, tt.want[i])
				if got := fw.ctx[i]; got.SpanID() != s.SpanContext().SpanID() {
					t.Errorf("span %d: Update ctx carries span %v, want the batch span %v", i, got.SpanID(), s.SpanContext().SpanID())
				}
				if tt.want[i].result == resultError {
					continue
				}
				// Every link is the span of a change this very call carried.
				carried := map[netip.Addr]bool{}
				for _, e := range append(calls[i].Register, calls[i].Unregister...) {
					carried[e.IP] = true
				}
				for _, l := range s.Links() {
					if ip, ok := f.claims[l.SpanContext.SpanID()]; !ok || !carried[ip] {
						t.Errorf("span %d: link to %v, which no IP of this call claimed", i, l.SpanContext.SpanID())
					}
				}
			}
		})
	}
}

func checkBatchSpan(t *testing.T, f *traceFixture, s sdktrace.ReadOnlySpan, w wantSpan) {
	t.Helper()
	if s.Name() != batchSpanName || s.SpanKind() != trace.SpanKindClient {
		t.Errorf("span %q kind %v, want %q client", s.Name(), s.SpanKind(), batchSpanName)
	}
	if s.InstrumentationScope().Name != tracerName {
		t.Errorf("tracer %q, want %q", s.InstrumentationScope().Name, tracerName)
	}
	attrs := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		attrs[kv.Key] = kv.Value
	}
	// Exactly these keys: nothing else (such as credentials) leaks in.
	wantKeys := []attribute.Key{attrTarget, attrRegister, attrUnregister, attrLinks, attrLinksDropped, attrResult, attrFailed}
	gotKeys := make([]attribute.Key, 0, len(attrs))
	for k := range attrs {
		gotKeys = append(gotKeys, k)
	}
	slices.Sort(wantKeys)
	slices.Sort(gotKeys)
	if !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("attribute keys %v, want %v", gotKeys, wantKeys)
	}
	ints := map[attribute.Key]int{attrRegister: w.register, attrUnregister: w.unregister, attrLinks: w.links, attrLinksDropped: w.dropped, attrFailed: w.failed}
	for k, want := range ints {
		if got := attrs[k].AsInt64(); got != int64(want) {
			t.Errorf("%s = %d, want %d", k, got, want)
		}
	}
	if got := attrs[attrTarget].AsString(); got != f.p.opts.Name {
		t.Errorf("target = %q, want %q", got, f.p.opts.Name)
	}
	if got := attrs[attrResult].AsString(); got != w.result {
		t.Errorf("result = %q, want %q", got, w.result)
	}
	if len(s.Links()) != w.links {
		t.Errorf("%d links, want %d", len(s.Links()), w.links)
	}
	seen := map[trace.SpanID]bool{}
	for _, l := range s.Links() {
		if seen[l.SpanContext.SpanID()] {
			t.Errorf("duplicate link %v", l.SpanContext.SpanID())
		}
		seen[l.SpanContext.SpanID()] = true
	}
	wantCode := codes.Unset
	if w.result == resultError {
		wantCode = codes.Error
		if !strings.Contains(s.Status().Description, errDown.Error()) {
			t.Errorf("status description %q, want the call's error", s.Status().Description)
		}
	}
	if s.Status().Code != wantCode {
		t.Errorf("status %v, want %v", s.Status().Code, wantCode)
	}
}

// TestBatchSpansGlobalProvider: without Options.TracerProvider the pusher
// uses the global provider, even one set after New.
func TestBatchSpansGlobalProvider(t *testing.T) {
	fw := newFakeFirewall(newFakeClock())
	st := store.New(store.Options{})
	opts := quietOptions()
	opts.Now = fw.clk.Now
	p, err := New(fw, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	defer otel.SetTracerProvider(noop.NewTracerProvider())
	d := newDriver(t, p, fw.clk)
	defer d.Close()
	d.step()
	st.Upsert("n1", ipN(0), store.Claim{Owner: "u", Tags: tags.NewSet("k8s.a"), Span: spanCtx(0)})
	d.flush()
	spans := rec.Ended()
	if len(spans) != 1 || spans[0].Name() != batchSpanName || len(spans[0].Links()) != 1 ||
		spans[0].Links()[0].SpanContext.SpanID() != spanCtx(0).SpanID() {
		t.Fatalf("global provider recorded %d spans (%v), want one batch span linked to the claim", len(spans), spans)
	}
}
