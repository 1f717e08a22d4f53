package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kubedag/kubedag/aggregator/diff"
	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/tags"
)

// Firewall is what a Pusher needs of a User-ID target; *userid.Client
// implements it.
type Firewall interface {
	Update(ctx context.Context, u Update) (UpdateResult, error)
	RegisteredIPs(ctx context.Context, tag string) ([]RegisteredIP, error)
}

// State is what a Pusher needs of the desired state; *store.Store
// implements it.
type State interface {
	Subscribe() *store.Subscription
	DesiredBatch(ips []netip.Addr, out []store.Desired) []store.Desired
	AppendIPs(dst []netip.Addr) []netip.Addr
}

// Status is a snapshot of a Pusher's health.
type Status struct {
	Target              string
	Running             bool
	Ready               bool // unregister gate open
	Synced              bool // first reconcile done
	Healthy             bool // last call succeeded
	ConsecutiveFailures int
	LastError           string
	CapacityFull        bool
	Registered          int // IPs believed to carry owned tags
	Pending             int // IPs waiting for a flush (beyond the store's dirty set)
	Retrying            int // IPs whose entries the target refused
	LastReconcile       time.Time
	Reboots             int
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

// Pusher keeps one target in step with the desired state. Create it with
// New and drive it with Run.
type Pusher struct {
	fw     Firewall
	state  State
	opts   Options
	log    *slog.Logger
	tracer trace.Tracer

	running atomic.Bool
	loops   atomic.Int64 // Run loop iterations (tests catch busy loops)

	// Owned by the Run goroutine.
	sub          *store.Subscription
	actual       map[netip.Addr]actualRec
	pending      map[netip.Addr]struct{}
	retry        map[netip.Addr]retryRec
	ready        bool
	synced       bool
	failures     int
	backoffUntil time.Time
	canaryUp     bool
	capFull      bool
	needResync   bool

	// scratch
	ipBuf   []netip.Addr
	desBuf  []store.Desired
	itemBuf []diff.Item

	mu     sync.Mutex
	status Status
}

// New returns a Pusher for one target. It does no I/O and starts nothing.
func New(fw Firewall, state State, opts Options) (*Pusher, error) {
	if fw == nil || state == nil {
		return nil, errors.New("push: nil Firewall or State")
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	p := &Pusher{fw: fw, state: state, opts: opts, log: opts.Logger.With("target", opts.Name),
		tracer: opts.TracerProvider.Tracer(tracerName)}
	p.status.Target = opts.Name
	return p, nil
}

// Status returns a snapshot of the pusher's health.
func (p *Pusher) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

func (p *Pusher) reset() {
	p.actual = make(map[netip.Addr]actualRec)
	p.pending = make(map[netip.Addr]struct{})
	p.retry = make(map[netip.Addr]retryRec)
	p.ready = p.opts.Ready == nil
	p.synced = false
	p.failures = 0
	p.backoffUntil = time.Time{}
	p.canaryUp = false
	p.capFull = false
	p.needResync = true
}

// Run pushes until ctx ends, then returns nil (or an error if it could not
// run). It is meant to run while this replica leads; every Run starts from
// a reconcile, so it may be called again after a previous Run returned.
func (p *Pusher) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("push: Run already running")
	}
	defer p.running.Store(false)
	p.reset()
	p.sub = p.state.Subscribe()
	defer func() { p.sub.Close(); p.sub = nil; p.publish(false) }()

	clk := p.opts.Clock
	start := clk.Now()
	timer := clk.NewTimer(time.Hour)
	defer timer.Stop()
	readyC := p.opts.Ready
	var (
		flushAt, nextResync, nextCanary, nextSweep, nextRetry time.Time
	)
	p.log.Info("pusher started")
	for {
		p.loops.Add(1)
		now := clk.Now()
		if !p.ready && p.opts.ReadyTimeout > 0 && !now.Before(start.Add(p.opts.ReadyTimeout)) {
			p.openGate("grace timeout")
		}
		if p.synced && !now.Before(nextResync) {
			p.needResync = true
		}
		if p.needResync && !now.Before(p.backoffUntil) {
			if err := p.reconcile(ctx, now); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				p.fail(now, err)
			} else {
				p.needResync = false
				p.synced = true
				nextResync = now.Add(p.opts.ResyncInterval)
				if flushAt.IsZero() {
					flushAt = now
				}
			}
		}
		if p.synced {
			if p.opts.Canary.IP.IsValid() && !now.Before(nextCanary) && !now.Before(p.backoffUntil) {
				p.canaryCheck(ctx, now)
				nextCanary = now.Add(p.opts.Canary.Interval)
				if p.needResync {
					continue
				}
			}
			if !now.Before(nextSweep) {
				p.sweepRefresh(now)
				nextSweep = now.Add(p.sweepEvery())
			}
			if !now.Before(nextRetry) {
				p.sweepRetry(now)
				nextRetry = now.Add(p.opts.EntryRetryBase)
			}
			if len(p.pending) > 0 && flushAt.IsZero() {
				flushAt = now.Add(p.opts.BatchInterval)
			}
			full := len(p.pending)+p.sub.Len() >= p.opts.MaxBatch
			if (full || (!flushAt.IsZero() && !now.Before(flushAt))) && !now.Before(p.backoffUntil) {
				p.flush(ctx)
				flushAt = time.Time{}
				if ctx.Err() != nil {
					return nil
				}
				if len(p.pending) > 0 {
					flushAt = clk.Now().Add(p.opts.BatchInterval)
				}
			}
		}
		p.publish(true)

		// Sleep until the earliest deadline.
		now = clk.Now()
		wake := now.Add(time.Hour)
		earlier := func(t time.Time) {
			if !t.IsZero() && t.Before(wake) {
				wake = t
			}
		}
		if p.needResync {
			earlier(p.backoffUntil) // a failed reconcile waits out its backoff
		} else {
			earlier(nextResync)
			if p.opts.Canary.IP.IsValid() {
				earlier(later(nextCanary, p.backoffUntil))
			}
			earlier(nextSweep)
			if len(p.retry) > 0 {
				earlier(nextRetry)
			}
			if !flushAt.IsZero() {
				earlier(later(flushAt, p.backoffUntil))
			}
		}
		if !p.ready && p.opts.ReadyTimeout > 0 {
			earlier(start.Add(p.opts.ReadyTimeout))
		}
		if d := wake.Sub(now); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C():
			case <-p.sub.C():
				if flushAt.IsZero() && p.synced {
					flushAt = clk.Now().Add(p.opts.BatchInterval)
				}
			case <-readyC:
				readyC = nil
				p.openGate("ready")
			}
			timer.Stop()
		} else if ctx.Err() != nil {
			return nil
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

func (p *Pusher) sweepEvery() time.Duration {
	if p.opts.TagTTL <= 0 {
		return time.Hour
	}
	return max(p.opts.TagTTL/8, time.Second)
}

// openGate allows unregisters; every IP we believe registered is re-checked.
func (p *Pusher) openGate(why string) {
	if p.ready {
		return
	}
	p.ready = true
	p.log.Info("unregister gate open", "reason", why)
	for ip := range p.actual {
		p.pending[ip] = struct{}{}
	}
}

// fail records a failed call and backs the target off.
func (p *Pusher) fail(now time.Time, err error) {
	p.failures++
	d := p.opts.BackoffBase << min(p.failures-1, 30)
	if d <= 0 || d > p.opts.BackoffMax {
		d = p.opts.BackoffMax
	}
	d = p.jitter(d)
	p.backoffUntil = now.Add(d)
	p.log.Warn("target call failed; backing off", "err", err, "failures", p.failures, "backoff", d)
	p.mu.Lock()
	p.status.LastError = err.Error()
	p.mu.Unlock()
}

func (p *Pusher) succeed() {
	if p.failures > 0 {
		p.log.Info("target recovered", "after_failures", p.failures)
	}
	p.failures = 0
	p.backoffUntil = time.Time{}
}

func (p *Pusher) jitter(d time.Duration) time.Duration {
	var f float64
	if p.opts.Rand != nil {
		f = p.opts.Rand.Float64()
	} else {
		f = rand.Float64()
	}
	return d/2 + time.Duration(f*float64(d/2))
}

func (p *Pusher) publish(running bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &p.status
	s.Running = running
	s.Ready = p.ready
	s.Synced = p.synced
	s.Healthy = p.failures == 0
	s.ConsecutiveFailures = p.failures
	if p.failures == 0 {
		s.LastError = ""
	}
	s.CapacityFull = p.capFull
	s.Registered = len(p.actual)
	s.Pending = len(p.pending)
	s.Retrying = len(p.retry)
}

// reconcile replaces actual with the target's listing and marks every
// listed or desired IP pending.
func (p *Pusher) reconcile(ctx context.Context, now time.Time) error {
	regs, err := p.fw.RegisteredIPs(ctx, "")
	if err != nil {
		return fmt.Errorf("reconcile %s: list registered IPs: %w", p.opts.Name, err)
	}
	p.succeed()
	ips := p.ipBuf[:0]
	for _, r := range regs {
		ips = append(ips, r.IP.Unmap())
	}
	des := p.state.DesiredBatch(ips, p.desBuf[:0])
	next := make(map[netip.Addr]actualRec, len(regs))
	drift := 0
	var owned []string
	shared := make(map[string]tags.Set) // equal listed sets share storage
	for i, r := range regs {
		ip := ips[i]
		if ip == p.opts.Canary.IP {
			continue
		}
		owned = owned[:0]
		exp := int64(0)
		for _, t := range r.Tags {
			if !p.opts.Owns(t.Name) {
				continue
			}
			owned = append(owned, t.Name)
			switch {
			case p.opts.TagTTL > 0 && t.Timeout <= 0, p.opts.TagTTL == 0 && t.Timeout > 0:
				exp = uncertainExpiry // wrong timeout: re-register
			case t.Timeout > 0 && exp != uncertainExpiry:
				e := now.Add(t.Timeout).UnixNano()
				if exp == 0 || e < exp {
					exp = e
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
		if old, ok := p.actual[ip]; !ok || !old.tags.Equal(set) {
			drift++
		}
		next[ip] = actualRec{tags: set, expires: exp}
	}
	for ip := range p.actual {
		if _, ok := next[ip]; !ok {
			drift++
		}
	}
	p.actual = next
	p.ipBuf, p.desBuf = ips[:0], des[:0]
	for ip := range next {
		p.pending[ip] = struct{}{}
	}
	for _, ip := range p.state.AppendIPs(p.ipBuf[:0]) {
		p.pending[ip] = struct{}{}
	}
	p.mu.Lock()
	p.status.LastReconcile = now
	p.mu.Unlock()
	p.log.Info("reconciled", "listed", len(regs), "owned_ips", len(next), "drift", drift)
	if p.opts.Hooks.Reconciled != nil {
		p.opts.Hooks.Reconciled(p.opts.Name, len(regs), drift)
	}
	return nil
}

// canaryCheck looks for the canary, triggers a reconcile when it vanished,
// and (re-)registers it.
func (p *Pusher) canaryCheck(ctx context.Context, now time.Time) {
	c := p.opts.Canary
	regs, err := p.fw.RegisteredIPs(ctx, c.Tag)
	if err != nil {
		p.log.Debug("canary check failed", "err", err)
		return
	}
	present := false
	for _, r := range regs {
		if r.IP.Unmap() != c.IP {
			continue
		}
		for _, t := range r.Tags {
			present = present || t.Name == c.Tag
		}
	}
	if p.canaryUp && !present {
		p.log.Warn("canary registration gone: target lost its volatile state (reboot?); reconciling")
		p.needResync = true
		p.mu.Lock()
		p.status.Reboots++
		p.mu.Unlock()
		if p.opts.Hooks.Reboot != nil {
			p.opts.Hooks.Reboot(p.opts.Name)
		}
	}
	u := Update{Register: []Entry{{IP: c.IP, Tags: []Tag{{Name: c.Tag, Timeout: c.TTL}}, NonPersistent: true}}}
	res, err := p.fw.Update(ctx, u)
	p.canaryUp = err == nil && len(res.Failed) == 0
	if !p.canaryUp {
		p.log.Debug("canary register failed", "err", err, "refused", len(res.Failed))
	}
}

// sweepRefresh marks IPs whose tags need a TTL refresh.
func (p *Pusher) sweepRefresh(now time.Time) {
	for ip, rec := range p.actual {
		if p.refreshDue(rec, now) {
			p.pending[ip] = struct{}{}
		}
	}
}

func (p *Pusher) refreshDue(rec actualRec, now time.Time) bool {
	if rec.expires == uncertainExpiry {
		return true
	}
	return p.opts.TagTTL > 0 && rec.expires != 0 && now.UnixNano() >= rec.expires-int64(p.opts.TagTTL/2)
}

// sweepRetry marks IPs whose entry retry is due.
func (p *Pusher) sweepRetry(now time.Time) {
	for ip, r := range p.retry {
		if !now.Before(r.notBefore) {
			p.pending[ip] = struct{}{}
		}
	}
}

// flush sends everything pending, MaxBatch entries per call, until done
// or a call fails.
func (p *Pusher) flush(ctx context.Context) {
	p.ipBuf = p.sub.Take(p.ipBuf[:0])
	for _, ip := range p.ipBuf {
		if ip != p.opts.Canary.IP {
			p.pending[ip] = struct{}{}
		}
	}
	for len(p.pending) > 0 && ctx.Err() == nil {
		if !p.flushOnce(ctx) {
			return
		}
	}
	if len(p.pending) == 0 {
		p.pending = make(map[netip.Addr]struct{}) // drop a burst's high-water memory
	}
}

// flushOnce sends one call's worth; false when the call failed.
func (p *Pusher) flushOnce(ctx context.Context) bool {
	now := p.opts.Clock.Now()
	ips := p.ipBuf[:0]
	for ip := range p.pending {
		if r, ok := p.retry[ip]; ok && now.Before(r.notBefore) {
			delete(p.pending, ip) // sweepRetry brings it back
			continue
		}
		ips = append(ips, ip)
		if len(ips) >= p.opts.MaxBatch {
			break
		}
	}
	p.ipBuf = ips
	if len(ips) == 0 {
		return true
	}
	des := p.state.DesiredBatch(ips, p.desBuf[:0])
	p.desBuf = des
	items := p.itemBuf[:0]
	for i, ip := range ips {
		rec := p.actual[ip]
		items = append(items, diff.Item{
			IP:           ip,
			Desired:      des[i].Tags,
			Actual:       rec.tags,
			Refresh:      des[i].Tags.Len() > 0 && p.refreshDue(rec, now),
			NoUnregister: !p.ready && !des[i].Claimed,
		})
	}
	p.itemBuf = items
	batches := diff.Plan(items, p.opts.Owns, p.opts.MaxBatch)
	if len(batches) == 0 {
		for _, ip := range ips {
			delete(p.pending, ip)
		}
		return true
	}
	b := batches[0]
	// IPs that planned nothing are done; IPs in later batches stay pending.
	inBatch := make(map[netip.Addr]struct{}, len(b.Ops))
	for _, op := range b.Ops {
		inBatch[op.IP] = struct{}{}
	}
	deferred := make(map[netip.Addr]struct{})
	for _, lb := range batches[1:] {
		for _, op := range lb.Ops {
			deferred[op.IP] = struct{}{}
		}
	}
	idx := make(map[netip.Addr]int, len(ips))
	for i, ip := range ips {
		idx[ip] = i
		if _, ok := inBatch[ip]; ok {
			continue
		}
		if _, ok := deferred[ip]; !ok {
			delete(p.pending, ip)
		}
	}
	u := p.update(b)
	sctx, span := p.startBatchSpan(ctx, b, items, idx, des, u)
	t0 := p.opts.Clock.Now()
	res, err := p.fw.Update(sctx, u)
	endBatchSpan(span, res, err)
	info := CallInfo{Unregister: len(u.Unregister), Register: len(u.Register), Failed: len(res.Failed), Duration: p.opts.Clock.Now().Sub(t0), Err: err}
	if p.opts.Hooks.Call != nil {
		p.opts.Hooks.Call(p.opts.Name, info)
	}
	if err != nil {
		// Unknown what applied: keep everything we may have added as
		// possibly present and re-send in full (register and unregister are
		// idempotent on the target).
		for _, op := range b.Ops {
			rec := p.actual[op.IP]
			if len(op.Register) > 0 {
				rec.tags = union(rec.tags, op.Register)
			}
			rec.expires = uncertainExpiry
			p.actual[op.IP] = rec
		}
		if ctx.Err() == nil {
			p.fail(now, fmt.Errorf("update %s: %w", p.opts.Name, err))
		}
		return false
	}
	p.succeed()
	p.applyResult(b, des, items, idx, res, now)
	return true
}

func (p *Pusher) update(b diff.Batch) Update {
	var u Update
	for _, op := range b.Ops {
		if len(op.Unregister) > 0 {
			e := Entry{IP: op.IP, Tags: make([]Tag, len(op.Unregister))}
			for i, t := range op.Unregister {
				e.Tags[i] = Tag{Name: t}
			}
			u.Unregister = append(u.Unregister, e)
		}
		if len(op.Register) > 0 {
			e := Entry{IP: op.IP, Tags: make([]Tag, len(op.Register))}
			for i, t := range op.Register {
				e.Tags[i] = Tag{Name: t, Timeout: p.opts.TagTTL}
			}
			u.Register = append(u.Register, e)
		}
	}
	return u
}

func (p *Pusher) applyResult(b diff.Batch, des []store.Desired, items []diff.Item, idx map[netip.Addr]int, res UpdateResult, now time.Time) {
	type fails struct{ unreg, reg, capFull bool }
	var failed map[netip.Addr]fails
	if len(res.Failed) > 0 {
		failed = make(map[netip.Addr]fails, len(res.Failed))
		for _, e := range res.Failed {
			ip := e.IP.Unmap()
			f := failed[ip]
			if e.Op == "unregister" {
				f.unreg = true
			} else {
				f.reg = true
			}
			f.capFull = f.capFull || e.CapacityFull
			failed[ip] = f
			if p.opts.Hooks.EntryError != nil {
				p.opts.Hooks.EntryError(p.opts.Name, e)
			}
		}
		p.log.Warn("target refused entries", "refused", len(res.Failed), "first_ip", res.Failed[0].IP, "first_message", res.Failed[0].Message)
	}
	capHit, regOK := false, false
	for _, op := range b.Ops {
		i := idx[op.IP]
		d := des[i]
		rec := p.actual[op.IP]
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
			case p.opts.TagTTL == 0:
				exp = 0
			case refreshed || rec.tags.Len() == 0 || exp <= 0:
				exp = now.Add(p.opts.TagTTL).UnixNano()
			}
			regOK = true
		}
		if next.Equal(d.Tags) {
			next = d.Tags
		}
		if next.Len() == 0 {
			delete(p.actual, op.IP)
		} else {
			p.actual[op.IP] = actualRec{tags: next, expires: exp}
		}
		if f.unreg || f.reg {
			r := p.retry[op.IP]
			r.attempts++
			base := p.opts.EntryRetryBase
			if f.capFull {
				capHit = true
				base *= 8
			}
			dl := base << min(r.attempts-1, 30)
			if dl <= 0 || dl > p.opts.EntryRetryMax {
				dl = p.opts.EntryRetryMax
			}
			r.notBefore = now.Add(p.jitter(dl))
			p.retry[op.IP] = r
			delete(p.pending, op.IP)
			continue
		}
		delete(p.retry, op.IP)
		delete(p.pending, op.IP)
		// Applied marks new tags reaching the target, not TTL refreshes.
		if len(op.Register) > 0 && p.opts.Hooks.Applied != nil && len(tags.Minus(d.Tags, rec.tags)) > 0 {
			p.opts.Hooks.Applied(p.opts.Name, op.IP, d.FirstSeen, d.Span)
		}
	}
	if capHit && !p.capFull {
		p.capFull = true
		p.log.Error("target registered-IP capacity reached: registrations refused and retried with backoff")
	} else if !capHit && regOK && p.capFull {
		p.capFull = false
		p.log.Info("target accepts registrations again")
	}
}

func union(s tags.Set, add []string) tags.Set {
	if len(add) == 0 {
		return s
	}
	all := append(append([]string(nil), s.Slice()...), add...)
	return tags.NewSet(all...)
}
