package sandwich

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/kubedag/kubedag/e2e/cluster"
)

var testCluster *cluster.Cluster

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err) // fail, don't skip: says to run `make tools`
		return 1
	}
	defer c.Stop()
	testCluster = c
	return m.Run()
}
