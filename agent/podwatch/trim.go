package podwatch

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubedag/kubedag/tags/podidentity"
)

// trim is the informers' transform: it keeps only the fields the watcher
// reads, so the caches of a node agent stay small. Objects of other types
// (such as tombstones) are returned unchanged. With multus, pods keep their
// network-status annotation (and no other). trim is idempotent.
func trim(obj any, multus bool) any {
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
		if v, ok := o.Annotations[podidentity.NetworkStatusAnnotation]; ok && multus {
			p.Annotations = map[string]string{podidentity.NetworkStatusAnnotation: v}
		}
		return p
	case *corev1.Namespace:
		return podidentity.TrimNamespace(o)
	default:
		return obj
	}
}
