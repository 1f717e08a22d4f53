package push

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator/store"
)

// TestPusherHolding asks a running pusher (the real loop) what its target
// holds: nothing before Run, the registered tags once acknowledged, the
// refusals of a refused IP, and a query waiting on a call in flight is
// bounded by its context.
func TestPusherHolding(t *testing.T) {
	fw := newFakeFirewall(newFakeClock())
	refused := ipN(2)
	fw.refuse = func(ip netip.Addr) bool { return ip == refused }
	st := store.New(store.Options{})
	p, err := New(fw, st, Options{Name: "fw", Owns: owns, BatchInterval: time.Millisecond, TagTTL: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := p.Holding(ctx, ipN(1)); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Holding before Run: err = %v, want ErrNotRunning", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	poll := func(what string, cond func(Holding) bool, ip netip.Addr) Holding {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			h, err := p.Holding(ctx, ip)
			if err == nil && cond(h) {
				return h
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: last %+v, %v", what, h, err)
			}
			time.Sleep(time.Millisecond)
		}
	}
	st.Upsert("n1", ipN(1), claimT("u1", "k8s.a", "k8s.b"))
	st.Upsert("n1", refused, claimT("u2", "k8s.c"))
	h := poll("tags acknowledged", func(h Holding) bool { return h.Tags.Len() == 2 }, ipN(1))
	if !slices.Equal(h.Tags.Slice(), []string{"k8s.a", "k8s.b"}) || !h.Synced || h.LastReconcile.IsZero() ||
		h.Expires.IsZero() || h.Uncertain || h.Pending || h.RetryAttempts != 0 || !h.Want.Equal(h.Tags) || h.Pruning {
		t.Errorf("holding of a registered IP = %+v", h)
	}
	h = poll("refusal counted", func(h Holding) bool { return h.RetryAttempts > 0 }, refused)
	if h.Tags.Len() != 0 {
		t.Errorf("refused IP believed to hold %v", h.Tags)
	}

	// A call in flight holds the loop: the query waits, bounded by ctx.
	block, release := make(chan struct{}), make(chan struct{})
	fw.with(func() {
		fw.onCall = func(Update) {
			select {
			case block <- struct{}{}:
				<-release
			default:
			}
		}
	})
	st.Upsert("n1", ipN(3), claimT("u3", "k8s.d"))
	<-block
	qctx, qcancel := context.WithTimeout(ctx, 20*time.Millisecond)
	_, err = p.Holding(qctx, ipN(3))
	qcancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Holding during a call in flight: err = %v, want deadline exceeded", err)
	}
	close(release)
	poll("answered after the call", func(h Holding) bool { return h.Tags.Len() == 1 }, ipN(3))
}

// TestPusherHoldingPruned: with a tag filter, Want is the desired set
// less the pruned tags, and that is what the target comes to hold.
func TestPusherHoldingPruned(t *testing.T) {
	fw := newFakeFirewall(newFakeClock())
	st := store.New(store.Options{})
	p, err := New(fw, st, Options{Name: "fw", Owns: owns, BatchInterval: time.Millisecond,
		Filter: NewFilterVar(keepOnly{"k8s.a"}), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	st.Upsert("n1", ipN(1), claimT("u1", "k8s.a", "k8s.b"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		h, err := p.Holding(t.Context(), ipN(1))
		if err == nil && h.Tags.Len() == 1 {
			if !h.Pruning || !slices.Equal(h.Want.Slice(), []string{"k8s.a"}) || !slices.Equal(h.Tags.Slice(), []string{"k8s.a"}) {
				t.Errorf("pruned holding = %+v", h)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %+v %v", h, err)
		}
		time.Sleep(time.Millisecond)
	}
}
