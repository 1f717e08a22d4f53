// Package kubeapi is the agent's access to the Kubernetes API: list and
// watch of its node's pods and of Namespaces (a podwatch.Source) over a
// REST client whose scheme holds only core/v1 and discovery/v1 (the
// latter for the scale benchmark's cluster-wide EndpointSlice informer;
// the agent does not watch EndpointSlices).
//
// client-go's typed clientset registers every API group of Kubernetes in
// its scheme when imported, which links the generated code of all of them
// into the binary; the agent reads one group, and the pages of a binary
// are part of a node agent's resident memory. Nothing here imports
// k8s.io/client-go/kubernetes or k8s.io/client-go/informers, and
// cmd/kubedag-agent links only this (kubeapi/typed adapts a clientset,
// for tests with client-go's fake one).
package kubeapi
