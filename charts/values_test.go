package charts

import (
	"strings"
	"testing"
	"time"

	"github.com/kubedag/kubedag/aggregator/config"
)

// valueCase is one documented value, set on top of the minimal values.
type valueCase struct {
	name string
	args []string
}

// documentedValueCases set every documented choice the binaries read;
// TestBinariesStartWithRenderedValues starts both commands with each, so a
// value the schema accepts but a binary refuses at start fails there.
var documentedValueCases = []valueCase{
	{"otel grpc", []string{"--set", "otel.endpoint=http://collector:4317,otel.protocol=grpc"}},
	{"otel http/protobuf", []string{"--set", "otel.endpoint=http://collector:4318,otel.protocol=http/protobuf"}},
	{"tagTTL off", []string{"--set", "aggregator.tagTTL=0s"}},
	{"tagTTL minimum", []string{"--set", "aggregator.tagTTL=" + config.MinTagTTL.String()}},
	{"tagTTL maximum", []string{"--set", "aggregator.tagTTL=" + config.MaxTagTTL.String()}},
	{"tag host network", []string{"--set", "agent.tagHostNetwork=true"}},
	{"ip source api", []string{"--set", "agent.ipSource=api"}},
	{"ip source netlink", []string{"--set", "agent.ipSource=netlink"}},
	{"log level debug", []string{"--set", "logLevel=debug"}},
	{"batching", []string{"--set", "aggregator.batchInterval=1s,aggregator.maxBatch=1,aggregator.resyncInterval=1h30m"}},
	{"graces", []string{"--set", "aggregator.snapshotGrace=1m,aggregator.nodeGrace=5m"}},
	{"ports", []string{"--set", "aggregator.streamPort=8443,aggregator.healthPort=8080,agent.healthPort=10300"}},
	{"existing secret with its own CA key", []string{"--set", "tls.existingSecret=my-tls,tls.caKey=bundle.pem"}},
	{"preset aks", []string{"--set", "tags.preset=aks"}},
	{"preset custom", []string{"--set", "tags.preset=custom,tags.template=k8s.{{.Namespace}}"}},
	{"services only", []string{"--set", "tags.pods=false"}},
	{"password target", []string{"--set", "targets[0].auth=password,targets[0].caFromSecret=true"}},
}

// TestValuesTheBinariesRefuse: values the binaries would refuse at start
// are refused at install, with the limits taken from the code.
func TestValuesTheBinariesRefuse(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"otel http/json (no Go exporter)", []string{"--set", "otel.protocol=http/json"}, "otel/protocol"},
		{"tagTTL below the minimum", []string{"--set", "aggregator.tagTTL=" + (config.MinTagTTL - time.Second).String()}, "aggregator.tagTTL"},
		{"tagTTL above the maximum", []string{"--set", "aggregator.tagTTL=" + (config.MaxTagTTL + time.Second).String()}, "aggregator.tagTTL"},
		{"caKey with the generated Secret", []string{"--set", "tls.caKey=bundle.pem"}, "tls.caKey"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := helmTemplate(t, append([]string{"-f", minimalValues}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("helm template error = %v, want one naming %q", err, tc.want)
			}
		})
	}
	// The same limits, seen by the aggregator's own validation.
	for _, ttl := range []time.Duration{config.MinTagTTL - time.Second, config.MaxTagTTL + time.Second} {
		c := &config.Config{Cluster: "c1", TagTTL: &config.Duration{Duration: ttl},
			Targets: []config.Target{{Name: "fw", URL: "https://192.0.2.1", APIKeyFile: "/k"}}}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "tagTTL") {
			t.Errorf("aggregator config accepts tagTTL %s (err %v): the chart's limits are stale", ttl, err)
		}
	}
}
