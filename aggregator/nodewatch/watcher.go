package nodewatch

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

// Source is the store source name of node claims.
const Source = "nodes"

// Sink receives the full node claim set; *store.Store implements it.
type Sink interface {
	Replace(source string, claims map[netip.Addr]store.Claim)
}

// Options configures a Watcher.
type Options struct {
	// Client reads Nodes (list/watch). Required.
	Client kubernetes.Interface
	// Deriver turns Nodes into tags; its Config().Nodes must be on, and
	// Config().NodeExternalIPs decides whether ExternalIPs are tagged.
	// Required.
	Deriver *tags.Deriver
	// Sink receives the claims. Required.
	Sink Sink
	// MinInterval merges bursts of Node changes (status heartbeats
	// included) into one rebuild. Default 1s.
	MinInterval time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock for FirstSeen; default time.Now.
	Now func() time.Time
	// OnProblem, if set, is told the reason of every new tag problem, for
	// metrics.
	OnProblem func(reason string)
}

// Watcher keeps the node source of the store in step with the cluster.
type Watcher struct {
	opts     Options
	external bool
	synced   atomic.Bool
	syncedCh chan struct{} // closed when synced turns true
	// prev keeps unchanged IPs' FirstSeen across rebuilds.
	prev map[netip.Addr]store.Claim
	// reported holds each Node's problems as last reported, so a rebuild
	// reports only new ones.
	reported map[types.UID]map[string]bool
}

// New validates opts; it starts nothing.
func New(opts Options) (*Watcher, error) {
	if opts.Client == nil || opts.Deriver == nil || opts.Sink == nil {
		return nil, fmt.Errorf("nodewatch: Client, Deriver and Sink are required")
	}
	if !opts.Deriver.Config().Nodes {
		return nil, fmt.Errorf("nodewatch: the tag policy has node tags off")
	}
	if opts.MinInterval <= 0 {
		opts.MinInterval = time.Second
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
	return &Watcher{opts: opts, external: opts.Deriver.Config().NodeExternalIPs, syncedCh: make(chan struct{})}, nil
}

// HasSynced reports whether the first full Node list has been applied.
func (w *Watcher) HasSynced() bool { return w.synced.Load() }

// Synced is closed once HasSynced is true.
func (w *Watcher) Synced() <-chan struct{} { return w.syncedCh }

// Run watches Nodes until ctx ends. Nothing is written to the sink before
// the informer has synced.
func (w *Watcher) Run(ctx context.Context) error {
	// Keep only what tags need: the heartbeat-driven rest of a Node (its
	// conditions, images, capacity) would be cached for nothing.
	factory := informers.NewSharedInformerFactoryWithOptions(w.opts.Client, 0,
		informers.WithTransform(func(obj any) (any, error) { return trim(obj), nil }))
	inf := factory.Core().V1().Nodes()
	poke := make(chan struct{}, 1)
	kick := func() {
		select {
		case poke <- struct{}{}:
		default:
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { kick() },
		UpdateFunc: func(old, obj any) { kick() },
		DeleteFunc: func(any) { kick() },
	}); err != nil {
		return fmt.Errorf("nodewatch: add handler: %w", err)
	}
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
		nodes, err := lister.List(labels.Everything())
		if err != nil {
			return fmt.Errorf("nodewatch: list nodes: %w", err)
		}
		w.apply(nodes)
		if !w.synced.Swap(true) {
			close(w.syncedCh)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-poke:
		}
		t := time.NewTimer(w.opts.MinInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// trim keeps of a Node its name, UID, version, labels and addresses.
func trim(obj any) any {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj
	}
	out := &corev1.Node{}
	out.Name, out.UID, out.ResourceVersion, out.Labels = n.Name, n.UID, n.ResourceVersion, n.Labels
	out.Status.Addresses = n.Status.Addresses
	return out
}

// apply rebuilds the claims from nodes and hands them to the sink.
func (w *Watcher) apply(nodes []*corev1.Node) {
	now := w.opts.Now()
	reported := make(map[types.UID]map[string]bool, len(w.reported))
	note := func(n *corev1.Node, problem string) bool {
		if reported[n.UID] == nil {
			reported[n.UID] = map[string]bool{}
		}
		reported[n.UID][problem] = true
		return !w.reported[n.UID][problem]
	}
	built := make(map[netip.Addr]*ipClaim)
	for _, n := range nodes {
		addrs, bad := Addrs(n, w.external)
		for _, b := range bad {
			if note(n, "invalid-ip "+b) {
				w.opts.Logger.Warn("node address not tagged", "node", n.Name, "problem", "unparsable IP "+b)
				w.opts.OnProblem("invalid-ip")
			}
		}
		id := Identity(n)
		var sets [2]tags.Set // internal, external
		for i, ext := range []bool{false, true} {
			if ext && !w.external {
				break
			}
			set, problems := w.opts.Deriver.NodeTags(id, ext)
			sets[i] = set
			for _, p := range problems {
				if !note(n, p.String()) {
					continue
				}
				w.opts.OnProblem(string(p.Reason))
				if p.Reason == tags.ReasonDenied {
					// Most node labels are not in the allow-list by design.
					w.opts.Logger.Debug("node label not tagged", "node", n.Name, "problem", p.String())
				} else {
					w.opts.Logger.Warn("node not fully tagged", "node", n.Name, "problem", p.String())
				}
			}
		}
		for _, a := range addrs {
			set := sets[0]
			if a.External {
				set = sets[1]
			}
			c := built[a.IP]
			if c == nil {
				c = &ipClaim{}
				built[a.IP] = c
			}
			c.tags = append(c.tags, set.Slice()...)
			c.owners = append(c.owners, string(n.UID))
		}
	}
	w.reported = reported
	claims := make(map[netip.Addr]store.Claim, len(built))
	same := w.prev != nil && len(w.prev) == len(built)
	for ip, c := range built {
		claim := store.Claim{Tags: tags.NewSet(c.tags...), Owner: c.owner(), FirstSeen: now}
		if p, ok := w.prev[ip]; ok && p.Owner == claim.Owner && p.Tags.Equal(claim.Tags) {
			claim.FirstSeen = p.FirstSeen
		} else {
			same = false
		}
		claims[ip] = claim
	}
	if same {
		// Heartbeats update every Node often; an unchanged claim set is
		// not handed to the store again (Replace scans the whole store).
		return
	}
	w.opts.Sink.Replace(Source, claims)
	w.prev = claims
}
