package explain

import (
	"net/netip"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.opentelemetry.io/otel/trace"

	"github.com/kubedag/kubedag/aggregator/push"
)

// DefaultRecorderSize bounds the IPs a Recorder remembers: the most
// recently changed ones. Older IPs are still explained, as confirmed by
// their target's last reconcile.
const DefaultRecorderSize = 16384

// Ack is the last acknowledged changes of one IP on one target.
type Ack struct {
	// At is when the target last acknowledged a change of the IP.
	At time.Time
	// Added are the tags of the last acknowledged register that gave the
	// IP new tags, and Latency its tag latency: from the change first seen
	// on the node (or by the Service watch) to the ack; 0 if unknown.
	Added   []string
	Latency time.Duration
	// Removed are the tags of the last acknowledged unregister.
	Removed []string
	// RefusedMsg and RefusedAt are the target's last refusal of an entry
	// of the IP, if any.
	RefusedMsg string
	RefusedAt  time.Time
}

// Recorder remembers, per IP and target, the last acknowledged change, in
// a bounded LRU. It is fed by the pushers' hooks (Hooks) and safe for
// concurrent use.
type Recorder struct {
	now func() time.Time
	mu  sync.Mutex
	lru *lru.Cache[netip.Addr, map[string]Ack]
}

// NewRecorder returns a Recorder of at most size IPs (DefaultRecorderSize
// if size <= 0); now is its clock (time.Now if nil).
func NewRecorder(size int, now func() time.Time) *Recorder {
	if size <= 0 {
		size = DefaultRecorderSize
	}
	if now == nil {
		now = time.Now
	}
	c, _ := lru.New[netip.Addr, map[string]Ack](size) // size > 0: cannot fail
	return &Recorder{now: now, lru: c}
}

func (r *Recorder) update(target string, ip netip.Addr, fn func(*Ack)) {
	ip = ip.Unmap()
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.lru.Get(ip)
	if !ok {
		m = make(map[string]Ack, 1)
	}
	a := m[target]
	fn(&a)
	m[target] = a
	r.lru.Add(ip, m)
}

// Applied records registers acknowledged at now (push.Hooks.Applied).
func (r *Recorder) Applied(target string, ip netip.Addr, firstSeen time.Time, added []string) {
	now := r.now()
	r.update(target, ip, func(a *Ack) {
		a.At, a.Added, a.Latency = now, added, 0
		if !firstSeen.IsZero() && now.After(firstSeen) {
			a.Latency = now.Sub(firstSeen)
		}
	})
}

// Removed records unregisters acknowledged at now (push.Hooks.Removed).
func (r *Recorder) Removed(target string, ip netip.Addr, removed []string) {
	now := r.now()
	r.update(target, ip, func(a *Ack) { a.At, a.Removed = now, removed })
}

// Refused records the target's refusal of an entry (push.Hooks.EntryError).
func (r *Recorder) Refused(target string, ip netip.Addr, msg string) {
	now := r.now()
	r.update(target, ip, func(a *Ack) { a.RefusedMsg, a.RefusedAt = msg, now })
}

// Get returns ip's last recorded change on target.
func (r *Recorder) Get(target string, ip netip.Addr) (Ack, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.lru.Peek(ip.Unmap())
	if !ok {
		return Ack{}, false
	}
	a, ok := m[target]
	return a, ok
}

// Hooks returns next with the Recorder added to its Applied, Removed and
// EntryError hooks (next's own hooks still run, first).
func (r *Recorder) Hooks(next push.Hooks) push.Hooks {
	h := next
	h.Applied = func(target string, ip netip.Addr, firstSeen time.Time, span trace.SpanContext, added []string) {
		if next.Applied != nil {
			next.Applied(target, ip, firstSeen, span, added)
		}
		r.Applied(target, ip, firstSeen, added)
	}
	h.Removed = func(target string, ip netip.Addr, removed []string, span trace.SpanContext) {
		if next.Removed != nil {
			next.Removed(target, ip, removed, span)
		}
		r.Removed(target, ip, removed)
	}
	h.EntryError = func(target string, e push.EntryError) {
		if next.EntryError != nil {
			next.EntryError(target, e)
		}
		r.Refused(target, e.IP, e.Message)
	}
	return h
}
