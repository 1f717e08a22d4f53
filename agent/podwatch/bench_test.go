package podwatch

import (
	"fmt"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubedag/kubedag/agent/kubeapi/typed"
)

// BenchmarkReconcile250 measures one full reconcile of a node with 250 pods
// (owned by one of 10 ReplicaSets) after all of them were marked dirty, e.g. on
// a namespace relabel, and one single-pod relabel. Informer caches are filled
// directly, so only the reconcile is measured.
func BenchmarkReconcile250(b *testing.B) {
	const n = 250
	w, err := New(Config{Source: typed.New(fake.NewClientset()), NodeName: node, Sink: nopSink{}})
	if err != nil {
		b.Fatal(err)
	}
	pods := w.pods.GetIndexer()
	var keys []string
	for i := range n {
		p := pod("default", fmt.Sprintf("p%d", i), fmt.Sprintf("uid-%d", i), node,
			[]string{fmt.Sprintf("10.1.%d.%d", i/200, i%200+1)}, ownedBy("ReplicaSet", fmt.Sprintf("rs%d", i%10)))
		if err := pods.Add(trim(p, false)); err != nil {
			b.Fatal(err)
		}
		keys = append(keys, "default/"+p.Name)
	}
	w.cfg.Sink = nopSink{}
	b.Run("all-dirty", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			for _, k := range keys {
				w.mark(k)
			}
			w.reconcile()
		}
	})
	b.Run("one-dirty", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			w.mark(keys[i%n])
			w.reconcile()
		}
	})
}
