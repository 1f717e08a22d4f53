package podview

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Trim is the informers' transform: it keeps only what identity and IP
// ownership need, so a cluster-wide view stays small. Pods become Facts
// (a quarter of a corev1.Pod's fixed size). EndpointSlices keep
// their Service name and their endpoints' pod targetRefs; Namespaces their
// labels. Other objects (tombstones) are returned unchanged; Trim is
// idempotent.
func Trim(obj any) any {
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
		return p
	case *discoveryv1.EndpointSlice:
		s := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{
				Name:            o.Name,
				Namespace:       o.Namespace,
				UID:             o.UID,
				ResourceVersion: o.ResourceVersion,
			},
			AddressType: o.AddressType,
		}
		if svc, ok := o.Labels[discoveryv1.LabelServiceName]; ok {
			s.Labels = map[string]string{discoveryv1.LabelServiceName: svc}
		}
		for i := range o.Endpoints {
			r := o.Endpoints[i].TargetRef
			if r == nil || r.Kind != "Pod" {
				continue
			}
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
				TargetRef: &corev1.ObjectReference{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name, UID: r.UID},
			})
		}
		return s
	case *corev1.Namespace:
		return &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{
				Name:            o.Name,
				UID:             o.UID,
				ResourceVersion: o.ResourceVersion,
				Labels:          o.Labels,
			},
		}
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
}

// GetObjectKind implements runtime.Object.
func (f *Facts) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject implements runtime.Object.
func (f *Facts) DeepCopyObject() runtime.Object {
	c := *f
	f.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	c.IPs = slices.Clone(f.IPs)
	return &c
}
