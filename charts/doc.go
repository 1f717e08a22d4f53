// Package charts holds the kubedag Helm chart (charts/kubedag) and its tests:
// helm lint, helm template with assertions on the rendered objects, a
// server-side dry-run apply to a real kube-apiserver (e2e/cluster), and the
// checks that keep the Dockerfile's build in step with `make build`.
package charts
