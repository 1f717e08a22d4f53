package push

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/kubedag/kubedag/tags"
)

// Holding is what a Pusher believes its target holds for one IP (for
// `kubedag explain`).
type Holding struct {
	// Tags are the owned tags the target holds for the IP, as far as the
	// pusher knows: from the last reconcile listing and the calls the
	// target acknowledged since.
	Tags tags.Set
	// Expires is when the earliest of them times out on the target (zero:
	// no timeout, or Uncertain).
	Expires time.Time
	// Uncertain: a call carrying the IP failed without an answer; whether
	// it applied is unknown, so the IP is re-sent in full.
	Uncertain bool
	// Pending: the IP waits for the next batch.
	Pending bool
	// RetryAttempts counts the target's refusals of the IP's entries in a
	// row (0: none).
	RetryAttempts int
	// Synced: the pusher has listed the target since it started; before
	// that Tags is not known.
	Synced bool
	// LastReconcile is when the target was last listed in full: every
	// holding was confirmed then.
	LastReconcile time.Time
	// Want is what the target is to hold: the IP's desired tags, less
	// those the target's tag filter prunes (Pruning: a filter is set).
	Want    tags.Set
	Pruning bool
}

// Holding returns what e believes its target holds for ip.
func (e *Engine) Holding(ip netip.Addr) Holding {
	ip = ip.Unmap()
	rec, _ := e.actual.Get(ip)
	h := Holding{Tags: rec.tags, Synced: e.synced, LastReconcile: e.status.LastReconcile}
	switch {
	case rec.expires == uncertainExpiry:
		h.Uncertain = true
	case rec.expires > 0:
		h.Expires = time.Unix(0, rec.expires)
	}
	d := e.state.DesiredBatch([]netip.Addr{ip}, nil)
	h.Want, h.Pruning = e.want(d[0].Tags), e.filter != nil
	h.Pending = e.pending.Has(ip)
	r, _ := e.retry.Get(ip)
	h.RetryAttempts = r.attempts
	return h
}

// ErrNotRunning is returned by Pusher.Holding while Run is not running
// (this replica does not lead).
var ErrNotRunning = errors.New("push: pusher not running")

type holdingQuery struct {
	ip    netip.Addr
	reply chan Holding
}

// Holding asks the running pusher what its target holds for ip. The
// engine belongs to Run's goroutine, so Run answers between actions: the
// answer waits for a target call in flight, bounded by ctx.
func (p *Pusher) Holding(ctx context.Context, ip netip.Addr) (Holding, error) {
	if !p.running.Load() {
		return Holding{}, ErrNotRunning
	}
	q := holdingQuery{ip: ip, reply: make(chan Holding, 1)}
	select {
	case p.queries <- q:
	case <-ctx.Done():
		return Holding{}, ctx.Err()
	}
	select {
	case h := <-q.reply:
		return h, nil
	case <-ctx.Done():
		return Holding{}, ctx.Err()
	}
}

// answerQueries answers the Holding queries waiting now, without blocking.
func (p *Pusher) answerQueries() {
	for {
		select {
		case q := <-p.queries:
			q.reply <- p.eng.Holding(q.ip)
		default:
			return
		}
	}
}
