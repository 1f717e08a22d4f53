package cluster

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// TestSmoke proves the control plane behaves like a real cluster for what
// kubedag relies on: kwok nodes and pods, per-node pod informers with the
// node's own identity, controller-made EndpointSlices, ServiceAccount
// tokens with an audience checked by TokenReview, Leases, and namespace
// deletion.
func TestSmoke(t *testing.T) {
	c := testCluster
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	ns, err := c.CreateNamespace(ctx, "smoke")
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := c.CreateNodes(ctx, "smoke-node", 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitNodesReady(ctx, nodes...); err != nil {
		t.Fatal(err)
	}
	nodeObjs := map[string]*corev1.Node{}
	for _, n := range nodes {
		obj, err := c.Client.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		nodeObjs[n] = obj
	}

	// One informer per node, as the agent runs it: the node's own
	// credentials, all namespaces, field selector spec.nodeName=<node>.
	seen := newPodRecorder()
	infCtx, stopInformers := context.WithCancel(ctx)
	defer stopInformers()
	for _, node := range nodes {
		cfg, err := c.NodeConfig(node)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", node).String()
		}))
		inf := f.Core().V1().Pods().Informer()
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { seen.record(node, obj) },
			UpdateFunc: func(_, obj any) { seen.record(node, obj) },
		}); err != nil {
			t.Fatal(err)
		}
		f.Start(infCtx.Done())
		defer f.Shutdown()
		defer stopInformers() // runs before Shutdown, which waits for the informers to stop
		for typ, ok := range f.WaitForCacheSync(infCtx.Done()) {
			if !ok {
				t.Fatalf("node %s: %v informer did not sync (node identity not allowed to list its pods?)", node, typ)
			}
		}
	}

	const replicas = 4
	labels := map[string]string{"app": "web"}
	_, err = c.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(replicas)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{NodeSelector: map[string]string{NodeGroupLabel: "smoke-node"}, Containers: []corev1.Container{{
					Name: "web", Image: "registry.k8s.io/pause:3.10",
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	pods, err := c.WaitPodsRunning(ctx, ns, "app=web", replicas)
	if err != nil {
		t.Fatal(err)
	}
	wantIPs := map[string]bool{}
	for _, p := range pods {
		node := nodeObjs[p.Spec.NodeName]
		if node == nil {
			t.Fatalf("pod %s scheduled to %q, not one of %v", p.Name, p.Spec.NodeName, nodes)
		}
		ip := netip.MustParseAddr(p.Status.PodIP)
		if !netip.MustParsePrefix(node.Spec.PodCIDR).Contains(ip) {
			t.Errorf("pod %s IP %s is outside its node %s's podCIDR %s", p.Name, ip, node.Name, node.Spec.PodCIDR)
		}
		if wantIPs[ip.String()] {
			t.Errorf("pod IP %s given twice", ip)
		}
		wantIPs[ip.String()] = true
		if want := nodeInternalIP(node); p.Status.HostIP != want {
			t.Errorf("pod %s hostIP %s, want its node's InternalIP %s", p.Name, p.Status.HostIP, want)
		}
	}

	// Every Running pod reached the informer of its own node, and only that one.
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(context.Context) (bool, error) {
		return seen.runningIn(ns) == replicas, nil
	})
	if err != nil {
		t.Fatalf("informers saw %d Running pods with IPs in %s, want %d: %v", seen.runningIn(ns), ns, replicas, err)
	}
	for _, p := range pods {
		if got := seen.nodesOf(ns, p.Name); !slices.Equal(got, []string{p.Spec.NodeName}) {
			t.Errorf("pod %s on %s seen by the informers of %v", p.Name, p.Spec.NodeName, got)
		}
	}

	// The controller manager's EndpointSlice lists every pod IP, ready.
	var sliceIPs map[string]bool
	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		slices, err := c.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
		if err != nil {
			return false, err
		}
		sliceIPs = map[string]bool{}
		for _, s := range slices.Items {
			for _, ep := range s.Endpoints {
				if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
					for _, a := range ep.Addresses {
						sliceIPs[a] = true
					}
				}
			}
		}
		return mapsEqual(sliceIPs, wantIPs), nil
	})
	if err != nil {
		t.Fatalf("EndpointSlice for service web has ready addresses %v, want %v: %v", sliceIPs, wantIPs, err)
	}

	t.Run("TokenReview", func(t *testing.T) { testTokenReview(ctx, t, c, ns) })
	t.Run("Lease", func(t *testing.T) { testLease(ctx, t, c, ns) })

	// Namespace deletion needs the namespace and garbage-collector
	// controllers, and kwok to finish the pods' deletion.
	if err := c.DeleteNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
}

func testTokenReview(ctx context.Context, t *testing.T, c *Cluster, ns string) {
	sa, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "agent"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{KubedagAudience}, ExpirationSeconds: new(int64(600))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	token := tr.Status.Token
	wantUser := "system:serviceaccount:" + ns + ":agent"
	tests := []struct {
		name      string
		token     string
		audiences []string
		wantAuth  bool
	}{
		{"kubedag audience", token, []string{KubedagAudience}, true},
		{"other audience", token, []string{"someone-else"}, false},
		{"apiserver audience", token, []string{ServiceAccountIssuer}, false},
		{"garbage token", "not-a-token", []string{KubedagAudience}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rev, err := c.Client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
				Spec: authenticationv1.TokenReviewSpec{Token: tt.token, Audiences: tt.audiences},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rev.Status.Authenticated != tt.wantAuth {
				t.Fatalf("authenticated = %v, want %v (error %q)", rev.Status.Authenticated, tt.wantAuth, rev.Status.Error)
			}
			if !tt.wantAuth {
				return
			}
			if rev.Status.User.Username != wantUser {
				t.Errorf("user %q, want %q", rev.Status.User.Username, wantUser)
			}
			if !slices.Contains(rev.Status.Audiences, KubedagAudience) {
				t.Errorf("audiences %v, want %q among them", rev.Status.Audiences, KubedagAudience)
			}
		})
	}
}

func testLease(ctx context.Context, t *testing.T, c *Cluster, ns string) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: ns, Name: "kubedag-aggregator"},
		Client:     c.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: "smoke-test"},
	}
	leading := make(chan struct{})
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   15 * time.Second,
		RenewDeadline:   10 * time.Second,
		RetryPeriod:     time.Second,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { close(leading) },
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); le.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case <-leading:
	case <-ctx.Done():
		t.Fatal("never became leader")
	}
	lease, err := c.Client.CoordinationV1().Leases(ns).Get(ctx, "kubedag-aggregator", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "smoke-test" {
		t.Fatalf("lease holder %v, want smoke-test", lease.Spec.HolderIdentity)
	}
}

// podRecorder remembers, per namespace/name, which node informers saw the
// pod Running with an IP.
type podRecorder struct {
	mu   sync.Mutex
	seen map[string]map[string]bool // ns/name -> node -> true
	ns   map[string]string          // ns/name -> ns
}

func newPodRecorder() *podRecorder {
	return &podRecorder{seen: map[string]map[string]bool{}, ns: map[string]string{}}
}

func (r *podRecorder) record(node string, obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok || p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
		return
	}
	key := p.Namespace + "/" + p.Name
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[key] == nil {
		r.seen[key] = map[string]bool{}
	}
	r.seen[key][node] = true
	r.ns[key] = p.Namespace
}

func (r *podRecorder) runningIn(ns string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, v := range r.ns {
		if v == ns {
			n++
		}
	}
	return n
}

func (r *podRecorder) nodesOf(ns, name string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for n := range r.seen[ns+"/"+name] {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func nodeInternalIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}
