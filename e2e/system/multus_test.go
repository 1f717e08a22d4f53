package system

import (
	"encoding/json"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestMultus: agents and aggregator run with --multus. A pod's secondary
// interfaces, as Multus reports them in its network-status annotation,
// get the pod's tags plus the network tag, claimed by the pod's agent and
// confirmed by the aggregator's pod view; a malformed annotation takes the
// secondary IPs away (never the pod's own) and crashes nothing; a deleted
// pod's secondary IPs are unregistered.
func TestMultus(t *testing.T) {
	e := sys
	e.mustAlive(t)
	ctx := t.Context()
	ns := e.newNamespace(t, "multus")
	node := e.webNodes[1]
	if _, err := e.c.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "router", Labels: map[string]string{"app": "router"}},
		Spec: corev1.PodSpec{
			NodeName: node, AutomountServiceAccountToken: new(false), TerminationGracePeriodSeconds: new(int64(0)),
			Containers: []corev1.Container{{Name: "c", Image: "router:e2e"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := e.waitPods(ctx, t, ns, "app=router", 1)[0]
	own := pod.Status.PodIPs[0].IP

	// What Multus writes once the pod's interfaces are up.
	status := []map[string]any{
		{"name": "kindnet", "interface": "eth0", "ips": []string{own}, "default": true},
		{"name": ns + "/macvlan-conf", "interface": "net1", "ips": []string{"192.168.77.10", "fd00:77::10"}, "mac": "86:1d:96:ff:55:0d"},
	}
	annotate := func(value string) {
		t.Helper()
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{"k8s.v1.cni.cncf.io/network-status": value}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.Client.CoreV1().Pods(ns).Patch(ctx, "router", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := json.Marshal(status)
	annotate(string(b))
	got := e.waitConverged(ctx, t, "secondary interfaces reported")
	netTag := tagPrefix + ".net_" + ns + ".macvlan-conf"
	wantOwn := []string{nsTag(ns), nsTag(ns) + ".app.router"}
	wantNet := append(slices.Clone(wantOwn), netTag)
	slices.Sort(wantNet)
	if !slices.Equal(got[own], wantOwn) {
		t.Errorf("own IP %s holds %v, want %v", own, got[own], wantOwn)
	}
	for _, ip := range []string{"192.168.77.10", "fd00:77::10"} {
		if !slices.Equal(got[ip], wantNet) {
			t.Errorf("secondary IP %s holds %v, want %v", ip, got[ip], wantNet)
		}
	}

	annotate(`[{"name":"` + ns + `/macvlan-conf","ips":["192.168.77.300"]}`)
	got = e.waitConverged(ctx, t, "malformed annotation")
	for _, ip := range []string{"192.168.77.10", "fd00:77::10"} {
		if tags, ok := got[ip]; ok {
			t.Errorf("secondary IP %s still holds %v after a malformed annotation", ip, tags)
		}
	}
	if !slices.Equal(got[own], wantOwn) {
		t.Errorf("own IP %s holds %v after a malformed annotation, want %v", own, got[own], wantOwn)
	}
	e.mustAlive(t)

	annotate(string(b))
	e.waitConverged(ctx, t, "annotation repaired")
	e.deletePod(ctx, t, ns, "router")
	e.waitPods(ctx, t, ns, "app=router", 0)
	got = e.waitConverged(ctx, t, "pod deleted")
	for _, ip := range []string{own, "192.168.77.10", "fd00:77::10"} {
		if tags, ok := got[ip]; ok {
			t.Errorf("IP %s of the deleted pod still holds %v", ip, tags)
		}
	}
}
