package agent

import rbacv1 "k8s.io/api/rbac/v1"

// RBACRules are exactly the Kubernetes API calls the agent makes with its
// ServiceAccount: the pod informer of its node (agent/podwatch, field
// selector spec.nodeName) and the cluster-wide Namespace informer. No
// EndpointSlices: which Services a pod backs the aggregator derives from
// its own view. Informers list with a streaming watch where the API server
// supports it, and list then watch where it does not: both verbs. The
// chart's agent ClusterRole grants these and nothing else
// (charts/rbac_test.go compares them, and runs the agent with the chart's
// ServiceAccount against a real API server, auditing every call).
var RBACRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "watch"}},
	{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"list", "watch"}},
}
