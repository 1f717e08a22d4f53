package aggregator

import rbacv1 "k8s.io/api/rbac/v1"

// ClusterRBACRules are exactly the cluster-wide Kubernetes API calls the
// aggregator makes with its ServiceAccount. The chart's aggregator
// ClusterRole grants these and nothing else (charts/rbac_test.go compares
// them, and runs the aggregator with the chart's ServiceAccount against a
// real API server, auditing every call). Add a rule here with the code
// that needs it.
var ClusterRBACRules = []rbacv1.PolicyRule{
	// servicewatch: the Service informer (list for servers without
	// streaming watch lists).
	{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"list", "watch"}},
	// auth.ClaimValidator: a claimed IP outside the node's podCIDRs must be
	// its pod's (get; list and watch for the cluster-wide pod informer).
	{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
	// auth.ClaimValidator reads the node's podCIDRs and InternalIPs (get);
	// a new leader lists the nodes whose snapshots it waits for (list).
	{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list"}},
	// auth.TokenAuthenticator: agents' projected tokens.
	{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
}

// LeaseRBACRules are the calls of leader election on its Lease, in the
// aggregator's namespace: create (no name is known before it exists), and
// get and update on the one Lease (the chart names it).
var LeaseRBACRules = []rbacv1.PolicyRule{
	{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
	{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "update"}},
}
