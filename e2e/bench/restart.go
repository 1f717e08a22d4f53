package bench

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kubedag/kubedag/aggregator"
	"github.com/kubedag/kubedag/aggregator/push"
	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/tags"
)

// runRestart puts RestartIPs live registrations (plus 1% stale ones nobody
// claims, minus 0.5% missing) on an emulator, fills a store with the
// desired state as the agents' snapshots would after a restart, and times
// a fresh pusher's reconcile to convergence.
func runRestart(ctx context.Context, cfg Config) (*RestartReport, error) {
	d, err := newDeriver()
	if err != nil {
		return nil, err
	}
	sets, err := tagSets(d, 0)
	if err != nil {
		return nil, err
	}
	n := cfg.RestartIPs
	rep := &RestartReport{IPs: n, Stale: max(1, n/100), Missing: max(1, n/200)}
	em, err := startEmulator(n + rep.Stale + 1000)
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	defer em.close()

	var (
		mu       sync.Mutex
		listedAt time.Time
	)
	core, _, err := newCore(cfg, d, newPodView(), push.DefaultTagTTL, push.Hooks{Reconciled: func(_ string, listed, _ int) {
		mu.Lock()
		defer mu.Unlock()
		if listedAt.IsZero() {
			listedAt, rep.Listed = time.Now(), listed
		}
	}})
	if err != nil {
		return nil, err
	}
	st := core.Store()
	seen := time.Now()
	onTarget := make(map[netip.Addr]tags.Set, n+rep.Stale)
	for i := range n {
		st.Upsert(aggregator.NodeSource(fmt.Sprint(i%100)), podIP(i), store.Claim{Tags: sets[i%apps], Owner: podUID(i, 0), FirstSeen: seen})
		if i >= rep.Missing {
			onTarget[podIP(i)] = sets[i%apps]
		}
	}
	for j := range rep.Stale {
		onTarget[podIP(n+j)] = sets[j%apps] // pods gone while kubedag was down
	}
	registeredAt := time.Now()
	if err := preRegister(ctx, em.client, onTarget, push.DefaultTagTTL, push.DefaultMaxBatch); err != nil {
		return nil, err
	}
	onTarget = nil
	// What the previous leader leaves besides the tags: its canary and TTL
	// floor marker (every tag registered at or after registeredAt with the
	// TTL), unless the run measures the pusher without it.
	canary := core.PushOptions("restart").Canary
	if !cfg.RestartNoFloor {
		rep.Floor = true
		res, err := em.client.Update(ctx, push.Update{Register: []push.Entry{
			{IP: canary.IP, NonPersistent: true, Tags: []push.Tag{{Name: canary.Tag, Timeout: push.DefaultCanaryTTL}}},
			{IP: canary.FloorIP, NonPersistent: true, Tags: []push.Tag{{Name: push.FloorMarker(canary.Tag, registeredAt.Add(push.DefaultTagTTL)), Timeout: push.DefaultCanaryTTL}}}}})
		if err == nil && len(res.Failed) > 0 {
			err = fmt.Errorf("%d refused", len(res.Failed))
		}
		if err != nil {
			return nil, fmt.Errorf("register the floor marker: %w", err)
		}
	}
	em.srv.Sim.SetLatency(cfg.FirewallLatency)
	em.srv.Sim.ResetStats()

	audit := &auditFirewall{Firewall: em.client, st: st, canary: canary.IP, floor: canary.FloorIP}
	p, err := core.Pusher("restart", audit, nil)
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(ctx)
	g, runCtx := errgroup.WithContext(runCtx)
	defer func() { stop(); _ = g.Wait() }()
	t0 := time.Now()
	g.Go(func() error { return p.Run(runCtx) })
	if err := waitFor(runCtx, 2*time.Millisecond, 5*time.Minute, "reconcile", func() bool {
		s := p.Status()
		return s.Synced && s.Pending == 0 && s.Retrying == 0
	}); err != nil {
		return nil, err
	}
	rep.ConvergeSeconds = time.Since(t0).Seconds()
	stop()
	if err := g.Wait(); err != nil {
		return nil, err
	}
	mu.Lock()
	rep.ListSeconds = listedAt.Sub(t0).Seconds()
	mu.Unlock()
	audit.mu.Lock()
	rep.Calls, rep.Registers, rep.Unregisters, rep.LiveUnregisters = audit.calls, audit.registers, audit.unregisters, audit.lives
	audit.mu.Unlock()
	rep.Refreshes = max(0, rep.Registers-rep.Missing)

	got := em.srv.Sim.Registered()
	delete(got, canary.IP) // the canary and floor marker are the pusher's own
	delete(got, canary.FloorIP)
	for ip, set := range desiredOf(st) {
		if !slices.Equal(got[ip], set.Slice()) {
			rep.Mismatches++
		}
		delete(got, ip)
	}
	rep.Mismatches += len(got) // stale IPs still registered
	rep.Converged = rep.Mismatches == 0
	return rep, nil
}
