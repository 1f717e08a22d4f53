// Package typed adapts a client-go typed clientset (the fake one of tests,
// or a clientset a process already has) to podwatch.Source. The agent
// binary uses agent/kubeapi instead, which does not link the clientset.
package typed

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Source is a podwatch.Source over a clientset.
type Source struct{ cs kubernetes.Interface }

// New returns a Source reading through cs.
func New(cs kubernetes.Interface) Source { return Source{cs: cs} }

// Pods lists and watches the pods bound to node.
func (s Source) Pods(node string) cache.ListerWatcher {
	sel := fields.OneTermEqualSelector("spec.nodeName", node).String()
	pods := s.cs.CoreV1().Pods(metav1.NamespaceAll)
	return s.wrap(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return pods.Watch(ctx, o)
		},
	})
}

// Namespaces lists and watches every Namespace.
func (s Source) Namespaces() cache.ListerWatcher {
	c := s.cs.CoreV1().Namespaces()
	return s.wrap(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return c.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return c.Watch(ctx, o)
		},
	})
}

// wrap carries over whether the clientset supports watch-list semantics
// (the fake one does not), as client-go's own informers do.
func (s Source) wrap(lw *cache.ListWatch) cache.ListerWatcher {
	return cache.ToListWatcherWithWatchListSemantics(lw, s.cs)
}
