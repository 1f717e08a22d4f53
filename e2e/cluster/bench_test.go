package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkPodsRunning measures how fast CreatePods and kwok bring pods to
// Running with an IP on 10 nodes (one op = one pod). Run with
// -benchtime=500x or so: each op is a real apiserver round trip.
func BenchmarkPodsRunning(b *testing.B) {
	c := testCluster
	ctx, cancel := context.WithTimeout(b.Context(), 10*time.Minute)
	defer cancel()
	prefix := fmt.Sprintf("bench%d", time.Now().UnixNano()%1e6)
	ns, err := c.CreateNamespace(ctx, prefix)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := c.DeleteNamespace(context.Background(), ns); err != nil {
			b.Error(err)
		}
	}()
	nodes, err := c.CreateNodes(ctx, prefix+"-node", 10)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.WaitNodesReady(ctx, nodes...); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if _, err := c.CreatePods(ctx, PodBatch{Namespace: ns, Prefix: prefix, Count: b.N, Nodes: nodes}); err != nil {
		b.Fatal(err)
	}
	if _, err := c.WaitPodsRunning(ctx, ns, "app="+prefix, b.N); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pods/s")
}
