package push

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/kubedag/kubedag/aggregator/diff"
	"github.com/kubedag/kubedag/aggregator/ipmap"
	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/tags"
)

// DesiredState is what the Engine reads of the desired state (in memory,
// synchronously); *store.Store implements it.
type DesiredState interface {
	DesiredBatch(ips []netip.Addr, out []store.Desired) []store.Desired
	AppendIPs(dst []netip.Addr) []netip.Addr
}

// ActionKind says what the caller of Engine.Next must do.
type ActionKind uint8

const (
	// Wait: nothing is due before Action.Wake; call Next again then, or
	// as soon as an event (Dirty, OpenGate) arrives.
	Wait ActionKind = iota
	// List: list every registered IP (Firewall.RegisteredIPs with tag "")
	// and answer with Listed. This is the reconcile.
	List
	// CheckCanary: list the IPs carrying Action.Tag and answer with Listed.
	CheckCanary
	// RegisterCanary: send Action.Update and answer with Sent.
	RegisterCanary
	// Send: send Action.Update (one batch) and answer with Sent.
	Send
)

func (k ActionKind) String() string {
	switch k {
	case Wait:
		return "wait"
	case List:
		return "list"
	case CheckCanary:
		return "check-canary"
	case RegisterCanary:
		return "register-canary"
	case Send:
		return "send"
	}
	return fmt.Sprintf("ActionKind(%d)", k)
}

// Action is the Engine's answer to Next.
type Action struct {
	Kind   ActionKind
	Wake   time.Time // Wait
	Tag    string    // CheckCanary: the tag to list
	Update Update    // Send, RegisterCanary
}

// actualRec is what the target holds for one IP, as far as we know.
type actualRec struct {
	tags tags.Set
	// expires: unix ns of the earliest tag expiry; 0 = no timeout;
	// uncertainExpiry = unknown whether the last call applied: re-send all.
	expires int64
}

const uncertainExpiry = -1

type retryRec struct {
	attempts  int
	notBefore time.Time
}

// inflightBatch is what the Engine remembers of the batch a Send carries,
// to apply its result and to link its span: des[k] and items[k] are those
// of b.Ops[k].
type inflightBatch struct {
	b     diff.Batch
	des   []store.Desired
	items []diff.Item
}

// Engine is the pure per-target state machine under a Pusher: it holds
// what it believes the target holds and decides what to do next. It does
// no I/O, reads no clock and starts no goroutine; it is not safe for
// concurrent use.
//
// Its caller (Pusher.Run, or a test) feeds it events: Dirty (IPs whose
// desired state may have changed), OpenGate (the Ready gate opened), and
// the answers Listed and Sent to the action it asked for. Next(now) is the
// tick: it returns the one action due at now. Every action other than Wait
// must be answered (Listed or Sent) before Next is called again.
type Engine struct {
	opts  Options
	state DesiredState
	log   *slog.Logger

	start        time.Time
	actual       ipmap.Dense[actualRec]
	pending      pendingSet // oldest cohort first (pending.go)
	retry        ipmap.Map[retryRec]
	ready        bool
	synced       bool
	failures     int
	backoffUntil time.Time
	canaryUp     bool
	markers      []string // TTL floor markers believed on the target (ttlfloor.go)
	markerSent   string   // the marker of the unanswered canary registration
	distrust     bool     // a reboot was detected: the next reconcile keeps no known expiry
	capFull      bool
	needResync   bool

	nextResync, nextCanary, nextSweep, nextRetry time.Time
	lastSend                                     time.Time // start of the last Send, for MaxCallsPerSecond
	flushing                                     bool      // sending batches until pending is empty or a call fails
	canaryDue                                    bool      // canary listed; register it next

	inflight ActionKind // the unanswered action; Wait when none
	issuedAt time.Time  // the now of the unanswered action
	batch    inflightBatch
	status   Status

	filter   TagFilter           // tag pruning; nil keeps every tag (filter.go)
	filterAt time.Time           // when the filter last changed some IP's tags
	memo     map[string]tags.Set // desired set key -> filtered set

	// scratch
	ipBuf   []netip.Addr
	desBuf  []store.Desired
	itemBuf []diff.Item
	// the call's own, kept in batch until answered
	callDes   []store.Desired
	callItems []diff.Item
}

// NewEngine returns an Engine for one target. Call Reset before the first
// Next.
func NewEngine(state DesiredState, opts Options) (*Engine, error) {
	if state == nil {
		return nil, errors.New("push: nil DesiredState")
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	return newEngine(state, opts), nil
}

func newEngine(state DesiredState, opts Options) *Engine {
	e := &Engine{opts: opts, state: state, log: opts.Logger.With("target", opts.Name)}
	e.status.Target = opts.Name
	e.Reset(time.Time{})
	return e
}

// Reset forgets everything believed about the target and starts over at
// now with a reconcile (as on becoming leader). Status counters
// (LastReconcile, Reboots) survive.
func (e *Engine) Reset(now time.Time) {
	e.start = now
	e.actual = ipmap.Dense[actualRec]{}
	e.pending = pendingSet{}
	e.retry = ipmap.Map[retryRec]{}
	e.ready = e.opts.Ready == nil
	e.synced = false
	e.failures = 0
	e.backoffUntil = time.Time{}
	e.canaryUp = false
	e.markers, e.markerSent, e.distrust = nil, "", false
	e.capFull = false
	e.needResync = true
	e.nextResync, e.nextCanary, e.nextSweep, e.nextRetry, e.lastSend = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	e.flushing, e.canaryDue = false, false
	e.inflight = Wait
	e.batch = inflightBatch{}
	e.memo = make(map[string]tags.Set) // the filter is configuration: it survives
}

// Dirty records IPs whose desired state may have changed (from the store
// subscription). It keeps no reference to ips. Call it only while no
// action is unanswered (as Run does): changes that arrive during a call
// wait in the store's dirty set, which is how they coalesce.
func (e *Engine) Dirty(_ time.Time, ips []netip.Addr) {
	for _, ip := range ips {
		if !e.reserved(ip) {
			e.pending.Add(ip)
		}
	}
}

// DirtySet is Dirty for a set the Engine may keep as its own (Run hands
// it the store subscription's dirty set, store.Subscription.TakeSet): with
// nothing pending, the set becomes the pending set without a copy.
func (e *Engine) DirtySet(now time.Time, s ipmap.Set) {
	if e.pending.Len() > 0 {
		for ip := range s.All() {
			if !e.reserved(ip) {
				e.pending.Add(ip)
			}
		}
		return
	}
	for _, ip := range []netip.Addr{e.opts.Canary.IP, e.opts.Canary.FloorIP} {
		if ip.IsValid() {
			s.Delete(ip)
		}
	}
	e.pending.adopt(s)
}

// sendAt is the earliest start of the next Send: after a failed call's
// backoff and, with MaxCallsPerSecond, one call interval after the last.
func (e *Engine) sendAt() time.Time {
	t := e.backoffUntil
	if e.opts.MaxCallsPerSecond > 0 && !e.lastSend.IsZero() {
		t = later(t, e.lastSend.Add(e.callInterval()))
	}
	return t
}

func (e *Engine) callInterval() time.Duration {
	return time.Duration(float64(time.Second) / e.opts.MaxCallsPerSecond)
}

// OpenGate allows unregisters; every IP believed registered is re-checked.
func (e *Engine) OpenGate(why string) {
	if e.ready {
		return
	}
	e.ready = true
	e.log.Info("unregister gate open", "reason", why)
	for ip := range e.actual.Keys() {
		e.pending.Add(ip)
	}
}

// Next returns the action due at now: an I/O to do and answer, or Wait.
func (e *Engine) Next(now time.Time) Action {
	if e.inflight != Wait {
		panic(fmt.Sprintf("push: Engine.Next called with %v unanswered", e.inflight))
	}
	if e.canaryDue {
		e.canaryDue = false
		c := e.opts.Canary
		u := Update{Register: []Entry{{IP: c.IP, Tags: []Tag{{Name: c.Tag, Timeout: c.TTL}}, NonPersistent: true}}}
		e.floorUpdate(now, &u)
		return e.issue(now, Action{Kind: RegisterCanary, Update: u})
	}
	if e.flushing {
		if now.Before(e.sendAt()) {
			e.flushing = false // the rest goes when the call limit allows
		} else if a, ok := e.planBatch(now); ok {
			return a
		} else {
			e.endFlush()
		}
	}
	if !e.ready && e.opts.ReadyTimeout > 0 && !now.Before(e.start.Add(e.opts.ReadyTimeout)) {
		e.OpenGate("grace timeout")
	}
	if e.synced && !now.Before(e.nextResync) {
		e.needResync = true
	}
	if e.needResync && !now.Before(e.backoffUntil) {
		return e.issue(now, Action{Kind: List})
	}
	if e.synced {
		if e.opts.Canary.IP.IsValid() && !now.Before(e.nextCanary) && !now.Before(e.backoffUntil) {
			e.nextCanary = now.Add(e.opts.Canary.Interval)
			return e.issue(now, Action{Kind: CheckCanary, Tag: e.opts.Canary.Tag})
		}
		if !now.Before(e.nextSweep) {
			e.sweepRefresh(now)
			e.nextSweep = now.Add(e.sweepEvery())
		}
		if !now.Before(e.nextRetry) {
			e.sweepRetry(now)
			e.nextRetry = now.Add(e.opts.EntryRetryBase)
		}
		// No call is in flight here (every action is answered before
		// Next), so pending IPs go at once: they coalesced while the last
		// call was out.
		if e.pending.Len() > 0 && !now.Before(e.sendAt()) {
			e.flushing = true
			if a, ok := e.planBatch(now); ok {
				return a
			}
			e.endFlush()
		}
	}
	return Action{Kind: Wait, Wake: e.wake(now)}
}

func (e *Engine) issue(now time.Time, a Action) Action {
	e.inflight, e.issuedAt = a.Kind, now
	return a
}

// wake is the earliest deadline after now.
func (e *Engine) wake(now time.Time) time.Time {
	wake := now.Add(time.Hour)
	earlier := func(t time.Time) {
		if !t.IsZero() && t.Before(wake) {
			wake = t
		}
	}
	if e.needResync {
		earlier(e.backoffUntil) // a failed reconcile waits out its backoff
	} else {
		earlier(e.nextResync)
		if e.opts.Canary.IP.IsValid() {
			earlier(later(e.nextCanary, e.backoffUntil))
		}
		earlier(e.nextSweep)
		if e.retry.Len() > 0 {
			earlier(e.nextRetry)
		}
		if e.pending.Len() > 0 {
			earlier(e.sendAt())
		}
	}
	if !e.ready && e.opts.ReadyTimeout > 0 {
		earlier(e.start.Add(e.opts.ReadyTimeout))
	}
	return wake
}

func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

func (e *Engine) endFlush() {
	e.flushing = false
	if e.pending.Len() == 0 {
		e.pending = pendingSet{} // drop a burst's high-water memory
	}
}

func (e *Engine) sweepEvery() time.Duration {
	if e.opts.TagTTL <= 0 {
		return time.Hour
	}
	return max(e.opts.TagTTL/8, time.Second)
}

// Listed answers List or CheckCanary with the target's listing.
func (e *Engine) Listed(regs []RegisteredIP, err error) {
	kind, now := e.answer()
	switch kind {
	case List:
		if err != nil {
			e.fail(now, fmt.Errorf("reconcile %s: list registered IPs: %w", e.opts.Name, err))
			return
		}
		e.reconcile(now, regs)
	case CheckCanary:
		if err != nil {
			e.log.Debug("canary check failed", "err", err)
			return
		}
		e.canaryListed(regs)
	default:
		panic(fmt.Sprintf("push: Engine.Listed answers %v", kind))
	}
}

// Sent answers Send or RegisterCanary with the call's result.
func (e *Engine) Sent(res UpdateResult, err error) {
	kind, now := e.answer()
	switch kind {
	case Send:
		if err != nil {
			e.sendFailed(now, err)
			return
		}
		e.succeed()
		e.applyResult(now, res)
	case RegisterCanary:
		floorOK := err == nil
		e.canaryUp = err == nil
		for _, f := range res.Failed {
			if f.IP.Unmap() == e.opts.Canary.IP {
				e.canaryUp = false
			} else {
				floorOK = false // the floor marker's IP may be full (32 tags): no floor, nothing else lost
			}
		}
		e.floorSent(floorOK)
		if !e.canaryUp {
			e.log.Debug("canary register failed", "err", err, "refused", len(res.Failed))
		}
	default:
		panic(fmt.Sprintf("push: Engine.Sent answers %v", kind))
	}
}

func (e *Engine) answer() (ActionKind, time.Time) {
	k := e.inflight
	e.inflight = Wait
	return k, e.issuedAt
}

// fail records a failed call and backs the target off.
func (e *Engine) fail(now time.Time, err error) {
	e.failures++
	d := e.opts.BackoffBase << min(e.failures-1, 30)
	if d <= 0 || d > e.opts.BackoffMax {
		d = e.opts.BackoffMax
	}
	d = e.jitter(d)
	e.backoffUntil = now.Add(d)
	e.log.Warn("target call failed; backing off", "err", err, "failures", e.failures, "backoff", d)
	e.status.LastError = err.Error()
}

func (e *Engine) succeed() {
	if e.failures > 0 {
		e.log.Info("target recovered", "after_failures", e.failures)
	}
	e.failures = 0
	e.backoffUntil = time.Time{}
}

func (e *Engine) jitter(d time.Duration) time.Duration {
	var f float64
	if e.opts.Rand != nil {
		f = e.opts.Rand.Float64()
	} else {
		f = rand.Float64()
	}
	return d/2 + time.Duration(f*float64(d/2))
}

// Status returns the Engine's view of the target's health; Running is
// left false (the loop knows).
func (e *Engine) Status() Status {
	s := e.status
	s.Ready = e.ready
	s.Synced = e.synced
	s.Healthy = e.failures == 0
	s.ConsecutiveFailures = e.failures
	if e.failures == 0 {
		s.LastError = ""
	}
	s.CapacityFull = e.capFull
	s.Registered = e.actual.Len()
	s.Pending = e.pending.Len()
	s.Retrying = e.retry.Len()
	return s
}

// reconcile replaces actual with the target's listing and marks every
// listed or desired IP pending.
func (e *Engine) reconcile(now time.Time, regs []RegisteredIP) {
	e.succeed()
	ips := e.ipBuf[:0]
	for _, r := range regs {
		ips = append(ips, r.IP.Unmap())
	}
	des := e.state.DesiredBatch(ips, e.desBuf[:0])
	for i := range des {
		des[i].Tags = e.want(des[i].Tags)
	}
	var next ipmap.Dense[actualRec]
	drift := 0
	floor := e.listedFloor(now, regs)
	inherited := 0
	var owned []string
	shared := make(map[string]tags.Set) // equal listed sets share storage
	for i, r := range regs {
		ip := ips[i]
		if e.reserved(ip) {
			continue
		}
		owned = owned[:0]
		exp := int64(0)
		unreported := false
		for _, t := range r.Tags {
			if !e.opts.Owns(t.Name) {
				continue
			}
			owned = append(owned, t.Name)
			switch {
			case e.opts.TagTTL > 0 && t.Timeout <= 0:
				unreported = true // PAN-OS lists no remaining timeouts
			case e.opts.TagTTL == 0 && t.Timeout > 0:
				exp = uncertainExpiry // wrong timeout: re-register
			case t.Timeout > 0 && exp != uncertainExpiry:
				x := now.Add(t.Timeout).UnixNano()
				if exp == 0 || x < exp {
					exp = x
				}
			}
		}
		if len(owned) == 0 {
			continue
		}
		set := tags.NewSet(owned...)
		if set.Equal(des[i].Tags) {
			set = des[i].Tags // share the store's interned set
		} else if prev, ok := shared[set.Key()]; ok {
			set = prev
		} else {
			shared[set.Key()] = set
		}
		old, had := e.actual.Get(ip)
		if !had || !old.tags.Equal(set) {
			drift++
		}
		if unreported && exp != uncertainExpiry {
			// See ttlfloor.go: an expiry this Engine registered, else the
			// listed floor, else unknown (re-register).
			switch {
			case had && !e.distrust && old.tags.Equal(set) && old.expires > 0:
				exp = minExpiry(exp, old.expires)
			case floor > 0:
				exp = minExpiry(exp, floor)
				inherited++
			default:
				exp = uncertainExpiry
			}
		}
		next.Set(ip, actualRec{tags: set, expires: exp})
	}
	for ip := range e.actual.Keys() {
		if !next.Has(ip) {
			drift++
		}
	}
	e.actual = next
	e.distrust = false
	e.ipBuf, e.desBuf = trim(ips), trim(des)
	for ip := range next.Keys() {
		e.pending.Add(ip)
	}
	all := e.state.AppendIPs(e.ipBuf[:0])
	for _, ip := range all {
		if !e.reserved(ip) {
			e.pending.Add(ip)
		}
	}
	e.ipBuf = trim(all)
	e.status.LastReconcile = now
	e.log.Info("reconciled", "listed", len(regs), "owned_ips", next.Len(), "drift", drift, "ttl_floor_ips", inherited)
	if e.opts.Hooks.Reconciled != nil {
		e.opts.Hooks.Reconciled(e.opts.Name, len(regs), drift)
	}
	e.needResync = false
	e.synced = true
	e.nextResync = now.Add(e.opts.ResyncInterval)
}

// canaryListed triggers a reconcile when the canary vanished, and asks
// for it to be (re-)registered.
func (e *Engine) canaryListed(regs []RegisteredIP) {
	c := e.opts.Canary
	present := false
	for _, r := range regs {
		if r.IP.Unmap() != c.IP {
			continue
		}
		for _, t := range r.Tags {
			present = present || t.Name == c.Tag
		}
	}
	if e.canaryUp && !present {
		e.log.Warn("canary registration gone: target lost its volatile state (reboot?); reconciling")
		e.needResync = true
		e.distrust = true
		e.markers = e.markers[:0] // non-persistent: gone with the reboot
		e.status.Reboots++
		if e.opts.Hooks.Reboot != nil {
			e.opts.Hooks.Reboot(e.opts.Name)
		}
	}
	e.canaryDue = true
}

// sweepRefresh marks IPs whose tags need a TTL refresh.
func (e *Engine) sweepRefresh(now time.Time) {
	for ip, rec := range e.actual.All() {
		if e.refreshDue(rec, now) {
			e.pending.Add(ip)
		}
	}
}

func (e *Engine) refreshDue(rec actualRec, now time.Time) bool {
	if rec.expires == uncertainExpiry {
		return true
	}
	margin := e.opts.TagTTL / 2
	if isInherited(rec.expires) {
		margin = e.opts.TagTTL / 4 // a lower bound from a floor marker (ttlfloor.go)
	}
	return e.opts.TagTTL > 0 && rec.expires != 0 && now.UnixNano() >= rec.expires-int64(margin)
}

// minExpiry is the earlier of two expiries, 0 meaning none.
func minExpiry(a, b int64) int64 {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// sweepRetry marks IPs whose entry retry is due.
func (e *Engine) sweepRetry(now time.Time) {
	for ip, r := range e.retry.All() {
		if !now.Before(r.notBefore) {
			e.pending.Add(ip)
		}
	}
}

// planBatch plans the next call's worth of pending IPs; false when
// nothing pending needs a call. Pending IPs are examined MaxBatch at a
// time, and more are examined while the call has room: most pending IPs
// may need nothing (after a reconcile, or when tag pruning leaves few tags
// per IP), and a call should still carry up to MaxBatch entries.
func (e *Engine) planBatch(now time.Time) (Action, bool) {
	var (
		acc   diff.Batch
		des   = e.callDes[:0]
		items = e.callItems[:0]
	)
	// IPs in the call are taken out of pending while more are examined
	// (so they are not examined twice) and put back at the end, as the
	// oldest: the answer decides whether they are done. The IPs left
	// waiting go before any that arrive during the call (cut).
	defer func() {
		e.pending.cut()
		for _, op := range acc.Ops {
			e.pending.addOldest(op.IP)
		}
	}()
	for e.pending.Len() > 0 && e.opts.MaxBatch-acc.Entries >= min(2, e.opts.MaxBatch) {
		ips := e.ipBuf[:0]
		for ip := range e.pending.All() {
			if r, ok := e.retry.Get(ip); ok && now.Before(r.notBefore) {
				e.pending.Delete(ip) // sweepRetry brings it back
				continue
			}
			ips = append(ips, ip)
			if len(ips) >= e.opts.MaxBatch {
				break
			}
		}
		e.ipBuf = ips
		if len(ips) == 0 {
			break
		}
		cdes := e.state.DesiredBatch(ips, e.desBuf[:0])
		for i := range cdes {
			cdes[i].Tags = e.want(cdes[i].Tags) // from here on, desired means filtered
		}
		e.desBuf = cdes
		citems := e.itemBuf[:0]
		for i, ip := range ips {
			rec, _ := e.actual.Get(ip)
			citems = append(citems, diff.Item{
				IP:           ip,
				Desired:      cdes[i].Tags,
				Actual:       rec.tags,
				Refresh:      cdes[i].Tags.Len() > 0 && e.refreshDue(rec, now),
				NoUnregister: !e.ready && !cdes[i].Claimed,
			})
		}
		e.itemBuf = citems
		batches := diff.Plan(citems, e.opts.Owns, e.opts.MaxBatch-acc.Entries)
		if len(batches) == 0 {
			for _, ip := range ips {
				e.pending.Delete(ip)
			}
			continue
		}
		b := batches[0]
		// IPs that planned nothing are done; IPs in later batches stay
		// pending; IPs in this call leave pending until the deferred put.
		// Plan keeps the order of items and gives each IP at most one op,
		// so one walk over ips and the batches' ops tells them apart.
		bi, oi := 0, 0 // the next op: batches[bi].Ops[oi]
		for i, ip := range ips {
			if bi < len(batches) && batches[bi].Ops[oi].IP == ip {
				if bi == 0 {
					des = append(des, cdes[i])
					items = append(items, citems[i])
					e.pending.Delete(ip)
				}
				if oi++; oi == len(batches[bi].Ops) {
					bi, oi = bi+1, 0
				}
				continue
			}
			e.pending.Delete(ip)
		}
		if len(acc.Ops) == 0 {
			acc.Ops = b.Ops // Plan's own: no copy
		} else {
			acc.Ops = append(acc.Ops, b.Ops...)
		}
		acc.Entries += b.Entries
		if len(batches) > 1 {
			break // the call is full
		}
	}
	e.callDes, e.callItems = des, items
	if len(acc.Ops) == 0 {
		return Action{}, false
	}
	e.batch = inflightBatch{b: acc, des: des, items: items}
	e.lastSend = now
	return e.issue(now, Action{Kind: Send, Update: e.update(acc)}), true
}

// update builds the call's Update: its entries and their tags in three
// allocations sized up front, not one per entry.
func (e *Engine) update(b diff.Batch) Update {
	var u Update
	nUnreg, nReg, nTags := 0, 0, 0
	for _, op := range b.Ops {
		nUnreg += min(len(op.Unregister), 1)
		nReg += min(len(op.Register), 1)
		nTags += len(op.Unregister) + len(op.Register)
	}
	if nUnreg > 0 {
		u.Unregister = make([]Entry, 0, nUnreg)
	}
	if nReg > 0 {
		u.Register = make([]Entry, 0, nReg)
	}
	buf := make([]Tag, 0, nTags)
	entry := func(ip netip.Addr, names []string, ttl time.Duration) Entry {
		start := len(buf)
		for _, t := range names {
			buf = append(buf, Tag{Name: t, Timeout: ttl})
		}
		return Entry{IP: ip, Tags: buf[start:len(buf):len(buf)]}
	}
	for _, op := range b.Ops {
		if len(op.Unregister) > 0 {
			u.Unregister = append(u.Unregister, entry(op.IP, op.Unregister, 0))
		}
		if len(op.Register) > 0 {
			u.Register = append(u.Register, entry(op.IP, op.Register, e.opts.TagTTL))
		}
	}
	return u
}

// sendFailed handles a failed call: unknown what applied, so everything
// the batch may have added is kept as possibly present and re-sent in full
// (register and unregister are idempotent on the target).
func (e *Engine) sendFailed(now time.Time, err error) {
	for _, op := range e.batch.b.Ops {
		rec, _ := e.actual.Get(op.IP)
		if len(op.Register) > 0 {
			rec.tags = union(rec.tags, op.Register)
		}
		rec.expires = uncertainExpiry
		e.actual.Set(op.IP, rec)
	}
	e.batch = inflightBatch{}
	e.fail(now, fmt.Errorf("update %s: %w", e.opts.Name, err))
	e.endFlush()
}

func (e *Engine) applyResult(now time.Time, res UpdateResult) {
	b, des, items := e.batch.b, e.batch.des, e.batch.items
	e.batch = inflightBatch{}
	type fails struct{ unreg, reg, capFull bool }
	var failed map[netip.Addr]fails
	if len(res.Failed) > 0 {
		failed = make(map[netip.Addr]fails, len(res.Failed))
		for _, fe := range res.Failed {
			ip := fe.IP.Unmap()
			f := failed[ip]
			if fe.Op == "unregister" {
				f.unreg = true
			} else {
				f.reg = true
			}
			f.capFull = f.capFull || fe.CapacityFull
			failed[ip] = f
			if e.opts.Hooks.EntryError != nil {
				e.opts.Hooks.EntryError(e.opts.Name, fe)
			}
		}
		e.log.Warn("target refused entries", "refused", len(res.Failed), "first_ip", res.Failed[0].IP, "first_message", res.Failed[0].Message)
	}
	capHit, regOK := false, false
	// IPs a full target refused retry together (one call per backoff
	// step, however many IPs wait), so clusters sharing a full target
	// probe it rarely instead of fighting over each freed slot.
	var capRetry time.Time
	for i, op := range b.Ops {
		d := des[i]
		var rec actualRec
		p := e.actual.Ptr(op.IP)
		if p != nil {
			rec = *p
		}
		f := failed[op.IP]
		next := rec.tags
		switch {
		case !f.unreg && !f.reg && !items[i].NoUnregister:
			next = d.Tags // everything applied: the target now holds desired
		case len(op.Unregister) > 0 && !f.unreg:
			next = tags.NewSet(tags.Minus(next, tags.NewSet(op.Unregister...))...)
		}
		exp := rec.expires
		if len(op.Register) > 0 && !f.reg {
			refreshed := len(op.Register) == d.Tags.Len() // every desired tag re-sent
			if !next.Equal(d.Tags) {
				next = union(next, op.Register)
			}
			switch {
			case e.opts.TagTTL == 0:
				exp = 0
			case refreshed || rec.tags.Len() == 0 || exp <= 0:
				exp = now.Add(e.opts.TagTTL).UnixNano()
			}
			regOK = true
		}
		if next.Equal(d.Tags) {
			next = d.Tags
		}
		switch {
		case next.Len() == 0:
			e.actual.Delete(op.IP)
		case p != nil:
			*p = actualRec{tags: next, expires: exp}
		default:
			e.actual.Add(op.IP, actualRec{tags: next, expires: exp})
		}
		if f.unreg || f.reg {
			r, _ := e.retry.Get(op.IP)
			r.attempts++
			base := e.opts.EntryRetryBase
			if f.capFull {
				capHit = true
				base *= 8
			}
			dl := base << min(r.attempts-1, 30)
			if dl <= 0 || dl > e.opts.EntryRetryMax {
				dl = e.opts.EntryRetryMax
			}
			switch {
			case !f.capFull:
				r.notBefore = now.Add(e.jitter(dl))
			case capRetry.IsZero():
				capRetry = now.Add(e.jitter(dl))
				fallthrough
			default:
				r.notBefore = capRetry
			}
			e.retry.Set(op.IP, r)
			e.pending.Delete(op.IP)
			continue
		}
		e.retry.Delete(op.IP)
		e.pending.Delete(op.IP)
		// Applied marks new tags reaching the target, not TTL refreshes.
		if len(op.Register) > 0 && e.opts.Hooks.Applied != nil {
			if added := tags.Minus(d.Tags, rec.tags); len(added) > 0 {
				e.opts.Hooks.Applied(e.opts.Name, op.IP, later(d.FirstSeen, e.filterAt), d.Span, added)
			}
		}
		if len(op.Unregister) > 0 && e.opts.Hooks.Removed != nil {
			e.opts.Hooks.Removed(e.opts.Name, op.IP, op.Unregister, d.Span)
		}
	}
	if capHit && !e.capFull {
		e.capFull = true
		e.log.Error("target registered-IP capacity reached: registrations refused and retried with backoff")
	} else if !capHit && regOK && e.capFull {
		e.capFull = false
		e.log.Info("target accepts registrations again")
	}
}

// trim empties a scratch buffer for reuse, or drops it if it is large.
func trim[T any](b []T) []T {
	if cap(b) > keepBufAbove {
		return nil
	}
	return b[:0]
}

func union(s tags.Set, add []string) tags.Set {
	if len(add) == 0 {
		return s
	}
	all := append(append([]string(nil), s.Slice()...), add...)
	return tags.NewSet(all...)
}
