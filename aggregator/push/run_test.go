package push

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator/store"
)

// TestRun drives the real loop (Run) in its goroutine on the real clock:
// it reconciles on start, wakes for store changes and its timer, opens
// the gate when Ready closes, stops on cancel, and starts over with a
// reconcile when run again. Every wait polls for a condition.
func TestRun(t *testing.T) {
	fw := newFakeFirewall(newFakeClock()) // the target's clock, for expiry
	fw.set(ipN(9), "k8s.stale")
	st := store.New(store.Options{})
	ready := make(chan struct{})
	p, err := New(fw, st, Options{Name: "fw", Owns: owns, Ready: ready, BatchInterval: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	poll := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; status %+v", what, p.Status())
			}
			time.Sleep(time.Millisecond)
		}
	}
	run := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		return func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		}
	}

	stop := run()
	poll("first reconcile", func() bool { return p.Status().Synced && p.Status().Running })
	if err := p.Run(context.Background()); err == nil {
		t.Fatal("a second concurrent Run did not fail")
	}
	st.Upsert("n1", ipN(1), claimT("u", "k8s.a"))
	poll("claim registered", func() bool { return slices.Equal(fw.tagsOf(ipN(1)), []string{"k8s.a"}) })
	if !slices.Equal(fw.tagsOf(ipN(9)), []string{"k8s.stale"}) {
		t.Fatal("unclaimed IP's tag unregistered before ready")
	}
	close(ready)
	poll("stale tag removed once ready", func() bool { return len(fw.tagsOf(ipN(9))) == 0 })
	stop()
	if s := p.Status(); s.Running {
		t.Fatalf("Running after Run returned: %+v", s)
	}
	first := p.Status().LastReconcile

	fw.set(ipN(8), "k8s.zombie")
	stop = run()
	defer stop()
	poll("reconcile on restart", func() bool { return p.Status().LastReconcile.After(first) && len(fw.tagsOf(ipN(8))) == 0 })
}
