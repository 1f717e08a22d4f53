// Package podidentity derives a pod's identity (tags.Identity) from what the
// API server holds: the pod and its Namespace (Of), and the Services whose
// EndpointSlices list it (Services). The agent derives the claims it sends
// with Of and the aggregator derives, with the same code, what it verifies
// them against, so an honest claim always equals the aggregator's view (see
// aggregator/verify). Services are the aggregator's alone: it adds them
// from its own cluster-wide EndpointSlice view, so agents need not watch
// EndpointSlices. It also holds the informer pieces: the EndpointSlice
// index and the trims of EndpointSlices and Namespaces.
package podidentity

import (
	"iter"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/kubedag/kubedag/tags"
)

// SliceIndex names the EndpointSlice index SlicePodKeys computes:
// "namespace/name" of each endpoint's pod targetRef -> the slices listing it.
const SliceIndex = "pod"

// ServiceNameLabel is the EndpointSlice label naming its Service.
const ServiceNameLabel = discoveryv1.LabelServiceName

// Of returns the identity of pod without its Services (see Services), with
// the namespace labels found in the Namespace indexer namespaces.
func Of(pod metav1.Object, namespaces cache.Indexer) tags.Identity {
	id := tags.Identity{
		Kind:      tags.KindPod,
		Namespace: pod.GetNamespace(),
		Name:      pod.GetName(),
		UID:       string(pod.GetUID()),
		Labels:    pod.GetLabels(),
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		id.OwnerKind, id.OwnerName = ref.Kind, ref.Name
	}
	if obj, ok, err := namespaces.GetByKey(pod.GetNamespace()); err == nil && ok {
		if ns, ok := obj.(*corev1.Namespace); ok {
			id.NamespaceLabels = ns.Labels
		}
	}
	return id
}

// Services returns the sorted names of the Services whose EndpointSlices
// list the pod (by targetRef, the UID compared when both are known), found
// in the EndpointSlice indexer sliceIndexer (indexed by SliceIndex).
// Endpoints count regardless of readiness, so a pod's tags do not flap with
// its probes.
func Services(sliceIndexer cache.Indexer, pod metav1.Object) []string {
	ns, name, uid := pod.GetNamespace(), pod.GetName(), pod.GetUID()
	objs, err := sliceIndexer.ByIndex(SliceIndex, ns+"/"+name)
	if err != nil || len(objs) == 0 {
		return nil
	}
	var out []string
	for _, o := range objs {
		s, ok := o.(*discoveryv1.EndpointSlice)
		if !ok || s.Namespace != ns {
			continue
		}
		svc := s.Labels[ServiceNameLabel]
		if svc == "" || slices.Contains(out, svc) {
			continue
		}
		for i := range s.Endpoints {
			r := s.Endpoints[i].TargetRef
			if r != nil && r.Kind == "Pod" && r.Name == name &&
				(r.Namespace == "" || r.Namespace == ns) &&
				(r.UID == "" || uid == "" || r.UID == uid) {
				out = append(out, svc)
				break
			}
		}
	}
	slices.SortFunc(out, strings.Compare)
	return out
}

// IPs parses status.podIPs (falling back to status.podIP) into distinct
// addresses (IPv4-mapped unmapped, zones dropped); malformed or unspecified
// entries are returned in bad for the caller to report.
func IPs(st *corev1.PodStatus) (ips []netip.Addr, bad []string) {
	add := func(s string) {
		ip, err := netip.ParseAddr(s)
		if err != nil || ip.IsUnspecified() {
			bad = append(bad, s)
			return
		}
		ip = ip.Unmap().WithZone("")
		if !slices.Contains(ips, ip) {
			ips = append(ips, ip)
		}
	}
	for _, p := range st.PodIPs {
		add(p.IP)
	}
	if len(st.PodIPs) == 0 && st.PodIP != "" {
		add(st.PodIP)
	}
	return ips, bad
}

// SlicePodKeys is the SliceIndex function: the "namespace/name" keys of the
// pods an EndpointSlice's endpoints refer to.
func SlicePodKeys(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	var keys []string
	for key := range SlicePods(s) {
		keys = append(keys, key)
	}
	return keys, nil
}

// SlicePods yields the pods an EndpointSlice's endpoints refer to: each
// one's "namespace/name" key (the namespace defaults to the slice's) and
// its targetRef.
func SlicePods(s *discoveryv1.EndpointSlice) iter.Seq2[string, *corev1.ObjectReference] {
	return func(yield func(string, *corev1.ObjectReference) bool) {
		for i := range s.Endpoints {
			r := s.Endpoints[i].TargetRef
			if r == nil || r.Kind != "Pod" || r.Name == "" {
				continue
			}
			ns := r.Namespace
			if ns == "" {
				ns = s.Namespace
			}
			if !yield(ns+"/"+r.Name, r) {
				return
			}
		}
	}
}

// TrimSlice keeps of an EndpointSlice what identity needs: its Service name
// label and its endpoints' pod targetRefs (with nodeName).
func TrimSlice(o *discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
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
}

// TrimNamespace keeps of a Namespace its name, UID, version and labels.
func TrimNamespace(o *corev1.Namespace) *corev1.Namespace {
	return &corev1.Namespace{
		TypeMeta: o.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:            o.Name,
			UID:             o.UID,
			ResourceVersion: o.ResourceVersion,
			Labels:          o.Labels,
		},
	}
}
