package system

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestNodeTags: a Node's InternalIP carries the cluster node tag and its
// allowed labels' tags, its ExternalIP the external node tag, both served
// by the aggregator from its Node informer (no agent runs on this node);
// a relabel follows; a hostNetwork pod on the node never puts its identity
// on the node IP; a deleted Node loses every tag.
func TestNodeTags(t *testing.T) {
	e := sys
	e.mustAlive(t)
	ctx := t.Context()
	cs := e.c.Client
	names, err := e.c.CreateNodes(ctx, "sys-nodetags", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.c.WaitNodesReady(ctx, names...); err != nil {
		t.Fatal(err)
	}
	name := names[0]
	n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Labels["topology.kubernetes.io/zone"] = "eu-west-1a"
	n.Labels["node.kubernetes.io/instance-type"] = "m5.large"
	if n, err = cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	const extIP = "203.0.113.77"
	n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: extIP})
	if n, err = cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var internalIP string
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			internalIP = a.Address
		}
	}
	if internalIP == "" {
		t.Fatalf("node %s has no InternalIP: %v", name, n.Status.Addresses)
	}

	// A hostNetwork pod on the node holds the node IP.
	ns := e.newNamespace(t, "nodetags")
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "host", Labels: map[string]string{"app": "host"}},
		Spec: corev1.PodSpec{
			NodeName: name, HostNetwork: true, AutomountServiceAccountToken: new(false),
			TerminationGracePeriodSeconds: new(int64(0)),
			Containers:                    []corev1.Container{{Name: "c", Image: "host:e2e"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitPods(ctx, t, ns, "app=host", 1)

	got := e.waitConverged(ctx, t, "node labelled, ExternalIP added")
	// Spelled out once, so a wrong model in expected cannot hide a wrong
	// format.
	want := []string{
		"k8s.cl_e2e.node.node.kubernetes.io_instance-type.m5.large",
		"k8s.cl_e2e.node.topology.kubernetes.io_zone.eu-west-1a",
		"k8s.cl_e2e.nodes",
	}
	if !slices.Equal(got[internalIP], want) {
		t.Errorf("InternalIP %s holds %v, want %v (the hostNetwork pod's identity never)", internalIP, got[internalIP], want)
	}
	wantExt := []string{want[0], want[1], "k8s.cl_e2e.nodes.external"}
	if !slices.Equal(got[extIP], wantExt) {
		t.Errorf("ExternalIP %s holds %v, want %v", extIP, got[extIP], wantExt)
	}

	if n, err = cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	n.Labels["topology.kubernetes.io/zone"] = "eu-west-1b"
	if _, err := cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	got = e.waitConverged(ctx, t, "node relabelled")
	if !slices.Contains(got[internalIP], "k8s.cl_e2e.node.topology.kubernetes.io_zone.eu-west-1b") {
		t.Errorf("relabelled node's InternalIP holds %v", got[internalIP])
	}

	e.deletePod(ctx, t, ns, "host")
	e.waitPods(ctx, t, ns, "app=host", 0)
	if err := cs.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got = e.waitConverged(ctx, t, "node deleted")
	if tags, ok := got[internalIP]; ok {
		t.Errorf("deleted node's InternalIP still holds %v", tags)
	}
	if tags, ok := got[extIP]; ok {
		t.Errorf("deleted node's ExternalIP still holds %v", tags)
	}
}
