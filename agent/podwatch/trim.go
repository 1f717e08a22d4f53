package podwatch

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// trim is the informers' transform: it keeps only the fields the watcher
// reads, so the caches of a node agent stay small. EndpointSlices keep only
// the endpoints that may belong to this node's pods (nodeName equal to this
// node, or unset), with their targetRef. Objects of other types (such as
// tombstones) are returned unchanged. trim is idempotent.
func trim(obj any, node string) any {
	switch o := obj.(type) {
	case *corev1.Pod:
		p := &corev1.Pod{
			TypeMeta: o.TypeMeta,
			ObjectMeta: metav1.ObjectMeta{
				Name:              o.Name,
				Namespace:         o.Namespace,
				UID:               o.UID,
				ResourceVersion:   o.ResourceVersion,
				Labels:            o.Labels,
				CreationTimestamp: o.CreationTimestamp,
				DeletionTimestamp: o.DeletionTimestamp,
			},
			Spec: corev1.PodSpec{
				NodeName:    o.Spec.NodeName,
				HostNetwork: o.Spec.HostNetwork,
			},
			Status: corev1.PodStatus{
				Phase:  o.Status.Phase,
				PodIP:  o.Status.PodIP,
				PodIPs: o.Status.PodIPs,
			},
		}
		if ref := metav1.GetControllerOf(o); ref != nil {
			p.OwnerReferences = []metav1.OwnerReference{*ref}
		}
		return p
	case *discoveryv1.EndpointSlice:
		s := &discoveryv1.EndpointSlice{
			TypeMeta: o.TypeMeta,
			ObjectMeta: metav1.ObjectMeta{
				Name:            o.Name,
				Namespace:       o.Namespace,
				UID:             o.UID,
				ResourceVersion: o.ResourceVersion,
			},
			AddressType: o.AddressType,
		}
		if svc, ok := o.Labels[ServiceNameLabel]; ok {
			s.Labels = map[string]string{ServiceNameLabel: svc}
		}
		for i := range o.Endpoints {
			e := &o.Endpoints[i]
			if e.TargetRef == nil || e.TargetRef.Kind != "Pod" {
				continue
			}
			if e.NodeName != nil && *e.NodeName != node {
				continue
			}
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
				NodeName: e.NodeName,
				TargetRef: &corev1.ObjectReference{
					Kind:      e.TargetRef.Kind,
					Namespace: e.TargetRef.Namespace,
					Name:      e.TargetRef.Name,
					UID:       e.TargetRef.UID,
				},
			})
		}
		return s
	case *corev1.Namespace:
		return &corev1.Namespace{
			TypeMeta: o.TypeMeta,
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
