// Package apiservertest proves aggregator/explain against a real
// kube-apiserver (e2e/cluster): real ServiceAccount tokens reviewed by
// TokenReview, access decided by RBAC through SubjectAccessReview, and the
// whole `kubedag explain` path: a kubeconfig, the API server's service
// proxy, the endpoint.
//
// The API server's service proxy only reaches pod IPs (it refuses
// loopback endpoints), and kwok gives pods no network. So the control plane
// runs with an egress selector that sends the API server's "cluster"
// traffic through an HTTP CONNECT proxy on loopback (podNetwork), which
// maps the aggregator pod's IP to the endpoint served by the test. Nothing
// leaves the loopback interface. It holds only tests.
package apiservertest
