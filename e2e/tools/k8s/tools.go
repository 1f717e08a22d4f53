//go:build tools

// Package k8stools pins the Kubernetes control-plane commands that
// e2e/tools/tools.sh builds. It is never compiled into kubedag.
package k8stools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
