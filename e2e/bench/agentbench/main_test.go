//go:build linux

package agentbench

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/kubedag/kubedag/e2e/cluster"
)

// The control plane starts on first use (only benchmarks use it), so
// `go test` without -bench costs no cluster.
var (
	clusterOnce sync.Once
	testCluster *cluster.Cluster
	clusterErr  error
)

func sharedCluster(tb testing.TB) *cluster.Cluster {
	tb.Helper()
	clusterOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		// /23 per node: 250 pods and the replacements of churn fit in one
		// node's podCIDR while deleted pods' IPs are being released.
		testCluster, clusterErr = cluster.Start(ctx, cluster.Options{Kwok: true, NodeCIDRMaskSize: 23})
	})
	if clusterErr != nil {
		tb.Fatalf("start control plane: %v", clusterErr) // fail, don't skip: says to run `make tools`
	}
	return testCluster
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	code := m.Run()
	if testCluster != nil {
		if err := testCluster.Healthy(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			code = 1
		}
		if err := testCluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop control plane:", err)
		}
	}
	return code
}
