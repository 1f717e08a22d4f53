package agentcmd

import (
	"net"
	"strconv"
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
			cmd := New("test")
			cmd.SetArgs(tt.args[1:])
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestAgentHealthPortTaken: on the host network another node agent may hold
// the port; the agent must name the port and the flag that moves it.
func TestAgentHealthPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	cmd := New("test")
	cmd.SetArgs([]string{"--node-name=n1", "--health-listen=" + addr, "--kubeconfig=/nonexistent/kubeconfig"})
	err = cmd.ExecuteContext(t.Context())
	if err == nil {
		t.Fatal("agent started on a taken port")
	}
	for _, want := range []string{addr, "already in use", "--health-listen", "agent.healthPort"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %q", err, want)
		}
	}
}

// TestAgentDefaultHealthPortFree: the default port is none of the ports
// major CNIs and node agents take on every node.
func TestAgentDefaultHealthPortFree(t *testing.T) {
	taken := map[int]string{
		9091: "Calico Felix metrics", 9099: "Calico Felix health", 9093: "Calico Typha metrics", 9098: "Calico Typha health",
		9094: "Calico kube-controllers metrics", 5473: "Calico Typha", 179: "BGP",
		9962: "Cilium agent metrics", 9963: "Cilium operator metrics", 9964: "Cilium Envoy metrics", 9965: "Hubble metrics",
		9879: "Cilium agent health", 9890: "Cilium agent gops", 4240: "Cilium health", 4244: "Hubble server",
		10248: "kubelet healthz", 10250: "kubelet", 10255: "kubelet read-only", 10249: "kube-proxy metrics", 10256: "kube-proxy healthz",
		9100: "node-exporter", 61678: "AWS VPC CNI metrics", 61679: "AWS VPC CNI introspection", 61680: "AWS network policy agent",
		10350: "Antrea agent", 9253: "NodeLocal DNSCache", 8080: "common HTTP",
	}
	if who, ok := taken[DefaultHealthPort]; ok {
		t.Fatalf("default agent health port %d is %s's", DefaultHealthPort, who)
	}
	f := New("test").Flags().Lookup("health-listen")
	if f.DefValue != ":"+strconv.Itoa(DefaultHealthPort) {
		t.Fatalf("--health-listen default %q, want :%d", f.DefValue, DefaultHealthPort)
	}
}
