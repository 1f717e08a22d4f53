package podview

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Trim is the informers' transform: it keeps only what identity and IP
// ownership need, so a cluster-wide view stays small. EndpointSlices keep
// their Service name and their endpoints' pod targetRefs; Namespaces their
// labels. Other objects (tombstones) are returned unchanged; Trim is
// idempotent.
func Trim(obj any) any {
	switch o := obj.(type) {
	case *corev1.Pod:
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name:              o.Name,
				Namespace:         o.Namespace,
				UID:               o.UID,
				ResourceVersion:   o.ResourceVersion,
				Labels:            o.Labels,
				DeletionTimestamp: o.DeletionTimestamp,
			},
			Spec: corev1.PodSpec{
				NodeName:    o.Spec.NodeName,
				HostNetwork: o.Spec.HostNetwork,
			},
			Status: corev1.PodStatus{
				Phase:  o.Status.Phase,
				PodIPs: o.Status.PodIPs,
			},
		}
		if len(o.Status.PodIPs) == 0 {
			p.Status.PodIP = o.Status.PodIP
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
