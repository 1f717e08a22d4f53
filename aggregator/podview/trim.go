package podview

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubedag/kubedag/tags/podidentity"
)

// Trim is the informers' transform: it keeps only what identity and IP
// ownership need, so a cluster-wide view stays small. Pods become Facts
// (a quarter of a corev1.Pod's fixed size). EndpointSlices keep
// their Service name and their endpoints' pod targetRefs; Namespaces their
// labels. Other objects (tombstones) are returned unchanged; Trim is
// idempotent.
func Trim(obj any) any {
	return trim(obj, nil)
}

// trim is Trim that, with a non-nil secondary, also keeps a pod's
// secondary-interface (Multus) IPs: secondary parses them, reporting a
// malformed annotation itself.
func trim(obj any, secondary func(p *corev1.Pod, own []netip.Addr) []podidentity.NetworkIP) any {
	switch o := obj.(type) {
	case *corev1.Pod:
		p := &Facts{
			ObjectMeta: metav1.ObjectMeta{
				Name:              o.Name,
				Namespace:         o.Namespace,
				UID:               o.UID,
				ResourceVersion:   o.ResourceVersion,
				Labels:            o.Labels,
				DeletionTimestamp: o.DeletionTimestamp,
			},
			Node:        o.Spec.NodeName,
			HostNetwork: o.Spec.HostNetwork,
			Phase:       o.Status.Phase,
			IPs:         addrs(o),
		}
		if ref := metav1.GetControllerOf(o); ref != nil {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: ref.Kind, Name: ref.Name, UID: ref.UID, Controller: ref.Controller}}
		}
		if secondary != nil && !o.Spec.HostNetwork {
			p.Nets = secondary(o, p.IPs)
		}
		return p
	case *discoveryv1.EndpointSlice:
		return podidentity.TrimSlice(o)
	case *corev1.Namespace:
		return podidentity.TrimNamespace(o)
	default:
		return obj
	}
}

// Facts is what the view keeps of a pod: its metadata (name, namespace,
// UID, labels, controller, deletion) and where and whether it holds IPs.
type Facts struct {
	metav1.ObjectMeta
	Node        string
	HostNetwork bool
	Phase       corev1.PodPhase
	IPs         []netip.Addr
	// Nets are the pod's secondary-interface (Multus) IPs, only with
	// Options.Multus.
	Nets []podidentity.NetworkIP
}

// GetObjectKind implements runtime.Object.
func (f *Facts) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject implements runtime.Object.
func (f *Facts) DeepCopyObject() runtime.Object {
	c := *f
	f.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	c.IPs = slices.Clone(f.IPs)
	c.Nets = slices.Clone(f.Nets)
	return &c
}
