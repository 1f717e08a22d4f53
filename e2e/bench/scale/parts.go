package scale

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/kubedag/kubedag/agent"
	"github.com/kubedag/kubedag/agent/ipsource"
	"github.com/kubedag/kubedag/agent/kubeapi"
	agentstream "github.com/kubedag/kubedag/agent/stream"
	"github.com/kubedag/kubedag/e2e/pki"
)

// grantNodes lets every node identity list and watch Namespaces, as the
// chart's agent ClusterRole does for the agents' ServiceAccount (their own
// pods the Node authorizer allows; EndpointSlices they do not read).
func (r *run) grantNodes(ctx context.Context) error {
	name := "kubedag-scale-" + r.ns
	rbac := r.c.Client.RbacV1()
	cr := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"list", "watch"}},
		},
	}
	if _, err := rbac.ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("cluster role: %w", err)
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "Group", Name: "system:nodes"}},
	}
	if _, err := rbac.ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("cluster role binding: %w", err)
	}
	return nil
}

func (r *run) createService(ctx context.Context, app string) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: r.ns},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": app},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := r.c.Client.CoreV1().Services(r.ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create service %s: %w", app, err)
	}
	return nil
}

// startClusterWide runs one cluster-wide informer each for pods,
// EndpointSlices and Namespaces through the agents' client (protobuf),
// counting into l, and waits for them to sync. Its pod handler clocks the
// creates.
func (r *run) startClusterWide(ctx context.Context, g *errgroup.Group, l *load) error {
	rc := rest.CopyConfig(r.c.Config)
	rc.QPS, rc.Burst = 50, 100
	countBytes(rc, l)
	kc, err := kubeapi.New(rc)
	if err != nil {
		return err
	}
	pods := cache.NewSharedIndexInformer(countLW(kc.AllPods(), &l.by[0]), &corev1.Pod{}, 0, cache.Indexers{})
	slices := cache.NewSharedIndexInformer(countLW(kc.EndpointSlices(), &l.by[1]), &discoveryv1.EndpointSlice{}, 0, cache.Indexers{})
	nss := cache.NewSharedIndexInformer(countLW(kc.Namespaces(), &l.by[2]), &corev1.Namespace{}, 0, cache.Indexers{})
	if _, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.seen(obj) },
		UpdateFunc: func(_, obj any) { r.seen(obj) },
	}); err != nil {
		return err
	}
	for _, inf := range []cache.SharedIndexInformer{pods, slices, nss} {
		g.Go(func() error { inf.RunWithContext(ctx); return nil })
	}
	if !cache.WaitForCacheSync(ctx.Done(), pods.HasSynced, slices.HasSynced, nss.HasSynced) {
		return fmt.Errorf("cluster-wide informers: %w", ctx.Err())
	}
	return nil
}

// seen starts a create's clock when its pod is first seen Running with
// an IP.
func (r *run) seen(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok || p.Namespace != r.ns || p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || p.DeletionTimestamp != nil {
		return
	}
	now := time.Now()
	r.mu.Lock()
	bp, ok := r.pending[p.Name]
	var ip netip.Addr
	var rev int
	var sent time.Time
	if ok {
		delete(r.pending, p.Name)
		bp.ip, _ = netip.ParseAddr(p.Status.PodIP)
		// Read under the lock: once live, the pod's rev belongs to the writers.
		ip, rev, sent = bp.ip, bp.rev, bp.sent
		r.live = append(r.live, bp)
	}
	r.mu.Unlock()
	if ok && ip.IsValid() {
		r.tr.expect(key{ip: ip, tag: r.revTag(rev)}, KindCreate, now, sent)
	}
}

// buildAgents builds one agent per node, each reading the API as its
// node's identity through its own client and streaming with its token.
func (r *run) buildAgents(addr string, ca *pki.CA, l *load) ([]*agent.Agent, error) {
	out := make([]*agent.Agent, 0, len(r.nodes))
	// Hundreds of agents: only their warnings and errors.
	agentLog := slog.New(minLevel{Handler: r.cfg.Logger.Handler(), min: slog.LevelWarn})
	for i, n := range r.nodes {
		rc, err := r.c.NodeConfig(n)
		if err != nil {
			return nil, err
		}
		rc.UserAgent = "kubedag-agent/scale"
		countBytes(rc, l)
		kc, err := kubeapi.New(rc)
		if err != nil {
			return nil, err
		}
		a, err := agent.New(agent.Config{
			Source:   countingSource{src: kc, l: l},
			NodeName: n,
			IPSource: ipsource.ModeAPI,
			Stream: agentstream.Config{Addr: addr, TLS: ca.ClientTLS(serverName),
				TokenFile:  filepath.Join(r.cfg.Dir, fmt.Sprintf("token-%d", i)),
				BackoffMin: 100 * time.Millisecond, BackoffMax: 2 * time.Second},
			Logger: agentLog.With("node", n),
		})
		if err != nil {
			return nil, fmt.Errorf("agent %s: %w", n, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// minLevel drops records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{Handler: h.Handler.WithAttrs(as), min: h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: h.Handler.WithGroup(name), min: h.min}
}

// pace runs next's writes at rate per second on a pool of writers until
// next says there is no more; it returns when every write is done.
func (r *run) pace(ctx context.Context, rate int, next func(i int) (func(context.Context), bool)) {
	ops := make(chan func(context.Context), writers)
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for op := range ops {
				op(ctx)
			}
		})
	}
	defer func() { close(ops); wg.Wait() }()
	start := time.Now()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; {
		due := int(time.Since(start).Seconds() * float64(rate))
		for ; i < due; i++ {
			op, more := next(i)
			if op != nil {
				select {
				case ops <- op:
				case <-ctx.Done():
					return
				}
			}
			if !more {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// drain waits until done or the drain time passes (what is still
// outstanding is reported as unacknowledged).
func (r *run) drain(ctx context.Context, what string, done func() bool) {
	if err := poll(ctx, r.cfg.Drain, what+" acknowledged", done); err != nil {
		r.cfg.Logger.Warn("scale: drain", "err", err, "outstanding", r.tr.outstanding())
	}
}

func (r *run) failed(what string, err error) {
	r.errs.Add(1)
	r.cfg.Logger.Warn("scale: write failed", "what", what, "err", err)
}

// create makes a write creating a new pod on the next node.
func (r *run) create() func(context.Context) {
	i := int(r.seq.Add(1))
	bp := &pod{name: fmt.Sprintf("p%d", i), node: r.nodes[i%len(r.nodes)], rev: i}
	r.mu.Lock()
	r.pending[bp.name] = bp
	r.mu.Unlock()
	return func(ctx context.Context) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: bp.name, Namespace: r.ns, Labels: map[string]string{
				"app": fmt.Sprintf("svc%d", i%r.cfg.Services), "rev": strconv.Itoa(bp.rev)}},
			Spec: corev1.PodSpec{
				NodeName:                      bp.node,
				Containers:                    []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
				AutomountServiceAccountToken:  new(false),
				TerminationGracePeriodSeconds: new(int64(0)),
			},
		}
		r.mu.Lock()
		bp.sent = time.Now()
		r.mu.Unlock()
		if _, err := r.writer.CoreV1().Pods(r.ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			r.mu.Lock()
			delete(r.pending, bp.name)
			r.mu.Unlock()
			r.failed("create "+bp.name, err)
		}
	}
}

// pick returns the next live pod, round robin, removing it if remove.
func (r *run) pick(remove bool) *pod {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.live) == 0 {
		return nil
	}
	r.next %= len(r.live)
	p := r.live[r.next]
	if remove {
		r.live[r.next] = r.live[len(r.live)-1]
		r.live = r.live[:len(r.live)-1]
	} else {
		r.next++
	}
	return p
}

// relabel makes a write giving a live pod a new rev.
func (r *run) relabel() func(context.Context) {
	p := r.pick(false)
	if p == nil {
		return nil
	}
	rev := int(r.seq.Add(1))
	r.mu.Lock()
	old := p.rev
	p.rev = rev
	r.mu.Unlock()
	r.tr.supersede(key{ip: p.ip, tag: r.revTag(old)})
	// Expected from now, before the write is queued: a delete of the pod
	// picked before this write runs must find it and supersede it.
	k := key{ip: p.ip, tag: r.revTag(rev)}
	r.tr.expect(k, KindRelabel, time.Now(), time.Time{})
	return func(ctx context.Context) {
		p.write.Lock()
		defer p.write.Unlock()
		r.mu.Lock()
		cur := p.rev
		r.mu.Unlock()
		if cur != rev {
			return // a later relabel took over (and superseded this one)
		}
		r.tr.restart(k, time.Now()) // the clock starts at the write
		patch := fmt.Sprintf(`{"metadata":{"labels":{"rev":%q}}}`, strconv.Itoa(rev))
		if _, err := r.writer.CoreV1().Pods(r.ns).Patch(ctx, p.name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			r.tr.cancel(k)
			r.failed("relabel "+p.name, err)
		}
	}
}

// delete makes a write deleting a live pod.
func (r *run) delete() func(context.Context) {
	p := r.pick(true)
	if p == nil {
		return nil
	}
	r.mu.Lock()
	rev := p.rev
	r.mu.Unlock()
	// A tag not acknowledged yet may never reach the firewall: its
	// removal is not awaited either.
	unacked := r.tr.supersede(key{ip: p.ip, tag: r.revTag(rev)})
	return func(ctx context.Context) {
		k := key{ip: p.ip, tag: r.revTag(rev), removed: true}
		if !unacked {
			r.tr.expect(k, KindDelete, time.Now(), time.Time{})
		}
		if err := r.writer.CoreV1().Pods(r.ns).Delete(ctx, p.name, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}); err != nil {
			r.tr.cancel(k)
			r.failed("delete "+p.name, err)
		}
	}
}

// poll checks cond every 100ms until it holds (nil), timeout passes or
// ctx ends.
func poll(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %v", what, timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
