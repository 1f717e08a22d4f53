package aggregator

import rbacv1 "k8s.io/api/rbac/v1"

// ClusterRBACRules are exactly the cluster-wide Kubernetes API calls the
// aggregator makes with its ServiceAccount. The chart's aggregator
// ClusterRole grants these and nothing else (charts/rbac_test.go compares
// them, and runs the aggregator with the chart's ServiceAccount against a
// real API server, auditing every call). Add a rule here with the code
// that needs it.
var ClusterRBACRules = []rbacv1.PolicyRule{
	// servicewatch and the sandwich's labelled-Service watcher: Service
	// informers (list for servers without streaming watch lists); explain
	// gets the Service asked about and lists those holding an IP.
	{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "list", "watch"}},
	// podview: the cluster-wide pod, Namespace and EndpointSlice informers
	// that claims are checked against.
	{APIGroups: []string{""}, Resources: []string{"pods", "namespaces"}, Verbs: []string{"list", "watch"}},
	{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
	// A new leader lists the nodes whose snapshots it waits for; nodewatch
	// (node tags, if on) watches them.
	{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"list", "watch"}},
	// auth.TokenAuthenticator: agents' projected tokens; explain: the
	// callers' tokens.
	{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
	// explain: what each caller may get (SubjectAccessReview).
	{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
	// sandwich/kube: Events on labelled Services (an event recorder creates,
	// then patches repeated ones).
	{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
}

// LeaseRBACRules are the calls of leader election on its Lease, in the
// aggregator's namespace: create (no name is known before it exists), and
// get and update on the one Lease (the chart names it).
var LeaseRBACRules = []rbacv1.PolicyRule{
	{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
	{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "update"}},
}
