package aggregator

import (
	"context"
	"net/netip"

	"github.com/kubedag/kubedag/aggregator/dags"
	"github.com/kubedag/kubedag/aggregator/explain"
	"github.com/kubedag/kubedag/aggregator/push"
)

// explainPart is the `kubedag explain` endpoint (aggregator/explain) over
// this aggregator's store, pod view, claim gate, pushers and DAG watchers.
type explainPart struct {
	a       *Aggregator
	handler *explain.Handler
}

// explainHooks adds the recorder of per-IP acks (last confirmation, tag
// latency) to the pushers' hooks.
func (a *Aggregator) explainHooks(next push.Hooks) push.Hooks {
	a.recorder = explain.NewRecorder(0, nil)
	return a.recorder.Hooks(next)
}

// newExplain builds the endpoint when Options.ExplainListener is set.
func (a *Aggregator) newExplain() error {
	if a.opts.ExplainListener == nil {
		return nil
	}
	h, err := explain.NewHandler(explain.Config{Client: a.opts.Client, Deriver: a.deriver, Pods: a.pods, Store: a.store,
		Agents: a.gate, Targets: a.explainTargets, Leading: a.leading, Recorder: a.recorder, Logger: a.opts.Logger})
	if err != nil {
		return err
	}
	a.explain = &explainPart{a: a, handler: h}
	return nil
}

func (e *explainPart) serve(ctx context.Context) error {
	return explain.Serve(ctx, e.a.opts.ExplainListener, e.a.opts.StreamTLS, e.handler)
}

// explainTargets lists every configured target: its pusher of the current
// leadership term, if this replica leads, and its DAGs, read on every
// replica.
func (a *Aggregator) explainTargets() []explain.TargetSource {
	a.mu.Lock()
	pushers := make(map[string]*push.Pusher, len(a.pushers))
	for _, p := range a.pushers {
		pushers[p.Status().Target] = p
	}
	a.mu.Unlock()
	out := make([]explain.TargetSource, 0, len(a.targets))
	for _, t := range a.targets {
		name := t.name
		ts := explain.TargetSource{Name: name, DAGs: func() *dags.Set { return a.DAGs(name) },
			Holding: func(context.Context, netip.Addr) (push.Holding, error) { return push.Holding{}, push.ErrNotRunning },
			Status:  func() push.Status { return push.Status{Target: name} }}
		if p := pushers[name]; p != nil {
			ts.Holding, ts.Status = p.Holding, p.Status
		}
		out = append(out, ts)
	}
	return out
}
