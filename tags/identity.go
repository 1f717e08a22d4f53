package tags

// Kind is the kind of Kubernetes object an IP belongs to.
type Kind string

const (
	KindPod     Kind = "Pod"
	KindService Kind = "Service"
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
}
