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
		s.waitSnapshots(ctx, start, time.Hour, nodes, nil, []<-chan struct{}{synced}, ready)
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
	go s.waitSnapshots(ctx, time.Now(), time.Hour, nodes, nil, []<-chan struct{}{synced}, ready)
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

// TestWaitSnapshotsStandbyTakeover: a replica taking the Lease waits for
// no node whose open stream's snapshot it already applied (before the
// term began); it still waits for a node whose stream opened and has not
// delivered its snapshot yet, or whose stream ended (claims possibly
// stale), or that streamed to it before but is not streaming now.
func TestWaitSnapshotsStandbyTakeover(t *testing.T) {
	d, err := tags.NewDeriver(tags.Config{Cluster: "c"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	type node struct {
		snapshotAt time.Time // zero: none
		streaming  bool
		since      time.Time
	}
	tests := []struct {
		name     string
		nodes    map[string]node
		wantOpen bool
	}{
		{name: "every node streaming with its snapshot applied", wantOpen: true, nodes: map[string]node{
			"a": {snapshotAt: t0.Add(2 * time.Second), streaming: true, since: t0.Add(time.Second)},
			"b": {snapshotAt: t0.Add(3 * time.Second), streaming: true, since: t0.Add(3 * time.Second)},
		}},
		{name: "reconnected, new snapshot not yet applied", nodes: map[string]node{
			"a": {snapshotAt: t0.Add(2 * time.Second), streaming: true, since: t0.Add(5 * time.Second)},
		}},
		{name: "stream ended (within grace)", nodes: map[string]node{
			"a": {snapshotAt: t0.Add(2 * time.Second), streaming: false},
		}},
		{name: "streaming, never a snapshot", nodes: map[string]node{
			"a": {streaming: true, since: t0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewNodeSink(store.New(store.Options{}), d, slog.New(slog.NewTextHandler(io.Discard, nil)), func(string) {})
			var names []string
			for n, st := range tt.nodes {
				names = append(names, n)
				if !st.snapshotAt.IsZero() {
					s.now = func() time.Time { return st.snapshotAt }
					s.ReplaceNode(n, nil)
				}
			}
			s.now = time.Now
			streaming := func(n string) (time.Time, bool) { st := tt.nodes[n]; return st.since, st.streaming }
			start := t0.Add(time.Hour) // the term began after every snapshot
			ready := make(chan struct{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go s.waitSnapshots(ctx, start, time.Hour, func(context.Context) ([]string, error) { return names, nil }, streaming, nil, ready)
			wait := 100 * time.Millisecond // absence: the first check runs at once
			if tt.wantOpen {
				wait = 10 * time.Second // on the first check, with no snapshot to wake it
			}
			select {
			case <-ready:
				if !tt.wantOpen {
					t.Fatal("gate open")
				}
			case <-time.After(wait):
				if tt.wantOpen {
					t.Fatal("gate not open on its first check")
				}
			}
		})
	}
}
