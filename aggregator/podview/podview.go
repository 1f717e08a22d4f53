package podview

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/kubedag/kubedag/tags"
	"github.com/kubedag/kubedag/tags/podidentity"
)

// Pod is a pod that holds an IP, as the API server sees it.
type Pod struct {
	// Node is spec.nodeName.
	Node string
	// HostNetwork pods hold their node's IPs.
	HostNetwork bool
	// Identity is the pod's identity as the agent derives it, plus the
	// Services whose EndpointSlices list the pod.
	Identity tags.Identity
}

// Options configures a View.
type Options struct {
	// Client lists and watches Pods, EndpointSlices and Namespaces,
	// cluster-wide. Required.
	Client kubernetes.Interface
	// OnChange is told the IPs whose holders or identities may have
	// changed, after the view reflects the change. It is called from
	// informer goroutines and must return quickly. Optional.
	OnChange func(ips []netip.Addr)
	// Multus also indexes pods' secondary-interface IPs from their
	// k8s.v1.cni.cncf.io/network-status annotation (the agents' --multus):
	// such an IP's holder has the pod's identity plus the network
	// (Identity.Network). A malformed annotation is logged once and gives
	// the pod no secondary IPs. Default false.
	Multus bool
	// Logger, default slog.Default().
	Logger *slog.Logger
}

// View is the cluster-wide pod view. Build it with New, then Run it.
type View struct {
	opts       Options
	factory    informers.SharedInformerFactory
	pods       cache.SharedIndexInformer
	slices     cache.SharedIndexInformer
	namespaces cache.SharedIndexInformer
	regs       []cache.ResourceEventHandlerRegistration
	synced     atomic.Bool
	syncedCh   chan struct{}

	malMu     sync.Mutex
	malformed map[string]string // pod key -> network-status error last logged
}

const (
	ipIndex = "ip" // pod IP -> pods holding it
)

// New builds the informers and registers their handlers; it starts nothing.
func New(opts Options) (*View, error) {
	if opts.Client == nil {
		return nil, errors.New("podview: Client is required")
	}
	if opts.OnChange == nil {
		opts.OnChange = func([]netip.Addr) {}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	v := &View{opts: opts, syncedCh: make(chan struct{})}
	var secondary func(*corev1.Pod, []netip.Addr) []podidentity.NetworkIP
	if opts.Multus {
		v.malformed = map[string]string{}
		secondary = v.secondaryIPs
	}
	v.factory = informers.NewSharedInformerFactoryWithOptions(opts.Client, 0,
		informers.WithTransform(func(obj any) (any, error) { return trim(obj, secondary), nil }))
	v.pods = v.factory.Core().V1().Pods().Informer()
	v.slices = v.factory.Discovery().V1().EndpointSlices().Informer()
	v.namespaces = v.factory.Core().V1().Namespaces().Informer()
	// The factory's informer already indexes by namespace.
	if err := v.pods.AddIndexers(cache.Indexers{ipIndex: podIPIndex}); err != nil {
		return nil, fmt.Errorf("podview: add pod index: %w", err)
	}
	if err := v.slices.AddIndexers(cache.Indexers{podidentity.SliceIndex: podidentity.SlicePodKeys}); err != nil {
		return nil, fmt.Errorf("podview: add EndpointSlice index: %w", err)
	}
	add := func(inf cache.SharedIndexInformer, h cache.ResourceEventHandler, what string) error {
		reg, err := inf.AddEventHandler(h)
		if err != nil {
			return fmt.Errorf("podview: add %s handler: %w", what, err)
		}
		v.regs = append(v.regs, reg)
		return nil
	}
	if err := add(v.pods, cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { v.changed(podAddrs(obj)) },
		UpdateFunc: func(old, obj any) { v.changed(append(podAddrs(old), podAddrs(obj)...)) },
		DeleteFunc: func(obj any) { v.forgetMalformed(obj); v.changed(podAddrs(obj)) },
	}, "pod"); err != nil {
		return nil, err
	}
	if err := add(v.slices, cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { v.changed(v.sliceAddrs(obj)) },
		UpdateFunc: func(old, obj any) { v.changed(v.sliceUpdateAddrs(old, obj)) },
		DeleteFunc: func(obj any) { v.changed(v.sliceAddrs(obj)) },
	}, "EndpointSlice"); err != nil {
		return nil, err
	}
	if err := add(v.namespaces, cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { v.changed(v.namespaceAddrs(obj)) },
		UpdateFunc: func(_, obj any) { v.changed(v.namespaceAddrs(obj)) },
		DeleteFunc: func(obj any) { v.changed(v.namespaceAddrs(obj)) },
	}, "Namespace"); err != nil {
		return nil, err
	}
	return v, nil
}

// Run starts the informers and blocks until ctx ends, then waits for them.
func (v *View) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer v.factory.Shutdown()
	defer cancel()
	v.factory.Start(ctx.Done())
	syncs := make([]cache.InformerSynced, 0, len(v.regs))
	for _, r := range v.regs {
		syncs = append(syncs, r.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), syncs...) {
		return nil // ctx done
	}
	v.synced.Store(true)
	close(v.syncedCh)
	v.opts.Logger.Info("pod view synced", "pods", len(v.pods.GetStore().ListKeys()))
	<-ctx.Done()
	return nil
}

// HasSynced reports whether every informer has delivered its first list
// (and its handlers have seen it).
func (v *View) HasSynced() bool { return v.synced.Load() }

// Synced is closed when HasSynced turns true.
func (v *View) Synced() <-chan struct{} { return v.syncedCh }

// Holders returns the pods that hold ip (several during an IP's reuse, or
// hostNetwork pods sharing a node IP), each with its identity.
func (v *View) Holders(ip netip.Addr) []Pod {
	objs, err := v.pods.GetIndexer().ByIndex(ipIndex, ip.Unmap().String())
	if err != nil || len(objs) == 0 {
		return nil
	}
	out := make([]Pod, 0, len(objs))
	for _, o := range objs {
		p, ok := o.(*Facts)
		if !ok {
			continue
		}
		id := v.identity(p)
		for _, n := range p.Nets {
			if n.IP == ip && !slices.Contains(p.IPs, ip) {
				id.Network = n.Network
			}
		}
		out = append(out, Pod{Node: p.Node, HostNetwork: p.HostNetwork, Identity: id})
	}
	return out
}

// secondaryIPs parses a pod's network-status annotation (Options.Multus),
// logging a malformed one once per pod and error.
func (v *View) secondaryIPs(p *corev1.Pod, own []netip.Addr) []podidentity.NetworkIP {
	nets, err := podidentity.SecondaryIPs(p.Annotations, own)
	key := p.Namespace + "/" + p.Name
	v.malMu.Lock()
	defer v.malMu.Unlock()
	if err == nil {
		delete(v.malformed, key)
		return nets
	}
	if v.malformed[key] != err.Error() {
		v.malformed[key] = err.Error()
		v.opts.Logger.Warn("pod's secondary interfaces not accepted", "pod", key, "err", err)
	}
	return nil
}

func (v *View) forgetMalformed(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, ok := obj.(*Facts)
	if !ok || v.malformed == nil {
		return
	}
	v.malMu.Lock()
	delete(v.malformed, p.Namespace+"/"+p.Name)
	v.malMu.Unlock()
}

// identity derives a pod's identity exactly as the agent does, plus the
// Services its EndpointSlices give it (which the agent leaves to us).
func (v *View) identity(p *Facts) tags.Identity {
	id := podidentity.Of(p, v.namespaces.GetIndexer())
	id.Services = podidentity.Services(v.slices.GetIndexer(), p)
	return id
}

func (v *View) changed(ips []netip.Addr) {
	if len(ips) > 0 {
		v.opts.OnChange(ips)
	}
}

// sliceAddrs returns the IPs of the pods an EndpointSlice lists.
func (v *View) sliceAddrs(obj any) []netip.Addr {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	keys, _ := podidentity.SlicePodKeys(obj)
	var out []netip.Addr
	for _, k := range keys {
		if o, ok, err := v.pods.GetIndexer().GetByKey(k); err == nil && ok {
			out = append(out, podAddrs(o)...)
		}
	}
	return out
}

// sliceUpdateAddrs returns the IPs of the pods whose Services an
// EndpointSlice's update may change: those it starts or stops listing, or
// all it lists if its Service changed. An endpoint's readiness or address
// moving (trimmed away anyway) changes no pod's Services, so a large
// Service's slice churning does not re-check every pod it lists.
func (v *View) sliceUpdateAddrs(old, obj any) []netip.Addr {
	o, ok1 := old.(*discoveryv1.EndpointSlice)
	n, ok2 := obj.(*discoveryv1.EndpointSlice)
	if !ok1 || !ok2 || o.Labels[podidentity.ServiceNameLabel] != n.Labels[podidentity.ServiceNameLabel] || o.Namespace != n.Namespace {
		return append(v.sliceAddrs(old), v.sliceAddrs(obj)...)
	}
	before, after := podRefs(o), podRefs(n)
	var out []netip.Addr
	for _, side := range [2][2]map[podRef]struct{}{{before, after}, {after, before}} {
		for r := range side[0] {
			if _, ok := side[1][r]; ok {
				continue
			}
			if p, ok, err := v.pods.GetIndexer().GetByKey(r.key); err == nil && ok {
				out = append(out, podAddrs(p)...)
			}
		}
	}
	return out
}

// podRef is an endpoint's pod reference, as identity matches it.
type podRef struct{ key, uid string }

func podRefs(s *discoveryv1.EndpointSlice) map[podRef]struct{} {
	out := make(map[podRef]struct{}, len(s.Endpoints))
	for key, r := range podidentity.SlicePods(s) {
		out[podRef{key: key, uid: string(r.UID)}] = struct{}{}
	}
	return out
}

// namespaceAddrs returns the IPs of the pods of a Namespace.
func (v *View) namespaceAddrs(obj any) []netip.Addr {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return nil
	}
	objs, err := v.pods.GetIndexer().ByIndex(cache.NamespaceIndex, ns.Name)
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, o := range objs {
		out = append(out, podAddrs(o)...)
	}
	return out
}

// Indexers are the pod informer's indexes: by namespace and by the IPs a
// pod holds.
func Indexers() cache.Indexers {
	return cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc, ipIndex: podIPIndex}
}

// podIPIndex indexes a pod under the IPs it holds: none while terminating
// or finished.
func podIPIndex(obj any) ([]string, error) {
	p, ok := obj.(*Facts)
	if !ok || !holdsIPs(p) {
		return nil, nil
	}
	out := make([]string, 0, len(p.IPs)+len(p.Nets))
	for _, ip := range p.IPs {
		out = append(out, ip.String())
	}
	for _, n := range p.Nets {
		out = append(out, n.IP.String())
	}
	return out, nil
}

func holdsIPs(p *Facts) bool {
	return p.DeletionTimestamp == nil && p.Phase != corev1.PodFailed && p.Phase != corev1.PodSucceeded
}

// podAddrs returns every IP a pod object reports (held or not: a change
// may be the release of an IP).
func podAddrs(obj any) []netip.Addr {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, ok := obj.(*Facts)
	if !ok {
		return nil
	}
	if len(p.Nets) == 0 {
		return p.IPs
	}
	out := slices.Clone(p.IPs)
	for _, n := range p.Nets {
		out = append(out, n.IP)
	}
	return out
}

// addrs returns the pod's distinct IPs as the agent reads them.
func addrs(p *corev1.Pod) []netip.Addr {
	ips, _ := podidentity.IPs(&p.Status)
	return ips
}
