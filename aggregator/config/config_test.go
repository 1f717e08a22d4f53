package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubedag/kubedag/tags"
)

const full = `
cluster: prod
tags:
  preset: k8s
  labels:
    allow: ["app", "app.kubernetes.io/*"]
    deny: ["pod-template-hash"]
  pods: true
  services: false
  namespaceTags: false
targets:
  - name: fw1
    url: https://10.0.0.1
    vsys: vsys1
    apiKeyFile: /secrets/fw1/api-key
    caFile: /secrets/fw1/ca.crt
    maxCallsPerSecond: 50
  - name: pano
    url: https://pano.example:8443
    kind: panorama
    serial: "007200001"
    usernameEnv: PANO_USER
    passwordEnv: PANO_PASS
batchInterval: 20ms
maxBatch: 500
resyncInterval: 1m
tagTTL: 2h
`

func TestParseFull(t *testing.T) {
	c, err := Parse([]byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if c.BatchInterval.Duration != 20*time.Millisecond || c.MaxBatch != 500 ||
		c.ResyncInterval.Duration != time.Minute || c.TagTTL.Duration != 2*time.Hour {
		t.Fatalf("intervals = %+v", c)
	}
	if c.Targets[0].MaxCallsPerSecond != 50 || c.Targets[1].MaxCallsPerSecond != 0 {
		t.Fatalf("call limits = %v %v", c.Targets[0].MaxCallsPerSecond, c.Targets[1].MaxCallsPerSecond)
	}
	if c.Targets[0].Kind != KindFirewall || c.Targets[1].Kind != KindPanorama {
		t.Fatalf("kinds = %q %q", c.Targets[0].Kind, c.Targets[1].Kind)
	}
	tc := c.TagsConfig()
	if err := tc.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(tc.Kinds) != 1 || tc.Kinds[0] != tags.KindPod || !tc.NoNamespaceTags || tc.Cluster != "prod" {
		t.Fatalf("tags config = %+v", tc)
	}
	if len(tc.LabelDeny) != 1 || tc.LabelDeny[0] != "pod-template-hash" {
		t.Fatalf("label deny = %v", tc.LabelDeny)
	}
}

func TestNodeTags(t *testing.T) {
	tgt := "targets: [{name: fw, url: 'https://fw', apiKeyEnv: K}]\n"
	tests := []struct {
		name, yaml string
		nodes, ext bool
		labels     []string
	}{
		{"off by default", "cluster: c1\n" + tgt, false, false, tags.DefaultNodeLabels},
		{"on, default labels", "cluster: c1\ntags: {nodes: {enabled: true}}\n" + tgt, true, false, tags.DefaultNodeLabels},
		{"external, own labels", "cluster: c1\ntags: {nodes: {enabled: true, externalIPs: true, labels: ['topology.kubernetes.io/*']}}\n" + tgt, true, true, []string{"topology.kubernetes.io/*"}},
		{"no labels", "cluster: c1\ntags: {nodes: {enabled: true, labels: []}}\n" + tgt, true, false, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			tc := c.TagsConfig()
			if err := tc.Validate(); err != nil {
				t.Fatal(err)
			}
			if tc.Nodes != tt.nodes || tc.NodeExternalIPs != tt.ext || !slices.Equal(tc.NodeLabels, tt.labels) {
				t.Fatalf("tags config nodes=%v external=%v labels=%v, want %v %v %v", tc.Nodes, tc.NodeExternalIPs, tc.NodeLabels, tt.nodes, tt.ext, tt.labels)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte("cluster: c1\ntargets: [{name: fw, url: 'https://fw', apiKeyEnv: K}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.BatchInterval.Duration != DefaultBatchInterval || c.MaxBatch != DefaultMaxBatch ||
		c.ResyncInterval.Duration != DefaultResyncInterval || c.TagTTL.Duration != DefaultTagTTL {
		t.Fatalf("defaults not filled: %+v", c)
	}
	// An explicit 0s turns the TTL off rather than falling back to the default.
	c, err = Parse([]byte("cluster: c1\ntagTTL: 0s\ntargets: [{name: fw, url: 'https://fw', apiKeyEnv: K}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.TagTTL.Duration != 0 {
		t.Fatalf("tagTTL 0s = %s", c.TagTTL.Duration)
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	base := "cluster: c1\n"
	tgt := "targets: [{name: fw, url: 'https://fw', apiKeyEnv: K}]\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field", base + tgt + "batchIntervall: 1s\n", "batchIntervall"},
		{"no cluster", tgt, "cluster:"},
		{"bad preset", base + tgt + "tags: {preset: gke}\n", "tags.preset:"},
		{"no targets", base, "targets:"},
		{"bad url", base + "targets: [{name: fw, url: 'ftp://fw', apiKeyEnv: K}]\n", "targets[fw].url:"},
		{"url with key", base + "targets: [{name: fw, url: 'https://fw/?key=abc', apiKeyEnv: K}]\n", "targets[fw].url:"},
		{"bad kind", base + "targets: [{name: fw, url: 'https://fw', kind: router, apiKeyEnv: K}]\n", "targets[fw].kind:"},
		{"no credentials", base + "targets: [{name: fw, url: 'https://fw'}]\n", "credentials required"},
		{"password without user", base + "targets: [{name: fw, url: 'https://fw', passwordEnv: P}]\n", "credentials required"},
		{"key and password", base + "targets: [{name: fw, url: 'https://fw', apiKeyEnv: K, usernameEnv: U, passwordEnv: P}]\n", "not both"},
		{"duplicate name", base + "targets: [{name: fw, url: 'https://a', apiKeyEnv: K}, {name: fw, url: 'https://b', apiKeyEnv: K}]\n", "used twice"},
		{"bad name", base + "targets: [{name: FW_1, url: 'https://a', apiKeyEnv: K}]\n", "targets[FW_1].name:"},
		{"vsys on panorama", base + "targets: [{name: p, url: 'https://a', kind: panorama, vsys: vsys1, apiKeyEnv: K}]\n", "vsys:"},
		{"bad duration", base + tgt + "batchInterval: fast\n", "batchInterval"},
		{"ttl too long", base + tgt + "tagTTL: 800h\n", "tagTTL:"},
		{"ttl too short", base + tgt + "tagTTL: 5s\n", "tagTTL:"},
		{"no kinds", base + tgt + "tags: {pods: false, services: false}\n", "tags.pods, tags.services"},
		{"call limit below 1/batchInterval", base + "targets: [{name: fw, url: 'https://fw', apiKeyEnv: K, maxCallsPerSecond: 10}]\n", "targets[fw].maxCallsPerSecond:"},
		{"negative call limit", base + "targets: [{name: fw, url: 'https://fw', apiKeyEnv: K, maxCallsPerSecond: -1}]\n", "targets[fw].maxCallsPerSecond:"},
		{"template without custom", base + tgt + "tags: {template: '{{.Name}}'}\n", "tags.template:"},
		{"external node IPs without nodes", base + tgt + "tags: {nodes: {externalIPs: true}}\n", "tags.nodes.externalIPs:"},
		{"empty node label pattern", base + tgt + "tags: {nodes: {enabled: true, labels: ['a', '']}}\n", "tags.nodes.labels[1]:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestCredentials(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "api-key")
	if err := os.WriteFile(keyFile, []byte("s3cret-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tgt := Target{Name: "fw", URL: "https://fw", APIKeyFile: keyFile, Vsys: "vsys2"}
	cc, err := tgt.ClientConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cc.APIKey != "s3cret-key" || cc.Vsys != "vsys2" || cc.URL != "https://fw" {
		t.Fatalf("client config = %+v", cc)
	}

	env := map[string]string{"U": "admin", "P": "pw-value"}
	tgt = Target{Name: "fw", URL: "https://fw", UsernameEnv: "U", PasswordEnv: "P"}
	if _, u, p, err := tgt.Credentials(func(k string) string { return env[k] }); err != nil || u != "admin" || p != "pw-value" {
		t.Fatalf("env credentials = %q %q %v", u, p, err)
	}

	// Errors name the source, never the secret.
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	for _, tgt := range []Target{
		{Name: "fw", APIKeyFile: filepath.Join(dir, "missing")},
		{Name: "fw", APIKeyFile: empty},
		{Name: "fw", UsernameEnv: "U", PasswordEnv: "UNSET"},
	} {
		_, _, _, err := tgt.Credentials(func(k string) string { return env[k] })
		if err == nil {
			t.Fatalf("%+v: no error", tgt)
		}
		if strings.Contains(err.Error(), "pw-value") || strings.Contains(err.Error(), "admin") {
			t.Fatalf("error leaks a secret: %v", err)
		}
	}
}
