// Package dags keeps, per PAN-OS target, the Dynamic Address Groups of its
// running config: which tags they reference (for tag pruning) and which
// filters kubedag could not parse (so pruning can refuse to guess).
//
// Set is the pure part, built from one read. Watcher is the thin loop
// that re-reads a target every Interval and whenever Kick is called (after
// a commit is noticed), and keeps the last good Set when a read fails, so
// nothing flaps while filters are re-read or a device is unreachable.
package dags

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubedag/kubedag/tags"
	"github.com/kubedag/kubedag/userid"
)

// Set is what one read of a target's DAGs found.
type Set struct {
	// Filters are every DAG's filter, parsed or not (Err set).
	Filters []userid.DAGFilter
	// Parents is Panorama's device-group hierarchy (nil on a firewall).
	Parents map[string]string
	// ReadAt is when the read finished.
	ReadAt time.Time

	tags map[string]struct{}
}

// NewSet builds a Set from a read.
func NewSet(filters []userid.DAGFilter, parents map[string]string, readAt time.Time) *Set {
	s := &Set{Filters: filters, Parents: parents, ReadAt: readAt, tags: map[string]struct{}{}}
	for i := range filters {
		if filters[i].Err != nil {
			continue
		}
		for _, t := range filters[i].Expr.Tags() {
			s.tags[t] = struct{}{}
		}
	}
	return s
}

// References reports whether some parsable DAG filter names tag.
func (s *Set) References(tag string) bool {
	_, ok := s.tags[tag]
	return ok
}

// Tags returns the referenced tags, sorted.
func (s *Set) Tags() []string {
	return slices.Sorted(maps.Keys(s.tags))
}

// Unparsable returns the DAGs whose filters did not parse. While there is
// one, the Set does not know every referenced tag: pruning must then keep
// all tags on that target rather than guess.
func (s *Set) Unparsable() []userid.DAGFilter {
	var out []userid.DAGFilter
	for _, f := range s.Filters {
		if f.Err != nil {
			out = append(out, f)
		}
	}
	return out
}

// Complete reports whether every filter parsed.
func (s *Set) Complete() bool { return len(s.Unparsable()) == 0 }

// Same reports whether s and o hold the same groups, filters and
// hierarchy (ReadAt aside).
func (s *Set) Same(o *Set) bool {
	if s == nil || o == nil {
		return s == o
	}
	if len(s.Filters) != len(o.Filters) || !maps.Equal(s.Parents, o.Parents) {
		return false
	}
	for i := range s.Filters {
		a, b := s.Filters[i], o.Filters[i]
		if a.Location != b.Location || a.Group != b.Group || a.Filter != b.Filter {
			return false
		}
	}
	return true
}

// Pruning is tag pruning's decision on one target: keep a tag when some
// parsable DAG filter read from the target references it, or when it
// matches one of the always-keep patterns (tags.GlobMatch syntax).
//
// The referenced tags are the union over every location read (shared,
// every vsys, every device group): a tag registered on a firewall is seen
// by the DAGs of all its vsys, and one registered on Panorama is
// redistributed to firewalls in any device group, so a DAG's place in the
// device-group hierarchy never narrows what must be kept. The union is a
// superset of what any one device needs: safe, never too few.
type Pruning struct {
	set    *Set
	always []string
}

// PruningOf returns the decision for s, or nil (keep every tag) when s is
// nil (nothing read yet), holds a DAG whose filter did not parse (that DAG
// may reference any tag, and pruning must never remove a tag it cannot
// prove unreferenced), or holds no DAG at all (more likely a key that may
// not read them than a target whose policy uses no tag).
func PruningOf(s *Set, always []string) *Pruning {
	if s == nil || !s.Complete() || len(s.Filters) == 0 {
		return nil
	}
	return &Pruning{set: s, always: always}
}

// Keep reports whether the target is to hold tag; a nil Pruning keeps
// every tag.
func (p *Pruning) Keep(tag string) bool {
	if p == nil || p.set.References(tag) {
		return true
	}
	for _, pat := range p.always {
		if tags.GlobMatch(pat, tag) {
			return true
		}
	}
	return false
}

// Reader reads a target's DAGs; *userid.Client is one.
type Reader interface {
	DAGFilters(ctx context.Context) ([]userid.DAGFilter, error)
	DeviceGroupParents(ctx context.Context) (map[string]string, error)
}

// Config configures a Watcher.
type Config struct {
	Reader   Reader
	Panorama bool          // also read the device-group hierarchy
	Interval time.Duration // default 60s
	Now      func() time.Time
	Logger   *slog.Logger
	// Probe, if set, is polled every ProbeInterval (default 10s) and the
	// DAGs are re-read as soon as its value changes: a cheap way to notice
	// a commit ((*userid.Client).LastCommit fits). The full read every
	// Interval stays as the safety net for changes the probe cannot see.
	Probe         func(ctx context.Context) (int, error)
	ProbeInterval time.Duration
	// OnChange, if set, is called from Run with each Set that differs from
	// the previous good one (the first good read included).
	OnChange func(*Set)
}

// Watcher re-reads one target's DAGs.
type Watcher struct {
	cfg       Config
	cur       atomic.Pointer[Set]
	kick      chan struct{}
	ready     chan struct{}
	readyOnce sync.Once
}

// New returns a Watcher; nothing is read before Run.
func New(cfg Config) *Watcher {
	if cfg.Interval <= 0 {
		cfg.Interval = 60 * time.Second
	}
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Watcher{cfg: cfg, kick: make(chan struct{}, 1), ready: make(chan struct{})}
}

// Ready is closed after the first good read.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Current returns the last good Set, nil before the first good read.
func (w *Watcher) Current() *Set { return w.cur.Load() }

// Kick asks Run to re-read now (e.g. after a commit was noticed). Kicks
// while a read is pending coalesce.
func (w *Watcher) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run reads at once, then every Interval and on Kick, until ctx ends. A
// failed read is logged and the last good Set kept.
func (w *Watcher) Run(ctx context.Context) error {
	log := w.cfg.Logger
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	var probeC <-chan time.Time
	last, probed := 0, false
	probe := func() (changed bool) {
		v, err := w.cfg.Probe(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Debug("commit probe failed", "err", err)
			}
			return false
		}
		changed = probed && v != last
		last, probed = v, true
		return changed
	}
	if w.cfg.Probe != nil {
		pt := time.NewTicker(w.cfg.ProbeInterval)
		defer pt.Stop()
		probeC = pt.C
		probe() // before the first read, so a commit after it is noticed
	}
	for {
		if err := w.readOnce(ctx); err != nil && ctx.Err() == nil {
			log.Warn("reading dynamic address groups failed; keeping the last good set", "err", err)
		}
		for read := false; !read; {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				read = true
			case <-w.kick:
				read = true
			case <-probeC:
				read = probe()
			}
		}
	}
}

func (w *Watcher) readOnce(ctx context.Context) error {
	fs, err := w.cfg.Reader.DAGFilters(ctx)
	if err != nil {
		return err
	}
	var parents map[string]string
	if w.cfg.Panorama {
		if parents, err = w.cfg.Reader.DeviceGroupParents(ctx); err != nil {
			return fmt.Errorf("device-group hierarchy: %w", err)
		}
	}
	s := NewSet(fs, parents, w.cfg.Now())
	// Ready only once OnChange has seen the first Set, so a waiter finds
	// what OnChange derives from it in place.
	defer w.readyOnce.Do(func() { close(w.ready) })
	prev := w.cur.Swap(s)
	if prev.Same(s) {
		return nil
	}
	for _, f := range s.Unparsable() {
		w.cfg.Logger.Warn("dynamic address group filter does not parse; tags on this target are not pruned",
			"location", f.Location.String(), "group", f.Group, "err", f.Err)
	}
	if w.cfg.OnChange != nil {
		w.cfg.OnChange(s)
	}
	return nil
}
