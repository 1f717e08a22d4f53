package servicewatch

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/kubedag/kubedag/aggregator/store"
	"github.com/kubedag/kubedag/tags"
)

// Source is the store source name of Service claims.
const Source = "services"

// Sink receives the full Service claim set; *store.Store implements it.
type Sink interface {
	Replace(source string, claims map[netip.Addr]store.Claim)
}

// Options configures a Watcher.
type Options struct {
	// Client reads Services (list/watch, cluster-wide).
	Client kubernetes.Interface
	// Deriver turns Service identities into tags.
	Deriver *tags.Deriver
	// Sink receives the claims.
	Sink Sink
	// MinInterval merges bursts of Service changes into one rebuild.
	// Default 50ms.
	MinInterval time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock for FirstSeen; default time.Now.
	Now func() time.Time
	// OnProblem, if set, is told the reason of every new tag problem (a
	// label or IP that could not be tagged as written), for metrics.
	OnProblem func(reason string)
}

// Watcher keeps the Service source of the store in step with the cluster.
type Watcher struct {
	opts     Options
	synced   atomic.Bool
	syncedCh chan struct{} // closed when synced turns true
	// prev remembers each IP's last claim so unchanged IPs keep their
	// FirstSeen (the latency clock starts at a change, not at a rebuild).
	prev map[netip.Addr]store.Claim
	// reported holds each Service's problems as last reported, so a
	// rebuild reports only new ones instead of repeating every problem of
	// every Service on each change in the cluster.
	reported map[types.UID]map[string]bool
}

// New validates opts; it starts nothing.
func New(opts Options) (*Watcher, error) {
	if opts.Client == nil || opts.Deriver == nil || opts.Sink == nil {
		return nil, fmt.Errorf("servicewatch: Client, Deriver and Sink are required")
	}
	if opts.MinInterval <= 0 {
		opts.MinInterval = 50 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OnProblem == nil {
		opts.OnProblem = func(string) {}
	}
	return &Watcher{opts: opts, syncedCh: make(chan struct{})}, nil
}

// HasSynced reports whether the first full Service list has been applied.
func (w *Watcher) HasSynced() bool { return w.synced.Load() }

// Synced is closed once HasSynced is true.
func (w *Watcher) Synced() <-chan struct{} { return w.syncedCh }

// Run watches Services until ctx ends. Nothing is written to the sink
// before the informer has synced.
func (w *Watcher) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactory(w.opts.Client, 0)
	inf := factory.Core().V1().Services()
	poke := make(chan struct{}, 1)
	kick := func() {
		select {
		case poke <- struct{}{}:
		default:
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { kick() },
		UpdateFunc: func(any, any) { kick() },
		DeleteFunc: func(any) { kick() },
	}); err != nil {
		return fmt.Errorf("servicewatch: add handler: %w", err)
	}
	// Shutdown waits for the informers, which stop only when their stop
	// channel closes: cancel first, or an error return would block forever.
	ctx, cancel := context.WithCancel(ctx)
	factory.Start(ctx.Done())
	defer func() {
		cancel()
		factory.Shutdown()
	}()
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return ctx.Err()
	}
	lister := inf.Lister()
	for {
		svcs, err := lister.List(labels.Everything())
		if err != nil {
			return fmt.Errorf("servicewatch: list services: %w", err)
		}
		w.apply(svcs)
		if !w.synced.Swap(true) {
			close(w.syncedCh)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-poke:
		}
		// Merge a burst of changes into one rebuild.
		t := time.NewTimer(w.opts.MinInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// apply rebuilds the claims from svcs and hands them to the sink.
func (w *Watcher) apply(svcs []*corev1.Service) {
	now := w.opts.Now()
	reported := make(map[types.UID]map[string]bool, len(w.reported))
	// note records svc's problem and reports whether it is new.
	note := func(svc *corev1.Service, problem string) bool {
		if reported[svc.UID] == nil {
			reported[svc.UID] = map[string]bool{}
		}
		reported[svc.UID][problem] = true
		return !w.reported[svc.UID][problem]
	}
	report := func(svc *corev1.Service, reason, msg string) {
		if !note(svc, msg) {
			return
		}
		w.opts.OnProblem(reason)
		if reason == SkipExternalName || reason == SkipIngressHostname {
			// By design, not a fault: said once, quietly.
			w.opts.Logger.Info("service address not tagged", "namespace", svc.Namespace, "service", svc.Name, "reason", reason, "detail", msg)
			return
		}
		w.opts.Logger.Warn("service not fully tagged", "namespace", svc.Namespace, "service", svc.Name, "problem", msg)
	}
	derive := func(svc *corev1.Service) tags.Set {
		set, problems := w.opts.Deriver.Tags(Identity(svc))
		for _, p := range problems {
			if note(svc, p.String()) {
				w.opts.Logger.Warn("service not fully tagged", "namespace", svc.Namespace, "service", svc.Name, "problem", p.String())
				w.opts.OnProblem(string(p.Reason))
			}
		}
		return set
	}
	built := build(svcs, derive, report)
	w.reported = reported
	claims := make(map[netip.Addr]store.Claim, len(built))
	for ip, c := range built {
		claim := store.Claim{Tags: tags.NewSet(c.tags...), Owner: c.owner(), FirstSeen: now}
		if p, ok := w.prev[ip]; ok && p.Owner == claim.Owner && p.Tags.Equal(claim.Tags) {
			claim.FirstSeen = p.FirstSeen
		}
		claims[ip] = claim
	}
	w.opts.Sink.Replace(Source, claims)
	w.prev = claims
}
