package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestLinksOnlyTheAgent: the agent binary's pages are part of the agent's
// resident memory on every node (e2e/bench/agentbench measures it), so the
// packages that made the all-in-one binary large must stay out of it.
func TestLinksOnlyTheAgent(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 || !slices.Contains(deps, "github.com/kubedag/kubedag/agent") {
		t.Fatalf("go list -deps gave %d packages without the agent: %.300s", len(deps), out)
	}
	for _, banned := range []string{
		"k8s.io/client-go/kubernetes",                      // the typed clientset registers every API group
		"k8s.io/client-go/informers",                       // imports the clientset
		"github.com/aws/aws-sdk-go-v2",                     // the aggregator's sandwich
		"go.opentelemetry.io/contrib/exporters/autoexport", // every exporter of every signal
		"github.com/kubedag/kubedag/aggregator",
		"github.com/kubedag/kubedag/userid",
	} {
		for _, d := range deps {
			if d == banned || strings.HasPrefix(d, banned+"/") {
				t.Errorf("kubedag-agent links %s", d)
			}
		}
	}
}
