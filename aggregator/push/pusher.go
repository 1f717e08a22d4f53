package push

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kubedag/kubedag/aggregator/store"
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
	DesiredState
	Subscribe() *store.Subscription
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

// keepBufAbove is the capacity (in IPs) above which a scratch buffer is
// dropped after use instead of kept for the next, so a burst or a large
// listing does not pin its high-water memory.
const keepBufAbove = 4096

// Pusher keeps one target in step with the desired state: an Engine that
// decides, under a loop (Run) that does the I/O. Create it with New.
type Pusher struct {
	fw     Firewall
	state  State
	opts   Options
	tracer trace.Tracer
	eng    *Engine // owned by the Run goroutine

	running atomic.Bool
	mu      sync.Mutex
	status  Status
	queries chan holdingQuery // Holding, answered by Run
}

// New returns a Pusher for one target. It does no I/O and starts nothing.
func New(fw Firewall, state State, opts Options) (*Pusher, error) {
	if fw == nil || state == nil {
		return nil, errors.New("push: nil Firewall or State")
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	p := &Pusher{fw: fw, state: state, opts: opts, tracer: opts.TracerProvider.Tracer(tracerName), eng: newEngine(state, opts), queries: make(chan holdingQuery)}
	p.status.Target = opts.Name
	return p, nil
}

// Status returns a snapshot of the pusher's health.
func (p *Pusher) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

func (p *Pusher) publish(running bool) {
	s := p.eng.Status()
	s.Running = running
	p.mu.Lock()
	p.status = s
	p.mu.Unlock()
}

// Run pushes until ctx ends, then returns nil (or an error if it could not
// run). It is meant to run while this replica leads; every Run starts from
// a reconcile, so it may be called again after a previous Run returned.
func (p *Pusher) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("push: Run already running")
	}
	defer p.running.Store(false)
	now, e := p.opts.Now, p.eng
	e.Reset(now())
	sub := p.state.Subscribe()
	defer func() { sub.Close(); p.publish(false) }()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	readyC := p.opts.Ready
	var filterC <-chan struct{}
	if p.opts.Filter != nil {
		filterC = p.opts.Filter.Changed()
		e.SetFilter(now(), p.opts.Filter.Get())
	}
	e.log.Info("pusher started")
	for ctx.Err() == nil {
		p.answerQueries()
		a := e.Next(now())
		if a.Kind != Wait {
			p.do(ctx, a)
			continue
		}
		p.publish(true)
		timer.Reset(a.Wake.Sub(now()))
		select {
		case <-ctx.Done():
		case <-timer.C:
		case <-sub.C():
			e.DirtySet(now(), sub.TakeSet())
		case <-readyC:
			readyC = nil
			e.OpenGate("ready")
		case <-filterC:
			e.SetFilter(now(), p.opts.Filter.Get())
		case q := <-p.queries:
			q.reply <- e.Holding(q.ip)
		}
	}
	return nil
}

// do carries out one I/O action and answers the engine with its result;
// when ctx ended during the call the answer is dropped (Run returns, and
// the next Run starts over with a reconcile).
func (p *Pusher) do(ctx context.Context, a Action) {
	e := p.eng
	switch a.Kind {
	case List, CheckCanary:
		regs, err := p.fw.RegisteredIPs(ctx, a.Tag)
		if ctx.Err() == nil {
			e.Listed(regs, err)
		}
	case RegisterCanary:
		res, err := p.fw.Update(ctx, a.Update)
		if ctx.Err() == nil {
			e.Sent(res, err)
		}
	case Send:
		sctx, span := p.startBatchSpan(ctx, a.Update)
		t0 := p.opts.Now()
		res, err := p.fw.Update(sctx, a.Update)
		endBatchSpan(span, res, err)
		if p.opts.Hooks.Call != nil {
			p.opts.Hooks.Call(p.opts.Name, CallInfo{Unregister: len(a.Update.Unregister), Register: len(a.Update.Register),
				Failed: len(res.Failed), Duration: p.opts.Now().Sub(t0), Err: err})
		}
		if ctx.Err() == nil {
			e.Sent(res, err)
		}
	}
}
