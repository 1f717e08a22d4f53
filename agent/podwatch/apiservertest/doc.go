// Package apiservertest holds podwatch's tests against a real kube-apiserver
// (e2e/cluster with kwok nodes): the field selector under the Node
// authorizer, relabels, claims without Services (the agent may not read
// EndpointSlices), deletion. It has no non-test code.
package apiservertest
