package push

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/tags"
)

func ipN(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}) }

func claimT(owner string, ts ...string) store.Claim {
	return store.Claim{Owner: owner, Tags: tags.NewSet(ts...)}
}

type harness struct {
	t   *testing.T
	clk *fakeClock
	fw  *fakeFirewall
	st  *store.Store
	p   *Pusher
	d   *driver
}

// start drives a pusher synchronously (see driver) and runs it to its
// first reconcile.
func start(t *testing.T, fw *fakeFirewall, st *store.Store, opts Options) *harness {
	t.Helper()
	opts.Name = "fw1"
	opts.Owns = owns
	opts.Now = fw.clk.Now
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := New(fw, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	d := newDriver(t, p, fw.clk)
	t.Cleanup(d.Close)
	h := &harness{t: t, clk: fw.clk, fw: fw, st: st, p: p, d: d}
	h.eventually(100*time.Millisecond, "first reconcile", func() bool { return p.Status().Synced })
	return h
}

// eventually runs the loop and advances the fake clock by step until cond
// holds (at most 100000 steps).
func (h *harness) eventually(step time.Duration, what string, cond func() bool) {
	h.t.Helper()
	for i := 0; ; i++ {
		h.d.step()
		if cond() {
			return
		}
		if i >= 100_000 {
			h.t.Fatalf("gave up waiting for %s at %v; status %+v", what, h.clk.Now(), h.p.Status())
		}
		h.clk.Advance(step)
	}
}

// settle lets the pusher run with the clock advancing for n steps.
func (h *harness) settle(step time.Duration, n int) {
	h.t.Helper()
	for range n {
		h.clk.Advance(step)
		h.d.step()
	}
}

func (h *harness) has(ip netip.Addr, want ...string) bool {
	return slices.Equal(h.fw.tagsOf(ip), want)
}

// assertIdle checks that, with the clock standing still and nothing
// changing, the Run loop sleeps (no busy loop): two steps in a row (idle
// runs one) both wait.
func (h *harness) assertIdle() {
	h.t.Helper()
	if !h.d.idle() || !h.d.idle() {
		h.t.Fatalf("Run loop would spin while idle at %v", h.clk.Now())
	}
}

func entries(u Update) int { return len(u.Unregister) + len(u.Register) }

func TestBatching(t *testing.T) {
	fw := newFakeFirewall(newFakeClock())
	st := store.New(store.Options{})
	h := start(t, fw, st, Options{MaxBatch: 1000})
	for i := range 10 {
		st.Upsert("n1", ipN(i), claimT("u", "k8s.a"))
	}
	h.eventually(10*time.Millisecond, "all registered", func() bool { return h.has(ipN(9), "k8s.a") })
	calls := fw.callsCopy()
	if len(calls) != 1 || len(calls[0].Register) != 10 {
		t.Fatalf("want one call with 10 registers, got %d calls: %+v", len(calls), calls)
	}
	if to := calls[0].Register[0].Tags[0].Timeout; to != 0 {
		t.Fatalf("TagTTL 0 should send no timeout, got %v", to)
	}
	h.assertIdle()
}

func TestMaxBatchFlushesWithoutWaiting(t *testing.T) {
	fw := newFakeFirewall(newFakeClock())
	st := store.New(store.Options{})
	h := start(t, fw, st, Options{MaxBatch: 5, BatchInterval: time.Hour})
	for i := range 12 {
		st.Upsert("n1", ipN(i), claimT("u", "k8s.a"))
	}
	// The clock does not move: only the MaxBatch trigger can flush.
	h.eventually(0, "two full batches", func() bool { return len(fw.callsCopy()) >= 2 })
	for _, c := range fw.callsCopy() {
		if entries(c) > 5 {
			t.Fatalf("call with %d entries exceeds MaxBatch 5", entries(c))
		}
	}
	h.eventually(time.Minute, "rest flushed", func() bool { return h.has(ipN(11), "k8s.a") && h.has(ipN(0), "k8s.a") })
}

func TestCancelOutNeverReachesWire(t *testing.T) {
	fw := newFakeFirewall(newFakeClock())
	st := store.New(store.Options{})
	h := start(t, fw, st, Options{})
	// Within one window: add then withdraw ip1; relabel ip2 and back.
	st.Upsert("n1", ipN(2), claimT("u2", "k8s.b"))
	h.eventually(10*time.Millisecond, "ip2 registered", func() bool { return h.has(ipN(2), "k8s.b") })
	before := len(fw.callsCopy())
	st.Upsert("n1", ipN(1), claimT("u1", "k8s.a"))
	st.Delete("n1", ipN(1))
	st.Upsert("n1", ipN(2), claimT("u2", "k8s.c"))
	st.Upsert("n1", ipN(2), claimT("u2", "k8s.b"))
	st.Upsert("n1", ipN(3), claimT("u3", "k8s.marker"))
	h.eventually(10*time.Millisecond, "marker registered", func() bool { return h.has(ipN(3), "k8s.marker") })
	calls := fw.callsCopy()[before:]
	if len(calls) != 1 || len(calls[0].Unregister) != 0 || len(calls[0].Register) != 1 || calls[0].Register[0].IP != ipN(3) {
		t.Fatalf("want only the marker on the wire, got %+v", calls)
	}
}

func TestUnregisterBeforeRegister(t *testing.T) {
	fw := newFakeFirewall(newFakeClock())
	st := store.New(store.Options{})
	h := start(t, fw, st, Options{})
	st.Upsert("n1", ipN(1), claimT("old", "k8s.ns", "k8s.old"))
	h.eventually(10*time.Millisecond, "old", func() bool { return h.has(ipN(1), "k8s.ns", "k8s.old") })
	// IP reuse: the new pod's claim arrives before the old one's withdrawal.
	st.Upsert("n2", ipN(1), claimT("new", "k8s.ns", "k8s.new"))
	h.eventually(10*time.Millisecond, "intersection", func() bool { return h.has(ipN(1), "k8s.ns") })
	st.Delete("n1", ipN(1))
	h.eventually(10*time.Millisecond, "new", func() bool { return h.has(ipN(1), "k8s.new", "k8s.ns") })
	calls := fw.callsCopy()
	last := calls[len(calls)-1]
	if len(last.Register) != 1 || len(last.Unregister) != 0 {
		t.Fatalf("last call %+v", last)
	}
	mid := calls[len(calls)-2]
	if len(mid.Unregister) != 1 || len(mid.Register) != 0 || mid.Unregister[0].Tags[0].Name != "k8s.old" {
		t.Fatalf("conflict call should only unregister k8s.old: %+v", mid)
	}
}

func TestTTLRefresh(t *testing.T) {
	fw := newFakeFirewall(newFakeClock())
	st := store.New(store.Options{})
	h := start(t, fw, st, Options{TagTTL: time.Hour, ResyncInterval: 24 * time.Hour})
	st.Upsert("n1", ipN(1), claimT("u", "k8s.a"))
	h.eventually(10*time.Millisecond, "registered", func() bool { return h.has(ipN(1), "k8s.a") })
	if to := fw.callsCopy()[0].Register[0].Tags[0].Timeout; to != time.Hour {
		t.Fatalf("registered timeout %v, want 1h", to)
	}
	// Five hours in one-minute steps: the fake expires tags, so the tag
	// must be refreshed before each expiry, and not much more often.
	for range 300 {
		h.clk.Advance(time.Minute)
		h.d.step()
		if !h.has(ipN(1), "k8s.a") {
			t.Fatalf("tag expired at %v", h.clk.Now())
		}
	}
	n := len(fw.callsCopy())
	if n < 5 || n > 16 {
		t.Fatalf("%d register calls in 5h with a 1h TTL; want a refresh about every half TTL", n)
	}
}

func TestBackoff(t *testing.T) {
	fw := newFakeFirewall(newFakeClock())
	st := store.New(store.Options{})
	h := start(t, fw, st, Options{BackoffBase: time.Second, BackoffMax: 8 * time.Second})
	fw.with(func() { fw.failCall = 5 })
	st.Upsert("n1", ipN(1), claimT("u", "k8s.a"))
	h.eventually(100*time.Millisecond, "registered after outage", func() bool { return h.has(ipN(1), "k8s.a") })
	var at []time.Time
	fw.with(func() { at = slices.Clone(fw.attempts) })
	if len(at) != 6 {
		t.Fatalf("%d attempts, want 5 failures + 1 success", len(at))
	}
	for i := 1; i < len(at); i++ {
		min := min(time.Second<<(i-1), 8*time.Second) / 2
		if gap := at[i].Sub(at[i-1]); gap < min {
			t.Fatalf("attempt %d came %v after the previous, want >= %v", i, gap, min)
		}
	}
}

func TestCapacityFull(t *testing.T) {
	fw := newFakeFirewall(newFakeClock())
	fw.capacity = 2
	st := store.New(store.Options{})
	h := start(t, fw, st, Options{EntryRetryBase: time.Second, EntryRetryMax: time.Minute})
	for i := range 4 {
		st.Upsert("n1", ipN(i), claimT("u", "k8s.a"))
	}
	h.eventually(10*time.Millisecond, "capacity full reported", func() bool { return h.p.Status().CapacityFull })
	h.settle(time.Second, 120) // two minutes
	tries := 0
	for _, c := range fw.callsCopy() {
		for _, e := range c.Register {
			if e.IP == ipN(3) || e.IP == ipN(2) {
				tries++
			}
		}
	}
	if tries > 12 {
		t.Fatalf("refused IPs were tried %d times in 2 minutes: hammering", tries)
	}
	if h.p.Status().Retrying != 2 {
		t.Fatalf("Retrying = %d, want 2", h.p.Status().Retrying)
	}
	h.assertIdle()
	fw.with(func() { fw.capacity = 0 })
	h.eventually(time.Second, "all registered once capacity frees", func() bool {
		return h.has(ipN(2), "k8s.a") && h.has(ipN(3), "k8s.a") && !h.p.Status().CapacityFull
	})
}

func TestReconcile(t *testing.T) {
	fw := newFakeFirewall(newFakeClock())
	fw.set(ipN(1), "k8s.stale", "corp.keep") // unclaimed: stale owned tag, foreign tag
	fw.set(ipN(2), "k8s.a")                  // missing k8s.b
	fw.set(ipN(5), "corp.only")              // foreign only
	st := store.New(store.Options{})
	st.Upsert("n1", ipN(2), claimT("u2", "k8s.a", "k8s.b"))
	st.Upsert("n1", ipN(3), claimT("u3", "k8s.c"))
	h := start(t, fw, st, Options{ResyncInterval: time.Minute})
	h.eventually(10*time.Millisecond, "repaired", func() bool {
		return h.has(ipN(1), "corp.keep") && h.has(ipN(2), "k8s.a", "k8s.b") && h.has(ipN(3), "k8s.c")
	})
	if !h.has(ipN(5), "corp.only") {
		t.Fatal("foreign-only IP touched")
	}
	for _, c := range fw.callsCopy() {
		for _, e := range c.Register {
			if e.IP == ipN(2) && len(e.Tags) != 1 {
				t.Fatalf("ip2 re-registered %v; only the missing tag should be", e.Tags)
			}
		}
	}
	// Drift behind the pusher's back is repaired at the next resync.
	fw.with(func() { delete(fw.ips, ipN(3)) })
	fw.set(ipN(4), "k8s.zombie")
	h.eventually(5*time.Second, "drift repaired by resync", func() bool {
		return h.has(ipN(3), "k8s.c") && h.has(ipN(4))
	})
}

func TestReconcileRetriesListing(t *testing.T) {
	fw := newFakeFirewall(newFakeClock())
	fw.failList = 3
	fw.set(ipN(1), "k8s.stale")
	st := store.New(store.Options{})
	h := start(t, fw, st, Options{})
	h.eventually(time.Second, "stale removed", func() bool { return h.has(ipN(1)) })
}

func TestCanaryTriggersReconcile(t *testing.T) {
	fw := newFakeFirewall(newFakeClock())
	st := store.New(store.Options{})
	canary := netip.MustParseAddr("192.0.2.1")
	st.Upsert("n1", ipN(1), claimT("u", "k8s.a"))
	h := start(t, fw, st, Options{
		ResyncInterval: 24 * time.Hour,
		Canary:         Canary{IP: canary, Tag: "k8s.canary", TTL: 5 * time.Minute, Interval: 30 * time.Second},
	})
	h.eventually(10*time.Millisecond, "canary and ip1", func() bool { return h.has(canary, "k8s.canary") && h.has(ipN(1), "k8s.a") })
	h.assertIdle()
	fw.with(func() {
		if fw.ips[canary]["k8s.canary"].persistent {
			t.Error("canary registered persistent")
		}
	})
	// The target loses everything (reboot that dropped its state).
	fw.with(func() { clear(fw.ips) })
	h.eventually(time.Second, "restored after canary loss", func() bool { return h.has(ipN(1), "k8s.a") })
	if now, deadline := h.clk.Now(), time.Unix(1_700_000_000, 0).Add(5*time.Minute); now.After(deadline) {
		t.Fatalf("restore took until %v: not triggered by the canary", now)
	}
	if h.p.Status().Reboots != 1 {
		t.Fatalf("Reboots = %d, want 1", h.p.Status().Reboots)
	}
	// The canary survives periodic reconciles (never unregistered).
	h.settle(30*time.Second, 20)
	if !h.has(canary, "k8s.canary") {
		t.Fatal("canary lost")
	}
}

func TestReadyGate(t *testing.T) {
	for _, viaTimeout := range []bool{false, true} {
		name := "ready channel"
		if viaTimeout {
			name = "grace timeout"
		}
		t.Run(name, func(t *testing.T) {
			fw := newFakeFirewall(newFakeClock())
			fw.set(ipN(1), "k8s.live") // its agent has not sent its snapshot yet
			fw.set(ipN(2), "k8s.old")  // claimed with other tags: provably wrong
			st := store.New(store.Options{})
			st.Upsert("n1", ipN(2), claimT("u2", "k8s.new"))
			ready := make(chan struct{})
			opts := Options{Ready: ready}
			if viaTimeout {
				opts.ReadyTimeout = time.Minute
			}
			h := start(t, fw, st, opts)
			st.Upsert("n1", ipN(3), claimT("u3", "k8s.c"))
			h.eventually(10*time.Millisecond, "registers before ready", func() bool {
				return h.has(ipN(2), "k8s.new") && h.has(ipN(3), "k8s.c")
			})
			h.settle(time.Second, 30)
			if !h.has(ipN(1), "k8s.live") {
				t.Fatal("unclaimed IP's tag unregistered before ready")
			}
			for _, c := range fw.callsCopy() {
				for _, e := range c.Unregister {
					if e.IP == ipN(1) {
						t.Fatal("unregister of unclaimed IP sent before ready")
					}
				}
			}
			if !viaTimeout {
				close(ready)
			}
			h.eventually(time.Second, "stale removed after ready", func() bool { return h.has(ipN(1)) })
		})
	}
}

func TestFailedListingIsNotRetriedInAHotLoop(t *testing.T) {
	fw := newFakeFirewall(newFakeClock())
	fw.failList = 1 << 30
	st := store.New(store.Options{})
	p, err := New(fw, st, Options{Name: "fw", Owns: owns, Now: fw.clk.Now, BackoffBase: time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	d := newDriver(t, p, fw.clk)
	defer d.Close()
	d.step()
	if p.Status().ConsecutiveFailures == 0 {
		t.Fatal("failed listing not reported")
	}
	// The fake clock stands still: no retry is due.
	d.step()
	idle := d.idle()
	var lists int
	fw.with(func() { lists = fw.lists })
	if lists != 1 || d.nexts > 10 || !idle {
		t.Fatalf("listing tried %d times, loop ran %d times (idle %v), without time passing", lists, d.nexts, idle)
	}
}

func TestAppliedHookOncePerChange(t *testing.T) {
	fw := newFakeFirewall(newFakeClock())
	st := store.New(store.Options{})
	var applied []netip.Addr
	var mu sync.Mutex
	h := start(t, fw, st, Options{TagTTL: time.Hour, ResyncInterval: 24 * time.Hour, Hooks: Hooks{
		Applied: func(_ string, ip netip.Addr, _ time.Time, _ trace.SpanContext, _ []string) {
			mu.Lock()
			applied = append(applied, ip)
			mu.Unlock()
		},
	}})
	st.Upsert("n1", ipN(1), claimT("u", "k8s.a"))
	h.eventually(10*time.Millisecond, "registered", func() bool { return h.has(ipN(1), "k8s.a") })
	h.settle(time.Minute, 90) // refreshes happen, Applied must not repeat
	if n := len(fw.callsCopy()); n < 2 {
		t.Fatalf("no refresh call in 90 minutes (%d calls)", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(applied, []netip.Addr{ipN(1)}) {
		t.Fatalf("Applied calls = %v, want one for %v", applied, ipN(1))
	}
}

// TestHooksNameTheTags: Applied says which tags were added and Removed
// which were unregistered (a label change, then the pod gone), so spans
// can say what happened to the IP, deletions included.
func TestHooksNameTheTags(t *testing.T) {
	fw := newFakeFirewall(newFakeClock())
	st := store.New(store.Options{})
	type event struct {
		kind string
		ip   netip.Addr
		tags []string
	}
	var events []event
	var mu sync.Mutex
	record := func(kind string, ip netip.Addr, ts []string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, event{kind, ip, slices.Sorted(slices.Values(ts))})
	}
	h := start(t, fw, st, Options{ResyncInterval: 24 * time.Hour, Hooks: Hooks{
		Applied: func(_ string, ip netip.Addr, _ time.Time, _ trace.SpanContext, added []string) {
			record("applied", ip, added)
		},
		Removed: func(_ string, ip netip.Addr, removed []string, _ trace.SpanContext) { record("removed", ip, removed) },
	}})
	st.Upsert("n1", ipN(1), claimT("u", "k8s.a", "k8s.b"))
	h.eventually(10*time.Millisecond, "registered", func() bool { return h.has(ipN(1), "k8s.a", "k8s.b") })
	st.Upsert("n1", ipN(1), claimT("u", "k8s.a", "k8s.c")) // relabel
	h.eventually(10*time.Millisecond, "relabelled", func() bool { return h.has(ipN(1), "k8s.a", "k8s.c") })
	st.Delete("n1", ipN(1)) // the pod is gone
	h.eventually(10*time.Millisecond, "unregistered", func() bool { return len(h.fw.tagsOf(ipN(1))) == 0 })
	h.eventually(10*time.Millisecond, "removal reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) > 0 && events[len(events)-1].kind == "removed" && slices.Contains(events[len(events)-1].tags, "k8s.a")
	})
	mu.Lock()
	defer mu.Unlock()
	want := []event{
		{"applied", ipN(1), []string{"k8s.a", "k8s.b"}},
		{"applied", ipN(1), []string{"k8s.c"}},
		{"removed", ipN(1), []string{"k8s.b"}},
		{"removed", ipN(1), []string{"k8s.a", "k8s.c"}},
	}
	if fmt.Sprint(events) != fmt.Sprint(want) {
		t.Fatalf("hook events\n got %v\nwant %v", events, want)
	}
}

func TestMaxCallsPerSecondValidation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rate    float64
		batch   time.Duration
		wantErr string
	}{
		{"no limit", 0, 0, ""},
		{"interval within the default batch interval", 40, 0, ""},
		{"interval equal to the batch interval", 10, 100 * time.Millisecond, ""},
		{"interval beyond the batch interval", 5, 0, "longer than BatchInterval"},
		{"negative", -1, 0, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(newFakeFirewall(newFakeClock()), store.New(store.Options{}),
				Options{Owns: owns, MaxCallsPerSecond: tc.rate, BatchInterval: tc.batch})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
