package sandwich

import (
	"os"
	"testing"

	"github.com/kubedag/kubedag/e2e/cluster"
)

var testCluster *cluster.Cluster

func TestMain(m *testing.M) { os.Exit(cluster.RunTests(m, cluster.Options{}, &testCluster)) }
