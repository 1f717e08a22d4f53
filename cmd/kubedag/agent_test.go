package main

import (
	"strings"
	"testing"
)

func TestAgentFlagValidation(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no node", []string{"agent", "--node-name="}, "--node-name"},
		{"bad ip source", []string{"agent", "--node-name=n1", "--ip-source=ebpf"}, "--ip-source"},
		{"bad aggregator address", []string{"agent", "--node-name=n1", "--aggregator=no-port"}, "--aggregator"},
		{"no token file", []string{"agent", "--node-name=n1", "--token-file="}, "--token-file"},
		{"bad log level", []string{"agent", "--node-name=n1", "--log-level=loud", "--kubeconfig=/nonexistent"}, "--log-level"},
		{"bad kubeconfig", []string{"agent", "--node-name=n1", "--kubeconfig=/nonexistent/kubeconfig"}, "kubeconfig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := newRootCmd()
			cmd.SetArgs(tt.args)
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
