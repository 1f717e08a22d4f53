package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// The demo workload.
const (
	demoNS     = "shop"
	webApp     = "web"
	batchApp   = "batch"
	pollEvery  = 50 * time.Millisecond
	metricsLag = 150 * time.Millisecond // lets the aggregator record the last acks of a step
)

// scenario drives the workload and shows how the firewall follows.
type scenario struct {
	c        kubernetes.Interface
	p        *printer
	table    *table
	preset   preset
	latency  *latencyReader
	firewall func() map[netip.Addr][]string
	timeout  time.Duration
	strict   bool // a step that does not converge fails the run (Once)
	rng      *rand.Rand

	replicas int
	service  bool
	batches  int
	last     world
	total    latency // over every step so far
}

// action changes the cluster; it returns what it did and how many pods
// must be Running once the cluster has settled.
type action func(ctx context.Context, w world) (what string, pods int, err error)

// script is the scripted steps, in order.
func (s *scenario) script() []action {
	return []action{s.create, s.relabel, s.scale(5), s.reuse, s.scale(2), s.deletePod, s.deleteService}
}

// play runs one step: the action, then waits until the cluster settled and
// the firewall holds exactly the expected tags, then prints the table.
func (s *scenario) play(ctx context.Context, label string, act action) error {
	if _, err := s.latency.take(ctx); err != nil { // drop what came before
		return err
	}
	began := time.Now()
	what, want, err := act(ctx, s.last)
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	s.p.raw("\n")
	s.p.progress("%s  %s", label, what)

	var w world
	var why string
	err = wait.PollUntilContextTimeout(ctx, pollEvery, s.timeout, true, func(ctx context.Context) (bool, error) {
		var err error
		if w, err = observe(ctx, s.c, demoNS, s.firewall); err != nil {
			why = err.Error()
			return false, nil
		}
		switch {
		case len(w.Unsettled) > 0:
			why = fmt.Sprintf("pods not Running yet or terminating: %v", w.Unsettled)
		case w.pods() != want:
			why = fmt.Sprintf("%d pods Running, want %d", w.pods(), want)
		default:
			why = mismatch(s.preset.expected(demoNS, w.Objects), s.preset.inNamespace(demoNS, w.Firewall))
		}
		return why == "", nil
	})
	took := time.Since(began)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		msg := fmt.Sprintf("the firewall did not follow within %s: %s", s.timeout, why)
		if s.strict {
			return fmt.Errorf("%s: %s", label, msg)
		}
		s.p.note("WARNING: %s", msg)
	} else {
		s.p.note("firewall in step with the cluster after %s (pods scheduled and started by kwok included)", ms(took))
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(metricsLag):
	}
	lat, err := s.latency.take(ctx)
	if err != nil {
		return err
	}
	s.total.add(lat)
	s.p.note("tag latency, pod IP seen on its node -> firewall ack (%s): %s", latencyMetric, lat)
	s.p.raw(s.table.render(w))
	s.last = w
	return nil
}

// churn plays random steps every interval until ctx ends.
func (s *scenario) churn(ctx context.Context, interval time.Duration) error {
	for i := 1; ; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
		var act action
		switch n := s.rng.IntN(10); {
		case n < 3:
			act = s.scale(1 + s.rng.IntN(6))
		case n < 6:
			act = s.relabel
		case n < 9:
			act = s.deletePod
		default:
			act = s.toggleService
		}
		if err := s.play(ctx, fmt.Sprintf("churn %d", i), act); err != nil {
			return err
		}
	}
}

func (s *scenario) create(ctx context.Context, _ world) (string, int, error) {
	if _, err := s.c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: demoNS}}, metav1.CreateOptions{}); err != nil {
		return "", 0, fmt.Errorf("create namespace %s: %w", demoNS, err)
	}
	// Pods need the namespace's default ServiceAccount, which the
	// controller manager makes in a moment.
	err := wait.PollUntilContextTimeout(ctx, pollEvery, s.timeout, true, func(ctx context.Context) (bool, error) {
		_, err := s.c.CoreV1().ServiceAccounts(demoNS).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		return "", 0, fmt.Errorf("namespace %s: waiting for its default ServiceAccount: %w", demoNS, err)
	}
	if err := s.createService(ctx); err != nil {
		return "", 0, err
	}
	s.replicas = 3
	labels := map[string]string{"app": webApp}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: webApp, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(s.replicas)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": webApp, "tier": "frontend"}},
				Spec:       podSpec(""),
			},
		},
	}
	if _, err := s.c.AppsV1().Deployments(demoNS).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		return "", 0, fmt.Errorf("create Deployment %s: %w", webApp, err)
	}
	return fmt.Sprintf("create namespace %s, Service %s and Deployment %s (%d replicas, labels app=web tier=frontend)", demoNS, webApp, webApp, s.replicas), s.replicas, nil
}

func (s *scenario) createService(ctx context.Context) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: webApp, Labels: map[string]string{"app": webApp}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": webApp},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := s.c.CoreV1().Services(demoNS).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create Service %s: %w", webApp, err)
	}
	s.service = true
	return nil
}

// podSpec is a pause container kwok pretends to run, deleted at once.
func podSpec(node string) corev1.PodSpec {
	return corev1.PodSpec{
		NodeName:                      node,
		Containers:                    []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
		AutomountServiceAccountToken:  new(false),
		TerminationGracePeriodSeconds: new(int64(0)),
	}
}

func (s *scenario) pods() int {
	return s.replicas + s.batches
}

// webPods returns the Running web pods of w, by name.
func webPods(w world) []object {
	var out []object
	for _, o := range w.Objects {
		if o.Kind == "pod" && o.Labels["app"] == webApp {
			out = append(out, o)
		}
	}
	return out
}

// relabel flips the tier label of a web pod (the first by name in the
// script, a random one in churn).
func (s *scenario) relabel(ctx context.Context, w world) (string, int, error) {
	web := webPods(w)
	if len(web) == 0 {
		return "nothing to relabel (no web pod)", s.pods(), nil
	}
	pod := web[0]
	if s.rng != nil {
		pod = web[s.rng.IntN(len(web))]
	}
	from, to := pod.Labels["tier"], "canary"
	if from == "canary" {
		to = "frontend"
	}
	patch := fmt.Sprintf(`{"metadata":{"labels":{"tier":%q}}}`, to)
	if _, err := s.c.CoreV1().Pods(demoNS).Patch(ctx, pod.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return "", 0, fmt.Errorf("relabel pod %s: %w", pod.Name, err)
	}
	return fmt.Sprintf("relabel pod/%s (%s): tier=%s -> tier=%s", pod.Name, pod.IP, from, to), s.pods(), nil
}

func (s *scenario) scale(n int) action {
	return func(ctx context.Context, _ world) (string, int, error) {
		patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
		if _, err := s.c.AppsV1().Deployments(demoNS).Patch(ctx, webApp, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return "", 0, fmt.Errorf("scale Deployment %s: %w", webApp, err)
		}
		from := s.replicas
		s.replicas = n
		return fmt.Sprintf("scale Deployment %s %d -> %d", webApp, from, n), s.pods(), nil
	}
}

// reuse shows IP reuse across workloads: it cordons the node of a web pod,
// deletes that pod (its ReplicaSet replaces it on another node) and starts
// a bare batch pod on the node, which kwok gives the freed IP (kwok hands
// out a node's freed IPs first). The firewall must then show that IP with
// the batch pod's tags only: never web's svc_ tag.
func (s *scenario) reuse(ctx context.Context, w world) (string, int, error) {
	web := webPods(w)
	if len(web) < 2 {
		return "nothing to reuse (fewer than 2 web pods)", s.pods(), nil
	}
	victim := web[len(web)-1]
	if err := s.cordon(ctx, victim.Node, true); err != nil {
		return "", 0, err
	}
	// Uncordon once the step is over (it only has to keep the ReplicaSet's
	// replacement off the node).
	defer func() {
		if err := s.cordon(context.WithoutCancel(ctx), victim.Node, false); err != nil {
			s.p.note("WARNING: %v", err)
		}
	}()
	if err := s.deleteAndWait(ctx, victim.Name); err != nil {
		return "", 0, err
	}
	s.batches++
	name := fmt.Sprintf("%s-%d", batchApp, s.batches)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": batchApp}},
		Spec:       podSpec(victim.Node),
	}
	if _, err := s.c.CoreV1().Pods(demoNS).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return "", 0, fmt.Errorf("create pod %s: %w", name, err)
	}
	// Wait for the batch pod's IP before uncordoning, so the replacement
	// cannot take the freed IP.
	err := wait.PollUntilContextTimeout(ctx, pollEvery, s.timeout, true, func(ctx context.Context) (bool, error) {
		p, err := s.c.CoreV1().Pods(demoNS).Get(ctx, name, metav1.GetOptions{})
		return err == nil && p.Status.PodIP != "", nil
	})
	if err != nil {
		return "", 0, fmt.Errorf("waiting for pod %s's IP: %w", name, err)
	}
	return fmt.Sprintf("IP reuse: cordon %s, delete pod/%s (%s) there, start pod/%s (app=batch) on %s: kwok hands out the freed IP first",
		victim.Node, victim.Name, victim.IP, name, victim.Node), s.pods(), nil
}

func (s *scenario) cordon(ctx context.Context, node string, on bool) error {
	patch := fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, on)
	if _, err := s.c.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("cordon node %s (%t): %w", node, on, err)
	}
	return nil
}

// deleteAndWait deletes a pod and waits until it is gone from the API
// (kwok has then seen the deletion and freed its IP).
func (s *scenario) deleteAndWait(ctx context.Context, name string) error {
	if err := s.c.CoreV1().Pods(demoNS).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("delete pod %s: %w", name, err)
	}
	err := wait.PollUntilContextTimeout(ctx, pollEvery, s.timeout, true, func(ctx context.Context) (bool, error) {
		_, err := s.c.CoreV1().Pods(demoNS).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for pod %s to go: %w", name, err)
	}
	return nil
}

// deletePod deletes a web pod (the first by name in the script, a random
// one in churn); its ReplicaSet replaces it.
func (s *scenario) deletePod(ctx context.Context, w world) (string, int, error) {
	web := webPods(w)
	if len(web) == 0 {
		return "nothing to delete (no web pod)", s.pods(), nil
	}
	pod := web[0]
	if s.rng != nil {
		pod = web[s.rng.IntN(len(web))]
	}
	if err := s.c.CoreV1().Pods(demoNS).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		return "", 0, fmt.Errorf("delete pod %s: %w", pod.Name, err)
	}
	return fmt.Sprintf("delete pod/%s (%s on %s): the ReplicaSet replaces it", pod.Name, pod.IP, pod.Node), s.pods(), nil
}

func (s *scenario) deleteService(ctx context.Context, _ world) (string, int, error) {
	if err := s.c.CoreV1().Services(demoNS).Delete(ctx, webApp, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return "", 0, fmt.Errorf("delete Service %s: %w", webApp, err)
	}
	s.service = false
	return fmt.Sprintf("delete Service %s: its ClusterIP is unregistered and .svc_%s leaves the pod IPs", webApp, webApp), s.pods(), nil
}

func (s *scenario) toggleService(ctx context.Context, w world) (string, int, error) {
	if s.service {
		return s.deleteService(ctx, w)
	}
	if err := s.createService(ctx); err != nil {
		return "", 0, err
	}
	return fmt.Sprintf("create Service %s: its ClusterIP and the web pod IPs get .svc_%s", webApp, webApp), s.pods(), nil
}
