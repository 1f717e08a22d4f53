// Package apiservertest proves aggregator/auth and the agent stream against
// a real kube-apiserver (e2e/cluster): real projected ServiceAccount tokens,
// real TokenReview, real Node and Pod objects. It holds only tests.
package apiservertest
