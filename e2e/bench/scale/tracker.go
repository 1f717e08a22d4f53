package scale

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Change kinds.
const (
	KindCreate  = "create"
	KindRelabel = "relabel"
	KindDelete  = "delete"
	// KindCreateCall is the creates again, clocked from the create call
	// (before kwok starts the pod and gives it its IP).
	KindCreateCall = "create, from the create call"
)

// key is one expected firewall acknowledgement: tag added to (or removed
// from) ip.
type key struct {
	ip      netip.Addr
	tag     string
	removed bool
}

type expectation struct {
	kind  string
	since time.Time
	call  time.Time // creates: when the create was sent
}

// tracker matches the aggregator's acknowledgements with the changes the
// bench made. Acks of a change's tag that arrive before the change is
// expected (a create acknowledged before this process's watch saw the pod
// Running) are kept and matched when it is, with latency 0 at most.
type tracker struct {
	mu      sync.Mutex
	pending map[key]expectation
	early   map[key]time.Time
	lat     map[string][]time.Duration
	early0  int // changes acknowledged before they were expected
	// superseded counts changes overtaken by a later change of the same
	// pod before their ack (the firewall may never see them).
	superseded int
}

func newTracker() *tracker {
	return &tracker{pending: map[key]expectation{}, early: map[key]time.Time{}, lat: map[string][]time.Duration{}}
}

// expect records that k is due, its clock started at since (and for a
// create, at call).
func (t *tracker) expect(k key, kind string, since, call time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := expectation{kind: kind, since: since, call: call}
	if at, ok := t.early[k]; ok {
		delete(t.early, k)
		t.early0++
		t.record(e, at)
		return
	}
	t.pending[k] = e
}

func (t *tracker) record(e expectation, at time.Time) {
	t.lat[e.kind] = append(t.lat[e.kind], max(0, at.Sub(e.since)))
	if !e.call.IsZero() {
		t.lat[KindCreateCall] = append(t.lat[KindCreateCall], at.Sub(e.call))
	}
}

// restart moves k's clock to since if k is still due.
func (t *tracker) restart(k key, since time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.pending[k]; ok {
		e.since = since
		t.pending[k] = e
	}
}

// supersede drops k if it is still due, because a later change of its pod
// overtakes it, and reports whether it was.
func (t *tracker) supersede(k key) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.pending[k]
	if ok {
		delete(t.pending, k)
		t.superseded++
	}
	return ok
}

// cancel drops an expectation whose write failed.
func (t *tracker) cancel(k key) {
	t.mu.Lock()
	delete(t.pending, k)
	t.mu.Unlock()
}

func (t *tracker) ack(k key, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.pending[k]
	if !ok {
		t.early[k] = at
		return
	}
	delete(t.pending, k)
	t.record(e, at)
}

func (t *tracker) outstanding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending)
}

// Latency summarises the tag latency of one kind of change.
type Latency struct {
	Kind              string
	Acked, Unacked    int
	P50, P99, Max     time.Duration
	OldestUnackedWait time.Duration
}

func (t *tracker) result(now time.Time) []Latency {
	t.mu.Lock()
	defer t.mu.Unlock()
	unacked := map[string][]time.Duration{}
	for _, e := range t.pending {
		unacked[e.kind] = append(unacked[e.kind], now.Sub(e.since))
	}
	var out []Latency
	var all, allUn []time.Duration
	for _, kind := range []string{KindCreate, KindRelabel, KindDelete} {
		out = append(out, summarise(kind, t.lat[kind], unacked[kind]))
		all = append(all, t.lat[kind]...)
		allUn = append(allUn, unacked[kind]...)
	}
	out = append(out, summarise("all", all, allUn))
	var callUn []time.Duration
	for _, e := range t.pending {
		if !e.call.IsZero() {
			callUn = append(callUn, now.Sub(e.call))
		}
	}
	return append(out, summarise(KindCreateCall, t.lat[KindCreateCall], callUn))
}

// summarise gives quantiles of the acked latencies; unacked changes count
// as their wait so far (censored: a lower bound), so they are never
// hidden by being left out.
func summarise(kind string, acked, unacked []time.Duration) Latency {
	l := Latency{Kind: kind, Acked: len(acked), Unacked: len(unacked)}
	all := append(slices.Clone(acked), unacked...)
	if len(all) == 0 {
		return l
	}
	slices.Sort(all)
	q := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
	l.P50, l.P99, l.Max = q(0.50), q(0.99), all[len(all)-1]
	if len(unacked) > 0 {
		l.OldestUnackedWait = slices.Max(unacked)
	}
	return l
}

// describeOutstanding describes each change still due, with the tags the
// firewall holds (held) for its IP.
func (t *tracker) describeOutstanding(held map[netip.Addr][]string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.pending))
	for k, e := range t.pending {
		what := "add"
		if k.removed {
			what = "remove"
		}
		out = append(out, fmt.Sprintf("%s: %s %s on %s; the firewall holds %v", e.kind, what, k.tag, k.ip, held[k.ip]))
	}
	slices.Sort(out)
	return out
}
