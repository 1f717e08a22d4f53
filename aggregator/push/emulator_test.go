package push

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/tags"
	"github.com/kubedag/kubedag/userid"
	"github.com/kubedag/kubedag/userid/panossim"
)

// emulator starts a PAN-OS emulator and a real client for it.
func emulator(t testing.TB, capacity int) (*panossim.Sim, *userid.Client) {
	t.Helper()
	sim := panossim.New(panossim.Config{Capacity: capacity})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	key, err := sim.APIKeyFor("admin")
	if err != nil {
		t.Fatal(err)
	}
	c, err := userid.New(userid.Config{
		URL: srv.URL, APIKey: key, Timeout: 2 * time.Second, Retries: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

// TestEmulatorOutageAndRebootMidChurn churns claims (with IP reuse) through
// the store while the emulator goes down and later reboots; afterwards the
// emulator must hold exactly the desired owned tags, foreign ones intact.
func TestEmulatorOutageAndRebootMidChurn(t *testing.T) {
	sim, client := emulator(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	foreignIP := netip.MustParseAddr("10.9.0.1")
	staleIP := netip.MustParseAddr("10.9.0.2")
	if _, err := client.Update(ctx, userid.Update{Register: []userid.Entry{
		{IP: foreignIP, Tags: []userid.Tag{{Name: "corp.keep"}}},
		{IP: staleIP, Tags: []userid.Tag{{Name: "k8s.stale"}, {Name: "corp.keep"}}},
	}}); err != nil {
		t.Fatal(err)
	}
	st := store.New(store.Options{})
	canary := netip.MustParseAddr("192.0.2.10")
	p, err := New(client, st, Options{
		Name: "sim", Owns: func(t string) bool { return strings.HasPrefix(t, "k8s.") },
		BatchInterval: 10 * time.Millisecond, MaxBatch: 50, TagTTL: time.Hour,
		ResyncInterval: time.Hour, BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		EntryRetryBase: 50 * time.Millisecond, EntryRetryMax: time.Second,
		Canary: Canary{IP: canary, Tag: "k8s.canary", TTL: 5 * time.Second, Interval: 100 * time.Millisecond},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	rng := rand.New(rand.NewPCG(1, 2))
	ips := make([]netip.Addr, 150)
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{10, 2, 0, byte(i)})
	}
	sources := []string{"node-a", "node-b", "node-c"}
	tagPool := []string{"k8s.ns_a", "k8s.ns_b", "k8s.app_x", "k8s.app_y", "k8s.app_z"}
	churn := func(n int) {
		for range n {
			ip := ips[rng.IntN(len(ips))]
			src := sources[rng.IntN(len(sources))]
			if rng.IntN(4) == 0 {
				st.Delete(src, ip)
				continue
			}
			var ts []string
			for _, tg := range tagPool {
				if rng.IntN(2) == 0 {
					ts = append(ts, tg)
				}
			}
			st.Upsert(src, ip, store.Claim{Owner: fmt.Sprintf("uid-%d", rng.IntN(1000)), Tags: tags.NewSet(ts...)})
			if rng.IntN(20) == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; status %+v", what, p.Status())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("canary", func() bool { _, ok := sim.Registered()[canary]; return ok })
	churn(500)
	sim.SetOutage(true)
	churn(500)
	waitFor("pusher notices outage", func() bool { return !p.Status().Healthy })
	sim.SetOutage(false)
	churn(500)
	// A reboot is detectable only after the pusher registered its canary:
	// a re-registration the outage refused leaves it unsure until the next
	// check (the emulator may still list the old one). So reboot again,
	// every few canary intervals, until one is detected.
	sim.Reboot()
	churn(500)
	lastReboot := time.Now()
	waitFor("canary-triggered reconcile", func() bool {
		if p.Status().Reboots >= 1 {
			return true
		}
		if time.Since(lastReboot) > 500*time.Millisecond {
			sim.Reboot()
			lastReboot = time.Now()
		}
		return false
	})

	converged := func() (bool, string) {
		reg := sim.Registered()
		for _, ip := range append(slices.Clone(ips), staleIP) {
			var owned []string
			for _, tg := range reg[ip] {
				if strings.HasPrefix(tg, "k8s.") {
					owned = append(owned, tg)
				}
			}
			want := st.Desired(ip).Tags.Slice()
			if !slices.Equal(owned, want) {
				return false, fmt.Sprintf("%v: emulator %v, desired %v", ip, owned, want)
			}
		}
		return true, ""
	}
	deadline := time.Now().Add(20 * time.Second)
	for ok, why := converged(); !ok; ok, why = converged() {
		if time.Now().After(deadline) {
			t.Fatalf("not converged: %s; status %+v", why, p.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	reg := sim.Registered()
	if !slices.Contains(reg[foreignIP], "corp.keep") || !slices.Contains(reg[staleIP], "corp.keep") {
		t.Fatalf("foreign tags touched: %v %v", reg[foreignIP], reg[staleIP])
	}
	if slices.Contains(reg[staleIP], "k8s.stale") {
		t.Fatal("stale owned tag survived")
	}
}

// BenchmarkEmulator pushes changes through store, pusher and the real
// client to the emulator over loopback HTTP: "batched" (the pusher) vs
// "naive" (one Update call per change).
func BenchmarkEmulator(b *testing.B) {
	const nIPs = 10_000
	sets := benchSets()
	for _, mode := range []string{"batched", "naive"} {
		b.Run(mode, func(b *testing.B) {
			sim, client := emulator(b, 200_000)
			st := store.New(store.Options{})
			d := benchDriver(b, client, st)
			defer d.Close()
			sim.ResetStats()
			b.ResetTimer()
			for i := range b.N {
				st.Upsert("n1", benchIP(i%nIPs), store.Claim{Owner: "uid", Tags: sets[(i+i/nIPs)%len(sets)]})
				if mode == "naive" {
					d.flush()
				} else if d.sub.Len() >= d.p.opts.MaxBatch {
					d.step()
				}
			}
			d.flush()
			b.StopTimer()
			if st := d.p.Status(); !st.Healthy {
				b.Fatalf("pusher failed: %v", st.LastError)
			}
			s := sim.Stats()
			entries := s.RegisterEntries + s.UnregisterEntries
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
			b.ReportMetric(float64(entries)/float64(max(s.UserIDCalls, 1)), "entries/call")
			b.ReportMetric(float64(s.UserIDCalls)/float64(b.N), "calls/change")
		})
	}
}
