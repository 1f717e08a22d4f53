package charts

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/kubedag/kubedag/tags"
)

// TestDefaultDenyIsChurnyLabels: the chart's default label deny-list is
// tags.ChurnyLabels, the list the demo uses (needs no helm).
func TestDefaultDenyIsChurnyLabels(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Tags struct {
			Labels struct {
				Deny []string `json:"deny"`
			} `json:"labels"`
		} `json:"tags"`
	}
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	if got := v.Tags.Labels.Deny; !slices.Equal(got, tags.ChurnyLabels) {
		t.Fatalf("values.yaml tags.labels.deny = %q, want tags.ChurnyLabels %q", got, tags.ChurnyLabels)
	}
}
