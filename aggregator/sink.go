package aggregator

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/aggregator/stream"
	"github.com/kubedag/kubedag/tags"
)

// NodeSource is the store source name of a node's agent stream.
func NodeSource(node string) string { return "node/" + node }

// NodeSink adapts the stream server's per-node claims (after the claim
// gate) to the store, deriving tags centrally so the tag policy lives in
// one place. It also records when each node last delivered a snapshot, for
// the failover snapshot gate. `kubedag bench` feeds its streams through it
// too, so the benchmark measures this path.
type NodeSink struct {
	store    *store.Store
	deriver  *tags.Deriver
	logger   *slog.Logger
	problems func(reason string)
	now      func() time.Time

	mu        sync.Mutex
	snapshots map[string]time.Time // node -> last snapshot applied
	snapshot  chan struct{}        // poked (buffered, one) when a snapshot is applied
}

// NewNodeSink returns a NodeSink into st; problems is called with the
// reason of every identity that could not be fully tagged.
func NewNodeSink(st *store.Store, d *tags.Deriver, logger *slog.Logger, problems func(reason string)) *NodeSink {
	return &NodeSink{store: st, deriver: d, logger: logger, problems: problems, now: time.Now, snapshots: map[string]time.Time{}, snapshot: make(chan struct{}, 1)}
}

func (s *NodeSink) claim(node string, c stream.Claim) store.Claim {
	set, problems := s.deriver.Tags(c.Identity)
	for _, p := range problems {
		s.problems(string(p.Reason))
		s.logger.Debug("identity not fully tagged", "node", node, "ip", c.IP, "problem", p.String())
	}
	return store.Claim{Tags: set, Owner: c.Identity.UID, FirstSeen: c.FirstSeen, Span: c.Span}
}

func (s *NodeSink) ReplaceNode(node string, claims []stream.Claim) {
	m := make(map[netip.Addr]store.Claim, len(claims))
	for _, c := range claims {
		m[c.IP] = s.claim(node, c)
	}
	s.store.Replace(NodeSource(node), m)
	s.mu.Lock()
	s.snapshots[node] = s.now()
	s.mu.Unlock()
	select {
	case s.snapshot <- struct{}{}:
	default:
	}
}

func (s *NodeSink) Upsert(node string, c stream.Claim) {
	s.store.Upsert(NodeSource(node), c.IP, s.claim(node, c))
}

func (s *NodeSink) Delete(node string, ip netip.Addr) {
	s.store.Delete(NodeSource(node), ip)
}

func (s *NodeSink) NodeGone(node string) {
	s.logger.Info("withdrawing the node's remaining claims: its agent is gone", "node", node)
	s.store.RemoveSource(NodeSource(node))
	s.mu.Lock()
	delete(s.snapshots, node)
	s.mu.Unlock()
}

// snapshotSince reports whether node delivered a snapshot at or after t.
func (s *NodeSink) snapshotSince(node string, t time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.snapshots[node]
	return ok && !at.Before(t)
}

// streamedSnapshot reports whether node's open stream (as streaming tells)
// delivered its snapshot after it began.
func (s *NodeSink) streamedSnapshot(node string, streaming func(string) (time.Time, bool)) bool {
	if streaming == nil {
		return false
	}
	since, ok := streaming(node)
	return ok && s.snapshotSince(node, since)
}

// waitSnapshots closes ready once synced are all closed and the claims of
// every node listed by nodes are current: the node delivered a snapshot
// since start, or (streaming set) it has an open stream whose snapshot was
// applied after the stream began, so a hot standby taking over opens the
// gate at once for every node streaming to it. It re-checks when a
// snapshot arrives, and every recheck in case a node it waits for was
// deleted. The caller bounds the wait with the grace timeout on the pusher
// side.
func (s *NodeSink) waitSnapshots(ctx context.Context, start time.Time, recheck time.Duration, nodes func(context.Context) ([]string, error), streaming func(node string) (time.Time, bool), synced []<-chan struct{}, ready chan<- struct{}) {
	for _, c := range synced {
		select {
		case <-ctx.Done():
			return
		case <-c:
		}
	}
	t := time.NewTicker(recheck)
	defer t.Stop()
	for {
		names, err := nodes(ctx)
		if err != nil {
			s.logger.Warn("snapshot gate: list nodes", "err", err)
		} else {
			missing, streamed := 0, 0
			for _, n := range names {
				switch {
				case s.snapshotSince(n, start):
				case s.streamedSnapshot(n, streaming):
					streamed++
				default:
					missing++
				}
			}
			if missing == 0 {
				s.logger.Info("snapshot gate open: every agent node's claims are current", "nodes", len(names), "already_streaming", streamed, "waited", s.now().Sub(start).String())
				close(ready)
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.snapshot:
		case <-t.C:
		}
	}
}
