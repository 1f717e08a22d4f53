package system

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubedag/kubedag/userid"
)

// TestFirewallOutage makes the emulator answer HTTP 503 to every API call,
// changes pods, labels and services meanwhile, and ends the outage: nothing
// reaches the firewall while it is down, everything converges after.
func TestFirewallOutage(t *testing.T) {
	e := sys
	e.mustAlive(t)
	ctx := t.Context()
	ns := e.newNamespace(t, "outage")
	pods := e.deployWeb(ctx, t, ns, 4)
	live := e.waitConverged(ctx, t, "before the outage")

	if err := e.simPost(ctx, "reset-stats"); err != nil {
		t.Fatal(err)
	}
	if err := e.simPost(ctx, "outage?down=true"); err != nil {
		t.Fatal(err)
	}
	outage := true
	defer func() {
		if outage {
			_ = e.simPost(context.Background(), "outage?down=false")
		}
	}()
	e.patchPodLabels(ctx, t, ns, pods[0].Name, map[string]any{"tier": "back"})
	e.deletePod(ctx, t, ns, pods[1].Name)
	e.scale(ctx, t, ns, "web", 6)
	api := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: ns},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"tier": "back"}, Ports: []corev1.ServicePort{{Port: 8080}}},
	}
	if _, err := e.c.Client.CoreV1().Services(ns).Create(ctx, api, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitPods(ctx, t, ns, "app=web", 6)

	// The aggregator tried and was refused (HTTP 503 counts under 503).
	var st503 int
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, convergeTimeout, true, func(ctx context.Context) (bool, error) {
		st, err := e.simStats(ctx)
		if err != nil {
			return false, err
		}
		st503 = st.Errors[503]
		return st503 > 0 && st.RegisterEntries+st.UnregisterEntries == 0, nil
	})
	if err != nil {
		t.Fatalf("the aggregator never hit the outage (503s: %d): %v", st503, err)
	}
	reg, err := e.simRegistered(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(live, owned(reg)); d != "" {
		t.Fatalf("the emulator changed during its outage:\n%s", d)
	}

	if err := e.simPost(ctx, "outage?down=false"); err != nil {
		t.Fatal(err)
	}
	outage = false
	got := e.waitConverged(ctx, t, "after the outage")
	svc, err := e.c.Client.CoreV1().Services(ns).Get(ctx, "api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got[svc.Spec.ClusterIP], svcTag(ns, "api")) || !slices.Contains(got[pods[0].Status.PodIP], svcTag(ns, "api")) {
		t.Errorf("service created during the outage: ClusterIP %s holds %v, member pod %s holds %v",
			svc.Spec.ClusterIP, got[svc.Spec.ClusterIP], pods[0].Status.PodIP, got[pods[0].Status.PodIP])
	}
}

// TestFirewallReboot tampers with the firewall behind kubedag's back (one
// of its tags removed, a stale tag of its prefix added, foreign tags
// added), then reboots the emulator. kubedag registers its tags persistent,
// so the reboot drops only the non-persistent canary; its absence must
// trigger a reconcile at once (the periodic resync is 30m here) that
// repairs both ways and leaves the foreign tags alone.
func TestFirewallReboot(t *testing.T) {
	e := sys
	e.mustAlive(t)
	ctx := t.Context()
	ns := e.newNamespace(t, "reboot")
	pods := e.deployWeb(ctx, t, ns, 2)
	e.waitConverged(ctx, t, "before the reboot")
	reg, err := e.simRegistered(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(reg[canaryIP]) == 0 {
		t.Fatalf("no canary registered on %s: %v", canaryIP, reg)
	}
	reboots, err := e.aggCounter(ctx, "kubedag_target_reboots")
	if err != nil {
		t.Fatal(err)
	}

	pod0, pod1 := netip.MustParseAddr(pods[0].Status.PodIP), netip.MustParseAddr(pods[1].Status.PodIP)
	foreignIP := netip.MustParseAddr("198.51.100.7")
	stale := nsTag(ns) + ".stale"
	const foreign = "other-team.web"
	res, err := e.fw.Update(ctx, userid.Update{
		Unregister: []userid.Entry{{IP: pod0, Tags: []userid.Tag{{Name: nsTag(ns)}}}},
		Register: []userid.Entry{
			{IP: pod1, Tags: []userid.Tag{{Name: stale}, {Name: foreign}}},
			{IP: foreignIP, Tags: []userid.Tag{{Name: foreign}}},
		},
	})
	if err != nil || len(res.Failed) > 0 {
		t.Fatalf("tamper: %v %v", err, res.Failed)
	}
	reg, err = e.simRegistered(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(reg[pod0.String()], nsTag(ns)) || !slices.Contains(reg[pod1.String()], stale) {
		t.Fatalf("tamper not visible: %s %v, %s %v", pod0, reg[pod0.String()], pod1, reg[pod1.String()])
	}

	if err := e.simPost(ctx, "reboot"); err != nil {
		t.Fatal(err)
	}
	if reg, err = e.simRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	if len(reg[canaryIP]) != 0 {
		t.Fatalf("the reboot kept the non-persistent canary: %v", reg[canaryIP])
	}
	began := time.Now()
	e.waitConverged(ctx, t, "after the reboot (canary check every 30s)")
	t.Logf("repaired %s after the reboot", time.Since(began).Round(time.Millisecond))

	reg, err = e.simRegistered(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(reg[pod1.String()], foreign) || !slices.Contains(reg[foreignIP.String()], foreign) {
		t.Errorf("kubedag touched tags it does not own: %s %v, %s %v", pod1, reg[pod1.String()], foreignIP, reg[foreignIP.String()])
	}
	err = wait.PollUntilContextTimeout(ctx, pollEvery, convergeTimeout, true, func(ctx context.Context) (bool, error) {
		reg, err := e.simRegistered(ctx)
		return err == nil && len(reg[canaryIP]) > 0, nil
	})
	if err != nil {
		t.Errorf("canary not registered again after the reboot: %v", err)
	}
	after, err := e.aggCounter(ctx, "kubedag_target_reboots")
	if err != nil {
		t.Fatal(err)
	}
	if after <= reboots {
		t.Errorf("kubedag_target_reboots stayed at %v: the repair was not canary-triggered", after)
	}
	// Clean up the foreign tags so later tests see only kubedag's.
	if _, err := e.fw.Update(ctx, userid.Update{Unregister: []userid.Entry{
		{IP: pod1, Tags: []userid.Tag{{Name: foreign}}}, {IP: foreignIP, Tags: []userid.Tag{{Name: foreign}}},
	}}); err != nil {
		t.Error(err)
	}
}

// aggCounter reads a counter from the aggregator's /metrics, under its name
// or with the _total suffix Prometheus exporters add; a counter never
// incremented yet may be absent and reads 0.
func (e *env) aggCounter(ctx context.Context, name string) (float64, error) {
	v, err := e.aggMetric(ctx, name+"_total")
	if err == nil {
		return v, nil
	}
	if v, err2 := e.aggMetric(ctx, name); err2 == nil {
		return v, nil
	}
	if ctx.Err() != nil {
		return 0, fmt.Errorf("read %s: %w", name, ctx.Err())
	}
	return 0, nil
}
