package aggregator

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubedag/kubedag/aggregator/config"
)

// TestNodeTagsExcludeAllowNodeIP: with node tags on, a node IP may not also
// be claimed for hostNetwork pods (the store would keep only the tags both
// owners share: none), so New refuses --allow-node-ip; without it, the node
// source is built.
func TestNodeTagsExcludeAllowNodeIP(t *testing.T) {
	t.Setenv("KUBEDAG_TEST_KEY", "k")
	cfg, err := config.Parse([]byte("cluster: c1\ntags: {nodes: {enabled: true}}\ntargets: [{name: fw, url: 'https://127.0.0.1:1', apiKeyEnv: KUBEDAG_TEST_KEY}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	opts := Options{Config: cfg, Client: fake.NewClientset(), StreamListener: ln, StreamTLS: &tls.Config{}}
	a, err := New(opts)
	if err != nil || a.nodes == nil {
		t.Fatalf("New with node tags: %v (node source %v)", err, a != nil && a.nodes != nil)
	}
	opts.AllowNodeIP = true
	if _, err := New(opts); err == nil || !strings.Contains(err.Error(), "exclude each other") {
		t.Fatalf("New with node tags and AllowNodeIP: %v, want a refusal", err)
	}
}
