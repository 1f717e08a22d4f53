package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/kubedag/kubedag/aggregator/sandwich"
)

// EventComponent is the source of kubedag's sandwich Events.
const EventComponent = "kubedag-sandwich"

// Engine receives the Services to program; *sandwich.Engine is one.
type Engine interface {
	SetServices([]sandwich.Service)
}

// Options configures a Watcher.
type Options struct {
	// Client lists and watches Services and writes Events.
	Client kubernetes.Interface
	// LabelKey marks Services for the sandwich; default DefaultLabelKey.
	LabelKey string
	// Engine gets the checked Services.
	Engine Engine
	// Source, if set, is asked to refresh when the labelled Services
	// change (a new ILB may exist).
	Source sandwich.Source
	// OnProblem is told the reason of every reported problem (metrics).
	OnProblem func(reason string)
	Logger    *slog.Logger
}

// Watcher feeds the engine from labelled Services and turns problems into
// Events.
type Watcher struct {
	opts   Options
	synced atomic.Bool

	mu       sync.Mutex
	recorder record.EventRecorder
	checked  []Checked
	byKey    map[string]*corev1.Service
	// reported holds each Service's input problem as last reported, so
	// it is reported once, not on every change in the cluster.
	reported map[string]string
}

// New validates opts; it starts nothing.
func New(opts Options) (*Watcher, error) {
	if opts.Client == nil || opts.Engine == nil {
		return nil, errors.New("sandwich/kube: Client and Engine are required")
	}
	if opts.LabelKey == "" {
		opts.LabelKey = DefaultLabelKey
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.OnProblem == nil {
		opts.OnProblem = func(string) {}
	}
	return &Watcher{opts: opts, byKey: map[string]*corev1.Service{}, reported: map[string]string{}}, nil
}

// HasSynced reports whether the first Service list was handed on.
func (w *Watcher) HasSynced() bool { return w.synced.Load() }

// Run watches labelled Services and records Events until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	b := record.NewBroadcaster(record.WithContext(ctx))
	defer b.Shutdown()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: w.opts.Client.CoreV1().Events("")})
	w.mu.Lock()
	w.recorder = b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: EventComponent})
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.recorder = nil
		w.mu.Unlock()
	}()

	factory := informers.NewSharedInformerFactoryWithOptions(w.opts.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = w.opts.LabelKey }))
	inf := factory.Core().V1().Services()
	poke := make(chan struct{}, 1)
	kick := func() {
		select {
		case poke <- struct{}{}:
		default:
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { kick() }, UpdateFunc: func(any, any) { kick() }, DeleteFunc: func(any) { kick() },
	}); err != nil {
		return fmt.Errorf("sandwich/kube: add handler: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return nil
	}
	for {
		svcs, err := inf.Lister().List(labels.Everything())
		if err != nil {
			return fmt.Errorf("sandwich/kube: list services: %w", err)
		}
		w.apply(svcs)
		w.synced.Store(true)
		select {
		case <-ctx.Done():
			return nil
		case <-poke:
		}
	}
}

func (w *Watcher) apply(svcs []*corev1.Service) {
	checked := Check(svcs, w.opts.LabelKey)
	var good []sandwich.Service
	byKey := make(map[string]*corev1.Service, len(checked))
	reported := make(map[string]string, len(checked))
	var fresh []sandwich.Problem
	w.mu.Lock()
	for _, c := range checked {
		key := c.Svc.Namespace + "/" + c.Svc.Name
		byKey[key] = c.Svc
		if c.Problem == nil {
			good = append(good, c.Service)
			continue
		}
		id := string(c.Svc.UID) + "\x00" + c.Problem.Reason + "\x00" + c.Problem.Message
		reported[key] = id
		if w.reported[key] != id {
			fresh = append(fresh, *c.Problem)
		}
	}
	w.checked, w.byKey, w.reported = checked, byKey, reported
	w.mu.Unlock()
	for _, p := range fresh {
		w.Report(p)
	}
	w.opts.Engine.SetServices(good)
	if w.opts.Source != nil {
		w.opts.Source.Refresh()
	}
}

// Report logs p, counts it and, when it is a known Service's, records a
// Warning Event on the Service.
func (w *Watcher) Report(p sandwich.Problem) {
	w.opts.OnProblem(p.Reason)
	w.opts.Logger.Warn("sandwich problem", "service", p.Service, "target", p.Target, "reason", p.Reason, "message", p.Message)
	w.event(p.Service, corev1.EventTypeWarning, p.Reason, p.String())
}

// Programmed records a Normal Event: the Service's config is committed on
// target.
func (w *Watcher) Programmed(target, service string, latency time.Duration) {
	w.event(service, corev1.EventTypeNormal, "Programmed",
		fmt.Sprintf("firewall config committed on target %s (%s after the change)", target, latency.Round(time.Millisecond)))
}

func (w *Watcher) event(service, typ, reason, msg string) {
	if service == "" {
		return
	}
	w.mu.Lock()
	svc, rec := w.byKey[service], w.recorder
	w.mu.Unlock()
	if svc != nil && rec != nil {
		rec.Event(svc, typ, reason, msg)
	}
}

// Services returns every labelled Service with its problem, if any.
func (w *Watcher) Services() []sandwich.ServiceStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]sandwich.ServiceStatus, 0, len(w.checked))
	for _, c := range w.checked {
		s := sandwich.ServiceStatus{Namespace: c.Svc.Namespace, Name: c.Svc.Name, Port: c.Service.Port,
			TargetPort: c.Service.TargetPort, Hostname: c.Service.Hostname}
		if c.Problem != nil {
			s.Problems = []string{c.Problem.Reason + ": " + c.Problem.Message}
		}
		out = append(out, s)
	}
	return out
}
