package aggregator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kubedag/kubedag/aggregator/config"
	"github.com/kubedag/kubedag/aggregator/dags"
	"github.com/kubedag/kubedag/aggregator/push"
)

// dagReader is what reading a target's DAGs needs of its client;
// *userid.Client is one.
type dagReader interface {
	dags.Reader
	LastCommit(ctx context.Context) (int, error)
}

// targetDAGs is one target's DAG watcher and, when the target prunes, the
// filter its pushers (one per leadership term) follow.
type targetDAGs struct {
	name    string
	cfg     config.TargetDAGs
	watcher *dags.Watcher
	filter  *push.FilterVar // nil unless pruning
	pruning atomic.Bool     // the filter prunes (false: every tag registered)
	log     *slog.Logger
}

func newTargetDAGs(t config.Target, fw push.Firewall, log *slog.Logger) (*targetDAGs, error) {
	r, ok := fw.(dagReader)
	if !ok {
		return nil, errors.New("dags: the target's client cannot read the configuration")
	}
	td := &targetDAGs{name: t.Name, cfg: *t.DAGs, log: log.With("target", t.Name)}
	if td.cfg.Prune {
		td.filter = push.NewFilterVar(nil)
	}
	td.watcher = dags.New(dags.Config{
		Reader:        r,
		Panorama:      t.Kind == config.KindPanorama,
		Interval:      td.cfg.Interval.Duration,
		Probe:         r.LastCommit,
		ProbeInterval: td.cfg.ProbeInterval.Duration,
		Logger:        td.log,
		OnChange:      td.changed,
	})
	return td, nil
}

// changed installs the pruning decision of a new Set. A failed re-read
// never gets here (the watcher keeps the last good Set), so nothing flaps
// while filters are re-read or the target is unreachable.
func (td *targetDAGs) changed(s *dags.Set) {
	if td.filter == nil {
		return
	}
	p := dags.PruningOf(s, td.cfg.AlwaysKeep)
	if p == nil {
		// The watcher has logged each DAG that does not parse.
		if td.pruning.Swap(false) || len(s.Filters) == 0 {
			why := "a dynamic address group filter does not parse"
			if len(s.Filters) == 0 {
				why = "no dynamic address group found (can the API key read every location?)"
			}
			td.log.Warn("tag pruning suspended: every tag is registered", "reason", why, "unparsable", len(s.Unparsable()))
		}
		td.filter.Set(nil)
		return
	}
	if !td.pruning.Swap(true) {
		td.log.Info("tag pruning active", "referenced_tags", len(s.Tags()), "always_keep", len(td.cfg.AlwaysKeep))
	}
	td.filter.Set(p)
}

// waitFirstRead holds a pruning target's pusher until the first read
// (bounded by FirstReadTimeout; then every tag is registered until a read
// succeeds), so a restart does not register tags only to prune them.
func (td *targetDAGs) waitFirstRead(ctx context.Context) {
	if td == nil || td.filter == nil {
		return
	}
	t := time.NewTimer(td.cfg.FirstReadTimeout.Duration)
	defer t.Stop()
	select {
	case <-td.watcher.Ready():
	case <-t.C:
		td.log.Warn("dynamic address groups not read yet; registering every tag until they are",
			"waited", td.cfg.FirstReadTimeout.Duration)
	case <-ctx.Done():
	}
}

// DAGs returns target's last good read of its Dynamic Address Groups: nil
// when the target's DAGs are not read (no dags section) or before the
// first read succeeds.
func (a *Aggregator) DAGs(target string) *dags.Set {
	td := a.dags[target]
	if td == nil {
		return nil
	}
	return td.watcher.Current()
}

// TagFilter returns target's current tag pruning (the tags it is to hold
// of the desired ones); nil when every desired tag is registered there.
func (a *Aggregator) TagFilter(target string) push.TagFilter {
	td := a.dags[target]
	if td == nil || td.filter == nil {
		return nil
	}
	return td.filter.Get()
}

// filterOf is target's pusher filter (nil: no pruning).
func (a *Aggregator) filterOf(target string) *push.FilterVar {
	if td := a.dags[target]; td != nil {
		return td.filter
	}
	return nil
}

// observeDAGs registers the DAG gauges; the caller unregisters them.
func (a *Aggregator) observeDAGs() (metric.Registration, error) {
	m := otel.Meter("kubedag/aggregator")
	filters, err1 := m.Int64ObservableGauge("kubedag_dag_filters",
		metric.WithDescription("Dynamic Address Groups read from each target's running config (last good read)."))
	unparsable, err2 := m.Int64ObservableGauge("kubedag_dag_unparsable",
		metric.WithDescription("1 per Dynamic Address Group whose filter kubedag cannot parse, by target, location and group; while any exists the target's tags are not pruned."))
	referenced, err3 := m.Int64ObservableGauge("kubedag_dag_referenced_tags",
		metric.WithDescription("Distinct tags the target's DAG filters reference."))
	pruning, err4 := m.Int64ObservableGauge("kubedag_tag_pruning",
		metric.WithDescription("1 when the target registers only DAG-referenced tags, 0 when it registers every tag (pruning off, suspended, or DAGs not read yet)."))
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, fmt.Errorf("dag metrics: %w", err)
	}
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for name, td := range a.dags {
			t := attribute.String("target", name)
			p := int64(0)
			if td.pruning.Load() {
				p = 1
			}
			if td.filter != nil {
				o.ObserveInt64(pruning, p, metric.WithAttributes(t))
			}
			s := td.watcher.Current()
			if s == nil {
				continue
			}
			o.ObserveInt64(filters, int64(len(s.Filters)), metric.WithAttributes(t))
			o.ObserveInt64(referenced, int64(len(s.Tags())), metric.WithAttributes(t))
			for _, f := range s.Unparsable() {
				o.ObserveInt64(unparsable, 1, metric.WithAttributes(t,
					attribute.String("location", f.Location.String()), attribute.String("group", f.Group)))
			}
		}
		return nil
	}, filters, unparsable, referenced, pruning)
}
