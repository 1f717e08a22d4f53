package push

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kubedag/kubedag/aggregator/diff"
	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/tags"
)

// countingFirewall is a fast fake target: it only counts.
type countingFirewall struct {
	calls, entries int
}

func (f *countingFirewall) Update(_ context.Context, u Update) (UpdateResult, error) {
	f.calls++
	f.entries += len(u.Unregister) + len(u.Register)
	return UpdateResult{Messages: 1}, nil
}

func (f *countingFirewall) RegisteredIPs(context.Context, string) ([]RegisteredIP, error) {
	return nil, nil
}

func benchIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// benchSets are the tag sets of 50 workloads (interned by the store).
func benchSets() []tags.Set {
	out := make([]tags.Set, 50)
	for i := range out {
		out[i] = tags.NewSet(
			"k8s.cl_prod.ns_team"+fmt.Sprint(i%7),
			fmt.Sprintf("k8s.cl_prod.ns_team%d.rs_app%d", i%7, i),
			fmt.Sprintf("k8s.cl_prod.ns_team%d.svc_app%d", i%7, i),
			fmt.Sprintf("k8s.cl_prod.app.app%d", i),
		)
	}
	return out
}

// benchDriver drives a pusher for fw synchronously (see driver) on a fake
// clock, past its first reconcile.
func benchDriver(b *testing.B, fw Firewall, st *store.Store) *driver {
	clk := newFakeClock()
	opts := quietOptions()
	opts.Now = clk.Now
	// The fake clock moves only by what d.flush lets pass: a nanosecond
	// keeps resyncs and TTL refreshes out of the measurement.
	opts.BatchInterval = time.Nanosecond
	p, err := New(fw, st, opts)
	if err != nil {
		b.Fatal(err)
	}
	d := newDriver(b, p, clk)
	d.step()
	if !p.Status().Synced {
		b.Fatalf("first reconcile failed: %v", p.Status().LastError)
	}
	return d
}

func quietOptions() Options {
	return Options{
		Name: "bench", Owns: owns, TagTTL: time.Hour, MaxBatch: 1000,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// BenchmarkChanges measures mapping changes per second on one goroutine
// through store and pusher against a fast fake target, and mappings per
// call. "batched" is the pusher (flushing whenever MaxBatch IPs are dirty,
// i.e. at saturation); "naive" is the baseline of one Update call per
// change (diff computed the same way).
func BenchmarkChanges(b *testing.B) {
	const nIPs = 100_000
	sets := benchSets()
	ctx := context.Background()
	b.Run("batched", func(b *testing.B) {
		st := store.New(store.Options{})
		fw := &countingFirewall{}
		d := benchDriver(b, fw, st)
		defer d.Close()
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			st.Upsert("n1", benchIP(i%nIPs), store.Claim{Owner: "uid", Tags: sets[(i+i/nIPs)%len(sets)]})
			if d.sub.Len() >= d.p.opts.MaxBatch {
				d.step()
			}
		}
		d.flush()
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
		b.ReportMetric(float64(fw.entries)/float64(max(fw.calls, 1)), "entries/call")
		b.ReportMetric(float64(fw.calls)/float64(b.N), "calls/change")
	})
	b.Run("naive", func(b *testing.B) {
		st := store.New(store.Options{})
		fw := &countingFirewall{}
		actual := make(map[netip.Addr]tags.Set)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			ip := benchIP(i % nIPs)
			st.Upsert("n1", ip, store.Claim{Owner: "uid", Tags: sets[(i+i/nIPs)%len(sets)]})
			d := st.Desired(ip)
			op := diff.OpFor(diff.Item{IP: ip, Desired: d.Tags, Actual: actual[ip]}, owns)
			if op.Empty() {
				continue
			}
			u := Update{}
			if len(op.Unregister) > 0 {
				u.Unregister = []Entry{{IP: ip, Tags: tagList(op.Unregister, 0)}}
			}
			if len(op.Register) > 0 {
				u.Register = []Entry{{IP: ip, Tags: tagList(op.Register, time.Hour)}}
			}
			if _, err := fw.Update(ctx, u); err != nil {
				b.Fatal(err)
			}
			actual[ip] = d.Tags
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
		b.ReportMetric(float64(fw.entries)/float64(max(fw.calls, 1)), "entries/call")
		b.ReportMetric(float64(fw.calls)/float64(b.N), "calls/change")
	})
}

func tagList(names []string, ttl time.Duration) []Tag {
	out := make([]Tag, len(names))
	for i, n := range names {
		out[i] = Tag{Name: n, Timeout: ttl}
	}
	return out
}

// BenchmarkMemoryPerIP measures heap bytes per registered IP at 100k IPs:
// store (claims with a 36-byte owner UID, FirstSeen and a valid span
// context) plus one pusher's actual state, after a full push.
func BenchmarkMemoryPerIP(b *testing.B) {
	const nIPs = 100_000
	sets := benchSets()
	tid := trace.TraceID{1}
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		st := store.New(store.Options{})
		fw := &countingFirewall{}
		d := benchDriver(b, fw, st)
		p, e := d.p, d.p.eng
		now := time.Now()
		for i := range nIPs {
			sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{byte(i), byte(i >> 8), byte(i >> 16), 1}, TraceFlags: trace.FlagsSampled})
			st.Upsert(fmt.Sprintf("node-%d", i%100), benchIP(i), store.Claim{
				Owner:     fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i),
				Tags:      sets[i%len(sets)],
				FirstSeen: now,
				Span:      sc,
			})
			if d.sub.Len() >= p.opts.MaxBatch {
				d.step()
			}
		}
		d.flush()
		e.ipBuf, e.desBuf, e.itemBuf, e.callDes, e.callItems = nil, nil, nil, nil, nil
		runtime.GC()
		runtime.ReadMemStats(&after)
		if e.actual.Len() != nIPs {
			b.Fatalf("pushed %d IPs, want %d", e.actual.Len(), nIPs)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/nIPs, "bytes/IP")
		runtime.KeepAlive(st)
		runtime.KeepAlive(p)
		d.Close()
	}
}
