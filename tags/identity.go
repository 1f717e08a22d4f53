package tags

import (
	"maps"
	"slices"
)

// Kind is the kind of Kubernetes object an IP belongs to.
type Kind string

const (
	KindPod     Kind = "Pod"
	KindService Kind = "Service"
	// KindNode is a Node's own addresses (InternalIPs, and ExternalIPs if
	// Config.NodeExternalIPs). The aggregator derives node tags from its
	// own Node informer; agents never claim nodes.
	KindNode Kind = "Node"
)

// Identity is everything about the owner of one IP that tags may be derived
// from. Agents send Identities (not tags) so that tag policy lives in one
// place, the aggregator's configuration.
type Identity struct {
	Kind      Kind
	Namespace string
	Name      string
	// UID of the pod or service; two claims on one IP with different UIDs
	// are an IP-reuse conflict.
	UID    string
	Labels map[string]string
	// OwnerKind and OwnerName name the controller that owns a pod, resolved
	// to the workload: ReplicaSet, DaemonSet, StatefulSet, Job, ... (empty
	// for bare pods).
	OwnerKind string
	OwnerName string
	// Services lists the names of the Services (same namespace) whose
	// EndpointSlices contain this pod, sorted.
	Services []string
	// NamespaceLabels are the labels of the Namespace, where known.
	NamespaceLabels map[string]string
	// Selector is a Service's spec.selector (empty for pods and for
	// services without a selector). The aks preset tags it.
	Selector map[string]string
	// Network is, for an IP of a pod's secondary (Multus) interface, the
	// network attachment's name from the pod's network-status annotation
	// ("namespace/name"); empty for the pod's own IPs. The presets add a
	// network tag for it.
	Network string
}

// Equal reports whether id and o are the same identity, field by field
// (every field, so a change of any, such as a Service's Selector, is a
// change). Nil and empty maps and slices are equal.
func (id Identity) Equal(o Identity) bool {
	return id.Kind == o.Kind && id.Namespace == o.Namespace && id.Name == o.Name &&
		id.UID == o.UID && id.OwnerKind == o.OwnerKind && id.OwnerName == o.OwnerName && id.Network == o.Network &&
		maps.Equal(id.Labels, o.Labels) && slices.Equal(id.Services, o.Services) &&
		maps.Equal(id.NamespaceLabels, o.NamespaceLabels) && maps.Equal(id.Selector, o.Selector)
}
