package podwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	"github.com/kubedag/kubedag/tags"
)

// Sink receives the per-IP results of the watcher. Calls come from one
// goroutine (the one running Run) and must not block for long.
type Sink interface {
	// Upsert reports that ip is claimed by a local pod with identity id,
	// either newly or with a changed identity. seen is when the change was
	// first observed (the informer event that made the pod dirty).
	Upsert(ip netip.Addr, id tags.Identity, seen time.Time)
	// Remove reports that no local pod claims ip any more.
	Remove(ip netip.Addr)
}

// Source lists and watches the objects the watcher reads. agent/kubeapi
// implements it over REST (what the agent runs); agent/kubeapi/typed over a
// client-go clientset.
type Source interface {
	// Pods lists and watches the pods whose spec.nodeName is node, and
	// only those.
	Pods(node string) cache.ListerWatcher
	// Namespaces lists and watches every Namespace.
	Namespaces() cache.ListerWatcher
}

// Config configures a Watcher.
type Config struct {
	// Source is where pods and Namespaces come from. Required.
	Source Source
	// NodeName is this node's name (downward API NODE_NAME). Required.
	NodeName string
	// Sink receives the claims. Required.
	Sink Sink
	// AllowHostNetwork lets hostNetwork pods claim their IPs, which are the
	// node's own IPs. Default false: the node IP never carries a pod's tags.
	AllowHostNetwork bool
	// Multus also claims the IPs of pods' secondary interfaces listed in
	// their k8s.v1.cni.cncf.io/network-status annotation, each with the
	// pod's identity plus the attachment's name (Identity.Network). A
	// malformed annotation is logged and its IPs are not claimed; the
	// pod's own IPs are unaffected. The aggregator must run with Multus
	// too, or it refuses these claims. Default false.
	Multus bool
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock used to timestamp changes; defaults to time.Now.
	Now func() time.Time
}

func (c *Config) validate() error {
	if c.Source == nil {
		return errors.New("podwatch: Source is required")
	}
	if c.NodeName == "" {
		return errors.New("podwatch: NodeName is required")
	}
	if c.Sink == nil {
		return errors.New("podwatch: Sink is required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Watcher watches the pods of one node and reports their IPs' identities.
type Watcher struct {
	cfg Config
	log *slog.Logger

	pods       cache.SharedIndexInformer
	namespaces cache.SharedIndexInformer
	regs       []cache.ResourceEventHandlerRegistration

	started  atomic.Bool
	synced   atomic.Bool
	syncedCh chan struct{} // closed when synced turns true

	mu    sync.Mutex
	dirty map[string]time.Time // pod key -> when first marked dirty
	poke  chan struct{}

	// Owned by the Run goroutine.
	rec reconciler

	conflicts atomic.Int64
}

// New builds a Watcher and registers its informers and handlers. It starts
// no goroutines; call Run.
func New(cfg Config) (*Watcher, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	w := &Watcher{
		syncedCh: make(chan struct{}),
		cfg:      cfg,
		log:      cfg.Logger.With("component", "podwatch"), // the caller's logger names the node
		dirty:    make(map[string]time.Time),
		poke:     make(chan struct{}, 1),
	}
	w.rec = newReconciler(w)
	node := cfg.NodeName
	multus := cfg.Multus
	transform := func(obj any) (any, error) { return trim(obj, multus), nil }
	informer := func(lw cache.ListerWatcher, example runtime.Object, ix cache.Indexers) (cache.SharedIndexInformer, error) {
		inf := cache.NewSharedIndexInformerWithOptions(lw, example, cache.SharedIndexInformerOptions{Indexers: ix})
		if err := inf.SetTransform(transform); err != nil {
			return nil, fmt.Errorf("podwatch: set transform: %w", err)
		}
		return inf, nil
	}
	var err error
	if w.pods, err = informer(cfg.Source.Pods(node), &corev1.Pod{},
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}); err != nil {
		return nil, err
	}
	if w.namespaces, err = informer(cfg.Source.Namespaces(), &corev1.Namespace{}, nil); err != nil {
		return nil, err
	}

	add := func(inf cache.SharedIndexInformer, h cache.ResourceEventHandler, what string) error {
		reg, err := inf.AddEventHandler(h)
		if err != nil {
			return fmt.Errorf("podwatch: add %s handler: %w", what, err)
		}
		w.regs = append(w.regs, reg)
		return nil
	}
	if err := add(w.pods, cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.markObj(obj) },
		UpdateFunc: func(_, obj any) { w.markObj(obj) },
		DeleteFunc: func(obj any) { w.markObj(obj) },
	}, "pod"); err != nil {
		return nil, err
	}
	if err := add(w.namespaces, cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.markNamespace(obj) },
		UpdateFunc: func(_, obj any) { w.markNamespace(obj) },
		DeleteFunc: func(obj any) { w.markNamespace(obj) },
	}, "Namespace"); err != nil {
		return nil, err
	}
	return w, nil
}

// HasSynced reports whether all informers have synced and the first full
// reconcile has been handed to the Sink (for /readyz).
func (w *Watcher) HasSynced() bool { return w.synced.Load() }

// Synced is closed once HasSynced is true.
func (w *Watcher) Synced() <-chan struct{} { return w.syncedCh }

// Conflicts returns the number of IPs currently reported by more than one
// local pod.
func (w *Watcher) Conflicts() int { return int(w.conflicts.Load()) }

// Run starts the informers, waits for them to sync, then reconciles dirty
// pods until ctx is done. It returns nil when ctx is cancelled, and waits for
// every goroutine it started. Run may be called only once.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("podwatch: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Deferred in this order: cancel first, then wait for the informers.
	defer wg.Wait()
	defer cancel()

	for _, inf := range []cache.SharedIndexInformer{w.pods, w.namespaces} {
		wg.Go(func() { inf.RunWithContext(ctx) })
	}
	syncs := make([]cache.InformerSynced, 0, len(w.regs))
	for _, r := range w.regs {
		syncs = append(syncs, r.HasSynced)
	}
	w.log.InfoContext(ctx, "waiting for informers to sync")
	if !cache.WaitForCacheSync(ctx.Done(), syncs...) {
		return nil // ctx done
	}
	w.reconcile()
	w.synced.Store(true)
	close(w.syncedCh) // Run runs once
	w.log.InfoContext(ctx, "informers synced", "ips", len(w.rec.emitted))
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.poke:
			w.reconcile()
		}
	}
}

func (w *Watcher) mark(key string) {
	w.mu.Lock()
	if _, ok := w.dirty[key]; !ok {
		w.dirty[key] = w.cfg.Now()
	}
	w.mu.Unlock()
	select {
	case w.poke <- struct{}{}:
	default:
	}
}

func (w *Watcher) takeDirty() map[string]time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.dirty) == 0 {
		return nil
	}
	d := w.dirty
	w.dirty = make(map[string]time.Time, len(d))
	return d
}

func (w *Watcher) markObj(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		w.log.Warn("pod event without key", "err", err)
		return
	}
	w.mark(key)
}

func (w *Watcher) markNamespace(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return
	}
	objs, err := w.pods.GetIndexer().ByIndex(cache.NamespaceIndex, ns.Name)
	if err != nil {
		w.log.Warn("list pods of namespace", "namespace", ns.Name, "err", err)
		return
	}
	for _, o := range objs {
		w.markObj(o)
	}
}
