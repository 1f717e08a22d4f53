package bench

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/kubedag/kubedag/aggregator"
	"github.com/kubedag/kubedag/aggregator/push"
	"github.com/kubedag/kubedag/aggregator/store"
)

// throughputFirewall names the target of the throughput phase in reports.
const throughputFirewall = "no-op in-process firewall: measures our side only"

// runThroughput registers ThroughputIPs new IPs through store and pusher
// with GOMAXPROCS 1, measures memory per IP once they are all pushed, then
// unregisters them all. It measures wall-clock time and the process's CPU
// time: with GOMAXPROCS 1 they agree on an idle machine, and on a loaded
// one the CPU time is what the work took on its core.
func runThroughput(ctx context.Context, cfg Config) (*ThroughputReport, *MemoryReport, error) {
	d, err := newDeriver()
	if err != nil {
		return nil, nil, err
	}
	sets, err := tagSets(d, 0)
	if err != nil {
		return nil, nil, err
	}
	n := cfg.ThroughputIPs
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)

	var before, after runtime.MemStats
	// Twice: the first GC only moves sync.Pool contents (of the phases
	// before) to their victim caches, so freeing them would otherwise
	// shrink the heap during the measurement.
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	core, _, err := newCore(cfg, d, newPodView(), push.DefaultTagTTL, push.Hooks{})
	if err != nil {
		return nil, nil, err
	}
	st := core.Store()
	fw := &nopFirewall{}
	p, err := core.Pusher("throughput", fw, nil)
	if err != nil {
		return nil, nil, err
	}
	runCtx, stop := context.WithCancel(ctx)
	g, runCtx := errgroup.WithContext(runCtx)
	g.Go(func() error { return p.Run(runCtx) })
	defer func() { stop(); _ = g.Wait() }()
	if err := waitFor(runCtx, time.Millisecond, time.Minute, "pusher start", func() bool { return p.Status().Synced }); err != nil {
		return nil, nil, err
	}
	wait := func(ch <-chan struct{}, what string) error {
		select {
		case <-ch:
			return nil
		case <-runCtx.Done():
			return fmt.Errorf("%s: %w", what, runCtx.Err())
		case <-time.After(5 * time.Minute):
			return fmt.Errorf("%s: timed out", what)
		}
	}

	// Registers: n new pods, each claim as a node stream delivers it (UID,
	// FirstSeen, a sampled span context), tags already derived.
	tid := trace.TraceID{0x6b, 0x75, 0x62, 0x65, 0x64, 0x61, 0x67}
	seen := time.Now()
	var nodes [100]string
	for i := range nodes {
		nodes[i] = aggregator.NodeSource(fmt.Sprint(i))
	}
	done := fw.expect(n, 0)
	t0, c0 := time.Now(), cpuTime()
	for i := range n {
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{1, byte(i >> 16), byte(i >> 8), byte(i)}, TraceFlags: trace.FlagsSampled})
		st.Upsert(nodes[i%len(nodes)], podIP(i), store.Claim{Tags: sets[i%apps], Owner: podUID(i, 0), FirstSeen: seen, Span: sc})
	}
	if err := wait(done, "registers"); err != nil {
		return nil, nil, err
	}
	regDur, regCPU := time.Since(t0), cpuTime()-c0
	if err := waitFor(runCtx, time.Millisecond, time.Minute, "pusher idle", func() bool {
		s := p.Status()
		return s.Pending == 0 && s.Registered == n
	}); err != nil {
		return nil, nil, err
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	mem := &MemoryReport{
		IPs:            n,
		HeapInuseDelta: int64(after.HeapInuse) - int64(before.HeapInuse),
		HeapAllocDelta: int64(after.HeapAlloc) - int64(before.HeapAlloc),
		TagSets:        st.Stats().InternedSets,
	}
	mem.BytesPerIP = float64(mem.HeapInuseDelta) / float64(n)
	mem.AllocBytesPerIP = float64(mem.HeapAllocDelta) / float64(n)

	// Unregisters: every pod gone.
	done = fw.expect(n, n)
	t1, c1 := time.Now(), cpuTime()
	for i := range n {
		st.Delete(nodes[i%len(nodes)], podIP(i))
	}
	if err := wait(done, "unregisters"); err != nil {
		return nil, nil, err
	}
	unregDur, unregCPU := time.Since(t1), cpuTime()-c1
	calls, entries := fw.counts()
	t := &ThroughputReport{
		Firewall: throughputFirewall, GOMAXPROCS: runtime.GOMAXPROCS(0), IPs: n, Changes: 2 * n,
		Seconds: (regDur + unregDur).Seconds(), Calls: calls, Entries: entries,
		RegisterPerSec: float64(n) / regDur.Seconds(), UnregisterPerSec: float64(n) / unregDur.Seconds(),
	}
	t.ChangesPerSec = float64(t.Changes) / t.Seconds
	if cpu := (regCPU + unregCPU).Seconds(); cpu > 0 {
		t.CPUSeconds = cpu
		t.ChangesPerCPUSec = float64(t.Changes) / cpu
	}
	if calls > 0 {
		t.MappingsPerCall = float64(entries) / float64(calls)
	}
	runtime.KeepAlive(st)
	return t, mem, nil
}

// cpuTime is the process's user and system CPU time so far (0 if the
// system does not tell).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
