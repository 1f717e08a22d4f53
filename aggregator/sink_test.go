package aggregator

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/aggregator/stream"
	"github.com/kubedag/kubedag/tags"
)

// TestWaitSnapshots: the snapshot gate opens only once the sources have
// synced and every listed node sent a snapshot since start, woken by the
// snapshots themselves (the re-check tick is an hour, so a pass proves no
// polling was needed).
func TestWaitSnapshots(t *testing.T) {
	d, err := tags.NewDeriver(tags.Config{Cluster: "c"})
	if err != nil {
		t.Fatal(err)
	}
	s := NewNodeSink(store.New(store.Options{}), d, slog.New(slog.NewTextHandler(io.Discard, nil)), func(string) {})
	start := time.Now()
	s.ReplaceNode("stale", nil) // before start: does not count
	s.snapshots["stale"] = start.Add(-time.Second)
	nodes := func(context.Context) ([]string, error) { return []string{"a", "b", "stale"}, nil }
	synced := make(chan struct{})
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.waitSnapshots(ctx, start, time.Hour, nodes, []<-chan struct{}{synced}, ready)
	}()
	notYet := func(why string) {
		t.Helper()
		select {
		case <-ready:
			t.Fatalf("gate open %s", why)
		case <-time.After(50 * time.Millisecond): // absence: no event to wait for
		}
	}
	s.ReplaceNode("a", nil)
	s.ReplaceNode("b", []stream.Claim{})
	s.ReplaceNode("stale", nil)
	notYet("before the sources synced")
	close(synced)
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("gate not open after every node's snapshot and sync")
	}
	<-done
}

// TestWaitSnapshotsWokenBySnapshot: with the sources synced, the last
// missing snapshot opens the gate without waiting for a re-check.
func TestWaitSnapshotsWokenBySnapshot(t *testing.T) {
	d, err := tags.NewDeriver(tags.Config{Cluster: "c"})
	if err != nil {
		t.Fatal(err)
	}
	s := NewNodeSink(store.New(store.Options{}), d, slog.New(slog.NewTextHandler(io.Discard, nil)), func(string) {})
	nodes := func(context.Context) ([]string, error) { return []string{"a", "b"}, nil }
	synced := make(chan struct{})
	close(synced)
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.waitSnapshots(ctx, time.Now(), time.Hour, nodes, []<-chan struct{}{synced}, ready)
	s.ReplaceNode("a", nil)
	select {
	case <-ready:
		t.Fatal("gate open with node b missing")
	case <-time.After(50 * time.Millisecond): // absence
	}
	s.ReplaceNode("b", nil)
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("the last snapshot did not open the gate")
	}
}
