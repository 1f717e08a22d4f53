package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// NodeGroupLabel is set by CreateNodes on each node to the prefix it was
// given, so a workload can be kept on one test's nodes with a nodeSelector.
const NodeGroupLabel = "kubedag.io/node-group"

// createParallelism bounds concurrent create calls in the helpers.
const createParallelism = 32

// pollInterval is how often the Wait helpers look again.
const pollInterval = 200 * time.Millisecond

// CreateNamespace creates a namespace named <prefix>-<random> and waits for
// its "default" ServiceAccount (made by the controller manager), so pods can
// be created in it at once. It returns the namespace's name.
func (c *Cluster) CreateNamespace(ctx context.Context, prefix string) (string, error) {
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("create namespace %s-*: %w", prefix, err)
	}
	err = wait.PollUntilContextCancel(ctx, pollInterval/2, true, func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		if isNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return "", fmt.Errorf("namespace %s: waiting for its default ServiceAccount: %w", ns.Name, err)
	}
	return ns.Name, nil
}

// CreateNodes creates n fake nodes named <prefix>-0 ... <prefix>-<n-1> and
// returns their names. Each node is annotated kwok.x-k8s.io/node=fake (so
// kwok, when running, makes it Ready and runs its pods), gets its own
// spec.podCIDR (the next free NodeCIDRMaskSize subnet of Options.PodCIDR: kwok
// gives the node's pods IPs from it, and reuses an IP once its pod is gone)
// and its own InternalIP from Options.NodeAddressCIDR (the pods' hostIP),
// verified once kwok has initialised the node, so no two nodes share one.
// Nodes carry the label NodeGroupLabel=<prefix> (select them with a
// nodeSelector, since other tests' nodes share the cluster) and no taint, so
// the scheduler places pods on them. Use WaitNodesReady to wait for kwok.
func (c *Cluster) CreateNodes(ctx context.Context, prefix string, n int) ([]string, error) {
	if n <= 0 {
		return nil, fmt.Errorf("create nodes: n = %d, want > 0", n)
	}
	c.mu.Lock()
	first := c.nextNode
	c.nextNode += n
	c.mu.Unlock()

	names := make([]string, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(createParallelism)
	for i := range n {
		idx := first + i
		podCIDR, err := c.nodePodCIDR(idx)
		if err != nil {
			return nil, err
		}
		podCIDRs := []string{podCIDR}
		if c.opts.DualStack {
			v6, err := c.nodePodCIDR6(idx)
			if err != nil {
				return nil, err
			}
			podCIDRs = append(podCIDRs, v6)
		}
		addr, err := c.nodeAddress(idx)
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("%s-%d", prefix, i)
		names[i] = name
		g.Go(func() error {
			if err := c.createNode(gctx, prefix, name, podCIDRs, addr); err != nil {
				return err
			}
			if c.opts.Kwok {
				return c.warmIPPool(gctx, name)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return names, nil
}

// warmIPPool runs one throwaway pod on node and deletes it again. kwok
// v0.8.0 creates a podCIDR's IP pool on first use without locking
// (PodController.ipPool: Load, then Store), so the first pods started
// together on a fresh node can get two pools and the same IP. One pod
// first makes the pool exist before any test pod asks for an IP.
func (c *Cluster) warmIPPool(ctx context.Context, node string) error {
	name := "kwok-ip-pool-warmup-" + node
	pods := c.Client.CoreV1().Pods(metav1.NamespaceSystem)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeName:                     node,
			AutomountServiceAccountToken: new(bool),
			Tolerations:                  []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers:                   []corev1.Container{{Name: "pause", Image: "registry.k8s.io/pause:3.10"}},
		},
	}
	// The default ServiceAccount of kube-system may not exist yet right
	// after Start: retry the create until admission accepts it.
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		_, err := pods.Create(ctx, pod, metav1.CreateOptions{})
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("node %s: create IP-pool warm-up pod: %w", node, err)
	}
	err = wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		return err == nil && p.Status.PodIP != "", nil
	})
	if err != nil {
		return fmt.Errorf("node %s: IP-pool warm-up pod never got an IP: %w", node, err)
	}
	if err := pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		return fmt.Errorf("node %s: delete IP-pool warm-up pod: %w", node, err)
	}
	err = wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		_, err := pods.Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		return fmt.Errorf("node %s: IP-pool warm-up pod not gone: %w", node, err)
	}
	return nil
}

func (c *Cluster) createNode(ctx context.Context, prefix, name string, podCIDRs []string, addr string) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Annotations: map[string]string{
				KwokNodeAnnotation:             "fake",
				"node.alpha.kubernetes.io/ttl": "0",
			},
			Labels: map[string]string{
				"kubernetes.io/hostname": name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				"type":                   "kwok",
				NodeGroupLabel:           prefix,
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: podCIDRs[0], PodCIDRs: podCIDRs},
	}
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create node %s: %w", name, err)
	}
	// Status is ignored on create, so the address is patched in. Our
	// kwok stages write no addresses (see kwok-stages.yaml); the patch is
	// still verified once kwok has initialised the node (it has a Ready
	// condition), and repeated until the InternalIP is ours.
	return c.setNodeAddress(ctx, name, addr)
}

// setNodeAddress makes addr the only InternalIP of node and verifies it.
// With kwok it waits for kwok's initialisation (see createNode), so the
// address is final when it returns.
func (c *Cluster) setNodeAddress(ctx context.Context, name, addr string) error {
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"addresses": []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: addr},
		{Type: corev1.NodeHostName, Address: name},
	}}})
	if err != nil {
		return fmt.Errorf("node %s address patch: %w", name, err)
	}
	var got []string
	err = wait.PollUntilContextCancel(ctx, pollInterval/4, true, func(ctx context.Context) (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, fmt.Errorf("get node %s: %w", name, err)
		}
		got = internalIPs(n)
		if len(got) != 1 || got[0] != addr {
			if _, err := c.Client.CoreV1().Nodes().PatchStatus(ctx, name, patch); err != nil {
				return false, fmt.Errorf("set node %s address: %w", name, err)
			}
			return false, nil
		}
		return !c.opts.Kwok || hasReadyCondition(n), nil
	})
	if err != nil {
		return fmt.Errorf("node %s: InternalIP %v, want %s: %w", name, got, addr, err)
	}
	return nil
}

func internalIPs(n *corev1.Node) []string {
	var out []string
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			out = append(out, a.Address)
		}
	}
	return out
}

// hasReadyCondition reports whether kwok has initialised n (whatever the
// condition's status).
func hasReadyCondition(n *corev1.Node) bool {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return true
		}
	}
	return false
}

// WaitNodesReady waits until every named node has condition Ready=True.
func (c *Cluster) WaitNodesReady(ctx context.Context, names ...string) error {
	var notReady []string
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		list, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, fmt.Errorf("list nodes: %w", err)
		}
		ready := map[string]bool{}
		for i := range list.Items {
			ready[list.Items[i].Name] = nodeReady(&list.Items[i])
		}
		notReady = notReady[:0]
		for _, n := range names {
			if !ready[n] {
				notReady = append(notReady, n)
			}
		}
		return len(notReady) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for nodes Ready (%d of %d not Ready, e.g. %s; is kwok on?): %w",
			len(notReady), len(names), strings.Join(first(notReady, 3), ", "), err)
	}
	return nil
}

func nodeReady(n *corev1.Node) bool {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// PodBatch describes pods for CreatePods.
type PodBatch struct {
	// Namespace to create the pods in (required).
	Namespace string
	// Prefix names the pods <Prefix>-<i> (required).
	Prefix string
	// Count is how many pods to create (> 0).
	Count int
	// Nodes, if set, places pod i on Nodes[i % len(Nodes)] by setting
	// spec.nodeName (no scheduler involved). Empty leaves placement to the
	// scheduler.
	Nodes []string
	// Labels are put on every pod, besides app=<Prefix>.
	Labels map[string]string
}

// CreatePods creates the batch's pods (a pause container that kwok pretends
// to run, no ServiceAccount token, grace period 0) and returns their names.
// Use WaitPodsRunning to wait for kwok to start them.
func (c *Cluster) CreatePods(ctx context.Context, b PodBatch) ([]string, error) {
	if b.Namespace == "" || b.Prefix == "" || b.Count <= 0 {
		return nil, fmt.Errorf("create pods: need Namespace, Prefix and Count > 0, got %q, %q, %d", b.Namespace, b.Prefix, b.Count)
	}
	labels := map[string]string{"app": b.Prefix}
	for k, v := range b.Labels {
		labels[k] = v
	}
	names := make([]string, b.Count)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(createParallelism)
	for i := range b.Count {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name:      fmt.Sprintf("%s-%d", b.Prefix, i),
				Namespace: b.Namespace,
				Labels:    labels,
			},
			Spec: corev1.PodSpec{
				Containers:                    []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
				AutomountServiceAccountToken:  new(false),
				TerminationGracePeriodSeconds: new(int64(0)),
			},
		}
		if len(b.Nodes) > 0 {
			pod.Spec.NodeName = b.Nodes[i%len(b.Nodes)]
		}
		names[i] = pod.Name
		g.Go(func() error {
			if _, err := c.Client.CoreV1().Pods(b.Namespace).Create(gctx, pod, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("create pod %s/%s: %w", b.Namespace, pod.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return names, nil
}

// WaitPodsRunning waits until exactly n pods in namespace matching the label
// selector (for example "app=web"; empty matches all) are Running with a pod
// IP and not being deleted, and returns them sorted by name.
func (c *Cluster) WaitPodsRunning(ctx context.Context, namespace, selector string, n int) ([]corev1.Pod, error) {
	var running []corev1.Pod
	var summary string
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		list, err := c.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, fmt.Errorf("list pods: %w", err)
		}
		running = running[:0]
		var waiting []string
		for i := range list.Items {
			p := &list.Items[i]
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
				running = append(running, *p)
			} else if p.DeletionTimestamp == nil {
				waiting = append(waiting, fmt.Sprintf("%s (phase %s, node %q)", p.Name, p.Status.Phase, p.Spec.NodeName))
			}
		}
		summary = fmt.Sprintf("%d Running of %d wanted; not Running: %s", len(running), n, strings.Join(first(waiting, 3), ", "))
		return len(running) == n, nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for %d pods Running in %s (selector %q): %s: %w", n, namespace, selector, summary, err)
	}
	sort.Slice(running, func(i, j int) bool { return running[i].Name < running[j].Name })
	return running, nil
}

// DeleteNamespace deletes a namespace and waits until the namespace
// controller has removed it with its content.
func (c *Cluster) DeleteNamespace(ctx context.Context, name string) error {
	if err := c.Client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete namespace %s: %w", name, err)
	}
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if isNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		return fmt.Errorf("waiting for namespace %s to go: %w", name, err)
	}
	return nil
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "...")
	}
	return s
}
