package sandwich

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kubedag/kubedag/userid"
)

// Client is what the engine needs of a PAN-OS device; *userid.Client is
// one.
type Client interface {
	Get(ctx context.Context, xpath string) ([]byte, error)
	Edit(ctx context.Context, xpath, element string) error
	Delete(ctx context.Context, xpath string) error
	Move(ctx context.Context, xpath, where, dst string) error
	CommitPartial(ctx context.Context, p userid.Partial) (int, error)
	CommitAll(ctx context.Context, deviceGroup string, includeTemplate bool) (int, error)
	WaitJob(ctx context.Context, id int, poll time.Duration) (*userid.Job, error)
}

// Defaults of Options.
const (
	DefaultQuiet          = time.Second
	DefaultMaxDelay       = 5 * time.Second
	DefaultResyncInterval = time.Minute
	DefaultJobPoll        = time.Second
	DefaultMinBackoff     = time.Second
	DefaultMaxBackoff     = 2 * time.Minute
	DefaultRepeatProblems = 10 * time.Minute
)

// TargetClient is one sandwich target and the client that reaches it.
type TargetClient struct {
	Target Target
	Client Client
}

// Options configures an Engine.
type Options struct {
	// Cluster scopes every name and the ownership tag.
	Cluster string
	// Targets are the devices to keep in step (validated by New).
	Targets []TargetClient
	// Source yields the inventory.
	Source Source
	// Quiet: a sync starts once Services have not changed for Quiet
	// (default 1s), or MaxDelay (default 5s) after the first change of a
	// burst, so a burst costs one commit.
	Quiet, MaxDelay time.Duration
	// ResyncInterval re-reads and repairs every target (default 1m).
	ResyncInterval time.Duration
	// JobPoll is the commit job polling period (default 1s).
	JobPoll time.Duration
	// MinBackoff and MaxBackoff bound the retry delay of a failed sync
	// (defaults 1s, 2m; doubled per failure, jittered).
	MinBackoff, MaxBackoff time.Duration
	// RepeatProblems: the same problem is reported again at most this
	// often (default 10m).
	RepeatProblems time.Duration
	// OnProblem is told every problem (deduplicated), for Events and
	// metrics.
	OnProblem func(Problem)
	// OnCommit is told every commit (or push) outcome, for metrics. kind
	// is "commit" or "push".
	OnCommit func(target, kind string, err error)
	// OnCommitted is told, per Service whose config a commit (and push)
	// carried, how long ago the Service changed.
	OnCommitted func(target, service string, latency time.Duration)
	Logger      *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Engine keeps every target's sandwich config in step with the labelled
// Services and the inventory. It holds no queue: SetServices replaces the
// Service set and marks every target dirty; each target's loop syncs its
// whole config from the latest set.
type Engine struct {
	opts  Options
	loops []*loop

	mu       sync.Mutex
	services []Service
	changed  map[string]time.Time // Service key -> when its config last changed
	reported map[string]time.Time // problem -> last reported
}

// New validates opts and every target; it starts nothing.
func New(opts Options) (*Engine, error) {
	if opts.Cluster == "" || opts.Source == nil {
		return nil, errors.New("sandwich: Cluster and Source are required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.Quiet, DefaultQuiet)
	def(&opts.MaxDelay, DefaultMaxDelay)
	def(&opts.ResyncInterval, DefaultResyncInterval)
	def(&opts.JobPoll, DefaultJobPoll)
	def(&opts.MinBackoff, DefaultMinBackoff)
	def(&opts.MaxBackoff, DefaultMaxBackoff)
	def(&opts.RepeatProblems, DefaultRepeatProblems)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OnProblem == nil {
		opts.OnProblem = func(Problem) {}
	}
	if opts.OnCommit == nil {
		opts.OnCommit = func(string, string, error) {}
	}
	if opts.OnCommitted == nil {
		opts.OnCommitted = func(string, string, time.Duration) {}
	}
	e := &Engine{opts: opts, changed: map[string]time.Time{}, reported: map[string]time.Time{}}
	seen := map[string]bool{}
	for _, tc := range opts.Targets {
		t := tc.Target
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("sandwich: target %s: %w", t.Name, err)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("sandwich: target %s listed twice", t.Name)
		}
		seen[t.Name] = true
		if tc.Client == nil {
			return nil, fmt.Errorf("sandwich: target %s: no client", t.Name)
		}
		e.loops = append(e.loops, &loop{e: e, t: t, c: tc.Client, dirty: make(chan struct{}, 1),
			uncommitted: true, log: opts.Logger.With("sandwich_target", t.Name)})
	}
	return e, nil
}

// SetServices replaces the labelled Services and marks every target dirty.
// A Service whose config-relevant fields changed (or that is new) starts
// its change-to-committed clock now.
func (e *Engine) SetServices(svcs []Service) {
	now := e.opts.Now()
	e.mu.Lock()
	old := make(map[string]Service, len(e.services))
	for _, s := range e.services {
		old[s.Key()] = s
	}
	changed := make(map[string]time.Time, len(svcs))
	for _, s := range svcs {
		if o, ok := old[s.Key()]; ok && o == s {
			changed[s.Key()] = e.changed[s.Key()]
		} else {
			changed[s.Key()] = now
		}
	}
	e.services = slices.Clone(svcs)
	e.changed = changed
	e.mu.Unlock()
	for _, l := range e.loops {
		l.poke()
	}
}

// Kick marks every target dirty (the inventory changed).
func (e *Engine) Kick() {
	for _, l := range e.loops {
		l.poke()
	}
}

func (e *Engine) snapshot() ([]Service, map[string]time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.services), e.changed
}

// report passes p on unless the same problem was reported within
// RepeatProblems.
func (e *Engine) report(p Problem) {
	now := e.opts.Now()
	key := p.Service + "\x00" + p.Target + "\x00" + p.Reason + "\x00" + p.Message
	e.mu.Lock()
	last, ok := e.reported[key]
	fresh := !ok || now.Sub(last) >= e.opts.RepeatProblems
	if fresh {
		e.reported[key] = now
	}
	// Bounded: forget problems not seen for a while.
	if len(e.reported) > 4096 {
		for k, t := range e.reported {
			if now.Sub(t) >= e.opts.RepeatProblems {
				delete(e.reported, k)
			}
		}
	}
	e.mu.Unlock()
	if fresh {
		e.opts.OnProblem(p)
	}
}

// Run runs one loop per target until ctx ends; a target that is down or
// failing never delays another.
func (e *Engine) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, l := range e.loops {
		wg.Go(func() { l.run(ctx) })
	}
	wg.Wait()
	return nil
}

// loop keeps one target in step.
type loop struct {
	e     *Engine
	t     Target
	c     Client
	log   *slog.Logger
	dirty chan struct{}

	// uncommitted: kubedag may have changes in the candidate config that
	// are not committed (at start: a previous run may have died between
	// set and commit); unpushed: Panorama committed but not pushed.
	uncommitted, unpushed bool
	// pending are the Services whose changes await a commit.
	pending map[string]bool

	mu     sync.Mutex
	status TargetStatus
}

func (l *loop) poke() {
	select {
	case l.dirty <- struct{}{}:
	default:
	}
}

func (l *loop) run(ctx context.Context) {
	o := l.e.opts
	backoff := time.Duration(0)
	resync := time.NewTimer(0) // first sync at once
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-resync.C:
			// A change arrived too: let its burst settle first.
			select {
			case <-l.dirty:
				if !l.settle(ctx) {
					return
				}
			default:
			}
		case <-l.dirty:
			if !l.settle(ctx) {
				return
			}
		}
		err := l.sync(ctx)
		if ctx.Err() != nil {
			return
		}
		next := o.ResyncInterval
		if err != nil {
			backoff = min(max(backoff*2, o.MinBackoff), o.MaxBackoff)
			next = backoff/2 + rand.N(backoff/2+1)
			l.log.Warn("sandwich sync failed", "err", err.Error(), "retry_in", next)
		} else {
			backoff = 0
		}
		l.setStatus(func(s *TargetStatus) {
			s.LastSync = o.Now()
			s.LastError = ""
			if err != nil {
				s.LastError = err.Error()
			}
		})
		resync.Reset(next)
	}
}

// settle waits until no change arrived for Quiet, or MaxDelay passed.
func (l *loop) settle(ctx context.Context) bool {
	o := l.e.opts
	deadline := time.NewTimer(o.MaxDelay)
	defer deadline.Stop()
	quiet := time.NewTimer(o.Quiet)
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return true
		case <-quiet.C:
			return true
		case <-l.dirty:
			quiet.Reset(o.Quiet)
		}
	}
}

// targetError wraps failures to reach or read the target.
type targetError struct{ err error }

func (e *targetError) Error() string { return e.err.Error() }
func (e *targetError) Unwrap() error { return e.err }

// sync makes one pass: read, plan, apply, commit (and push).
func (l *loop) sync(ctx context.Context) error {
	o := l.e.opts
	t := l.t
	inv, err := o.Source.Inventory(ctx)
	if err != nil {
		if inv.Subnets == nil && inv.Firewalls == nil && inv.LoadBalancers == nil {
			// Never had an inventory: programming without one would
			// delete every route and outbound rule.
			return fmt.Errorf("inventory: %w", err)
		}
		l.log.Warn("sandwich inventory refresh failed; using the last one", "err", err.Error())
	}
	svcs, changed := l.e.snapshot()
	names := Names{Cluster: o.Cluster}
	desired, problems := Build(o.Cluster, inv, svcs, t)

	actual := Actual{}
	for _, k := range Kinds() {
		res, err := l.c.Get(ctx, t.Container(k))
		if err != nil && !userid.IsNotFound(err) {
			l.e.report(Problem{Target: t.Name, Reason: ReasonTargetDown, Message: err.Error()})
			return &targetError{fmt.Errorf("read %s: %w", k, err)}
		}
		held, err := ParseHeld(res)
		if err != nil {
			return fmt.Errorf("read %s: %w", k, err)
		}
		actual[k] = held
	}
	ops, p := Plan(t, names, desired, actual)
	problems = append(problems, p...)
	for _, pr := range problems {
		if pr.Target == "" && pr.Reason != ReasonILBNotFound && pr.Reason != ReasonNotInternalNLB && pr.Reason != ReasonBadSubnet && pr.Reason != ReasonIPv6Subnet {
			pr.Target = t.Name
		}
		l.e.report(pr)
	}

	failed := map[string]bool{}
	applied := 0
	if l.pending == nil {
		l.pending = map[string]bool{}
	}
	for _, op := range ops {
		if op.Service != "" && failed[op.Service] {
			continue
		}
		var err error
		switch op.Action {
		case ActionEdit:
			err = l.c.Edit(ctx, op.XPath, op.Element)
		case ActionDelete:
			err = l.c.Delete(ctx, op.XPath)
		case ActionMove:
			err = l.c.Move(ctx, op.XPath, op.Where, op.Dst)
		}
		if err != nil {
			var api *userid.APIError
			if !errors.As(err, &api) {
				l.e.report(Problem{Target: t.Name, Reason: ReasonTargetDown, Message: err.Error()})
				return &targetError{fmt.Errorf("%s: %w", op, err)}
			}
			// The device refused this entry: report it and leave the
			// rest of that Service for the next sync.
			l.e.report(Problem{Service: op.Service, Target: t.Name, Reason: ReasonSetFailed,
				Message: fmt.Sprintf("%s at %s: %s", op, op.XPath, api.Message)})
			if op.Service != "" {
				failed[op.Service] = true
			}
			continue
		}
		applied++
		l.uncommitted = true
		if op.Service != "" && !op.Repair {
			l.pending[op.Service] = true
		}
		if op.Repair {
			l.e.report(Problem{Service: op.Service, Target: t.Name, Reason: ReasonRepaired,
				Message: fmt.Sprintf("%s %s differed from what kubedag set (edited by hand?); put back", op.Kind, op.Name)})
		}
	}
	if applied > 0 {
		l.log.Info("sandwich config applied", "ops", applied, "planned", len(ops))
	}
	l.setStatus(func(s *TargetStatus) {
		s.Entries = entriesByService(desired)
		s.Managed = len(desired.Entries)
	})

	if l.uncommitted {
		if err := l.commit(ctx, desired); err != nil {
			return err
		}
		l.uncommitted = false
		if t.Panorama {
			l.unpushed = true
		}
	}
	if l.unpushed {
		if err := l.push(ctx, desired); err != nil {
			return err
		}
		l.unpushed = false
	}
	now := o.Now()
	for svc := range l.pending {
		if at, ok := changed[svc]; ok && !at.IsZero() {
			o.OnCommitted(t.Name, svc, now.Sub(at))
		}
	}
	clear(l.pending)
	if len(failed) > 0 {
		return fmt.Errorf("%d Services' config refused by the device", len(failed))
	}
	return nil
}

func (l *loop) commit(ctx context.Context, desired Desired) error {
	o := l.e.opts
	t := l.t
	p := userid.Partial{Admins: []string{t.Admin}}
	if t.Panorama {
		p.DeviceGroups = []string{t.DeviceGroup}
		if t.Template != "" {
			p.Templates = []string{t.Template}
		} else {
			p.TemplateStacks = []string{t.TemplateStack}
		}
	}
	id, err := l.c.CommitPartial(ctx, p)
	if err == nil && id > 0 {
		var job *userid.Job
		job, err = l.c.WaitJob(ctx, id, o.JobPoll)
		l.recordJob("commit", id, job, err)
	}
	o.OnCommit(t.Name, "commit", err)
	if err != nil {
		l.reportJobFailure(ReasonCommitFailed, "commit", desired, err)
		return fmt.Errorf("commit: %w", err)
	}
	if id > 0 {
		l.log.Info("sandwich config committed", "job", id)
	}
	return nil
}

func (l *loop) push(ctx context.Context, desired Desired) error {
	o := l.e.opts
	t := l.t
	id, err := l.c.CommitAll(ctx, t.DeviceGroup, true)
	if err == nil && id > 0 {
		var job *userid.Job
		job, err = l.c.WaitJob(ctx, id, o.JobPoll)
		l.recordJob("push", id, job, err)
	}
	o.OnCommit(t.Name, "push", err)
	if err != nil {
		l.reportJobFailure(ReasonPushFailed, "push", desired, err)
		return fmt.Errorf("push: %w", err)
	}
	if id > 0 {
		l.log.Info("sandwich config pushed", "job", id, "device_group", t.DeviceGroup)
	}
	return nil
}

// reportJobFailure reports a failed commit or push: on each Service whose
// entries the job's messages name, and on the target as a whole.
func (l *loop) reportJobFailure(reason, what string, desired Desired, err error) {
	var je *userid.JobError
	if !errors.As(err, &je) {
		var api *userid.APIError
		if !errors.As(err, &api) {
			reason = ReasonTargetDown
		}
		l.e.report(Problem{Target: l.t.Name, Reason: reason, Message: fmt.Sprintf("%s: %v", what, err)})
		return
	}
	lines := slices.Clone(je.Job.Details)
	for _, d := range je.Job.Devices {
		if !strings.EqualFold(d.Result, "OK") {
			lines = append(lines, fmt.Sprintf("device %s (%s): %s %s: %s", d.Name, d.Serial, d.Status, d.Result, strings.Join(d.Details, "; ")))
		}
	}
	msg := fmt.Sprintf("%s job %d failed: %s", what, je.Job.ID, strings.Join(lines, "; "))
	named := map[string]bool{}
	for _, e := range desired.Entries {
		if e.Service == "" || named[e.Service] {
			continue
		}
		for _, line := range lines {
			if strings.Contains(line, e.Name) {
				named[e.Service] = true
				l.e.report(Problem{Service: e.Service, Target: l.t.Name, Reason: reason, Message: msg})
				break
			}
		}
	}
	l.e.report(Problem{Target: l.t.Name, Reason: reason, Message: msg})
}

func entriesByService(d Desired) map[string][]string {
	out := map[string][]string{}
	for _, e := range d.Entries {
		out[e.Service] = append(out[e.Service], e.Kind.String()+" "+e.Name)
	}
	return out
}
