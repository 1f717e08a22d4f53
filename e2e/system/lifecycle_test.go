package system

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
)

// TestLifecycle: a Deployment and its Service get their tags; a relabel
// moves the label tag; deleted pods lose their tags; a reused IP never
// carries a tag its new pod lacks.
func TestLifecycle(t *testing.T) {
	e := sys
	e.mustAlive(t)
	ctx := t.Context()
	ns := e.newNamespace(t, "life")
	pods := e.deployWeb(ctx, t, ns, 4)
	for _, n := range e.webNodes {
		if len(podsOn(pods, n)) == 0 {
			t.Fatalf("no web pod on %s: the test needs pods on both web nodes", n)
		}
	}
	got := e.waitConverged(ctx, t, "deployment and service created")

	// The expected state is computed from the API; spell the preset out
	// once for one pod and the ClusterIP, so a wrong computation cannot
	// hide a wrong format.
	svc, err := e.c.Client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := pods[0]
	rs := metav1.GetControllerOf(&p).Name
	wantPod := []string{
		"k8s.cl_e2e.ns_" + ns,
		"k8s.cl_e2e.ns_" + ns + ".app.web",
		"k8s.cl_e2e.ns_" + ns + ".rs_" + rs,
		"k8s.cl_e2e.ns_" + ns + ".svc_web",
		"k8s.cl_e2e.ns_" + ns + ".tier.front",
	}
	if !slices.Equal(got[p.Status.PodIP], wantPod) {
		t.Errorf("pod %s (%s) holds %v, want %v", p.Name, p.Status.PodIP, got[p.Status.PodIP], wantPod)
	}
	wantSvc := []string{"k8s.cl_e2e.ns_" + ns, "k8s.cl_e2e.ns_" + ns + ".exposure.internal", "k8s.cl_e2e.ns_" + ns + ".svc_web"}
	if !slices.Equal(got[svc.Spec.ClusterIP], wantSvc) {
		t.Errorf("ClusterIP %s holds %v, want %v", svc.Spec.ClusterIP, got[svc.Spec.ClusterIP], wantSvc)
	}

	t.Run("relabel", func(t *testing.T) {
		e.patchPodLabels(ctx, t, ns, p.Name, map[string]any{"tier": "back", "canary": "yes"})
		got := e.waitConverged(ctx, t, "pod relabelled")
		tags := got[p.Status.PodIP]
		if !slices.Contains(tags, nsTag(ns)+".tier.back") || !slices.Contains(tags, nsTag(ns)+".canary.yes") || slices.Contains(tags, nsTag(ns)+".tier.front") {
			t.Errorf("relabelled pod %s holds %v", p.Status.PodIP, tags)
		}
		// Leaving the service's selector drops the svc tag (and the pod
		// leaves its ReplicaSet, which makes a replacement).
		e.patchPodLabels(ctx, t, ns, p.Name, map[string]any{"app": "orphan"})
		e.waitPods(ctx, t, ns, "app=web", 4)
		got = e.waitConverged(ctx, t, "pod left the service")
		if slices.Contains(got[p.Status.PodIP], svcTag(ns, "web")) {
			t.Errorf("pod outside the selector still holds the svc tag: %v", got[p.Status.PodIP])
		}
	})

	t.Run("delete", func(t *testing.T) {
		e.deletePod(ctx, t, ns, p.Name)
		e.scale(ctx, t, ns, "web", 2)
		e.waitPods(ctx, t, ns, "app=web", 2)
		e.waitConverged(ctx, t, "pods deleted, deployment scaled in")
	})

	t.Run("reuse", func(t *testing.T) { testReuse(ctx, t, e, ns) })
}

// testReuse deletes a pod and creates one with other labels on a node
// whose kwok IP pool then holds only the freed IP, so the new pod reuses
// it. A sampler reads the emulator as fast as it answers: no sample may
// give the IP the old pod's role tag together with the new pod's (no owner
// ever had both), and once the new pod's role has appeared, the old one
// never comes back. (The old tags may outlive the old pod for kubedag's
// propagation delay; what must never happen is the new owner's tags on top
// of them.)
func testReuse(ctx context.Context, t *testing.T, e *env, ns string) {
	mk := func(name, role string) *corev1.Pod {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"reuse": "yes", "role": role}},
			Spec: corev1.PodSpec{
				NodeName:                      e.reuseNode,
				Containers:                    []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
				AutomountServiceAccountToken:  new(false),
				TerminationGracePeriodSeconds: new(int64(0)),
			},
		}
		if _, err := e.c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		return pod
	}
	roleTag := func(role string) string { return nsTag(ns) + ".role." + role }

	prev := mk("reuse-0", "r0")
	prevIP := e.waitPods(ctx, t, ns, "reuse=yes", 1)[0].Status.PodIP
	e.waitConverged(ctx, t, "first reuse pod")
	const rounds = 4
	reused := 0
	for i := 1; i <= rounds; i++ {
		oldRole, newRole := fmt.Sprintf("r%d", i-1), fmt.Sprintf("r%d", i)
		ip := prevIP
		newSeen := false         // the sampler saw the new pod's role tag on ip
		var withOld, withNew int // samples showing each role (sampler goroutine only, read after stop)
		sm := e.startSampler(ctx, func(_ time.Time, s state) error {
			tags := s[ip]
			hasOld, hasNew := slices.Contains(tags, roleTag(oldRole)), slices.Contains(tags, roleTag(newRole))
			if hasOld && hasNew {
				return fmt.Errorf("%s carries both %s and %s: %v", ip, oldRole, newRole, tags)
			}
			if hasOld && newSeen {
				return fmt.Errorf("%s carries %s again after it carried %s: %v", ip, oldRole, newRole, tags)
			}
			newSeen = newSeen || hasNew
			if hasOld {
				withOld++
			}
			if hasNew {
				withNew++
			}
			return nil
		})
		w, err := e.c.Client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", fmt.Sprintf("reuse-%d", i)).String()})
		if err != nil {
			sm.stop()
			t.Fatal(err)
		}
		e.deletePod(ctx, t, ns, prev.Name)
		e.waitGone(ctx, t, ns, prev.Name)
		prev = mk(fmt.Sprintf("reuse-%d", i), newRole)
		newIP := waitRunningIP(ctx, t, w)
		if newIP == ip {
			reused++
		}
		e.waitConverged(ctx, t, fmt.Sprintf("reuse round %d (%s -> %s)", i, ip, newIP))
		n, err := sm.stop()
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		t.Logf("round %d: IP %s -> %s, %d samples (%d with the old role, %d with the new)", i, ip, newIP, n, withOld, withNew)
		prevIP = newIP
	}
	if reused == 0 {
		t.Fatalf("kwok never reused a freed IP in %d rounds: the test proved nothing", rounds)
	}
}

// waitGone waits until the pod no longer exists (kwok finished deleting it,
// so its IP is back in kwok's pool).
func (e *env) waitGone(ctx context.Context, t *testing.T, ns, name string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, convergeTimeout, true, func(ctx context.Context) (bool, error) {
		_, err := e.c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		t.Fatalf("pod %s/%s not gone: %v", ns, name, err)
	}
}

// waitRunningIP reads w until its pod is Running with an IP, and stops w.
func waitRunningIP(ctx context.Context, t *testing.T, w watch.Interface) string {
	t.Helper()
	defer w.Stop()
	timeout := time.After(convergeTimeout)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("pod watch closed")
			}
			if p, isPod := ev.Object.(*corev1.Pod); isPod && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
				return p.Status.PodIP
			}
		case <-timeout:
			t.Fatalf("pod not Running within %s", convergeTimeout)
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
}
