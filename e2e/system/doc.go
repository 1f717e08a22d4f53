// Package system is kubedag's end-to-end test: the real kubedag binary,
// run as separate processes against a real control plane with kwok nodes
// and the PAN-OS emulator.
//
// TestMain builds ./cmd/kubedag once, starts one control plane with kwok
// (e2e/cluster), then runs as child processes (own process group,
// Pdeathsig SIGKILL, logs under a temp dir and printed when a test fails):
//
//   - `kubedag panos-sim --control`: the firewall, over TLS with its CA
//     written by --ca-out; tests read what it holds through its XML API and
//     through the unauthenticated /_sim/ endpoints (registered, stats,
//     outage, reboot).
//   - `kubedag aggregator`: a config file naming the emulator as its one
//     target, with an API key obtained by keygen in a file; an agent-stream
//     certificate for 127.0.0.1 signed by a CA the test generates; the
//     admin kubeconfig.
//   - one `kubedag agent --ip-source api` per kwok node, with the node's own
//     kubelet identity as kubeconfig (plus RBAC for Namespaces for the
//     system:nodes group, as the chart grants the agent ServiceAccount)
//     and a real projected token (audience kubedag, bound by TokenRequest
//     to a hostNetwork pod on that node).
//
// Every scenario asserts what the emulator holds against the tags computed
// independently from the API server's state (pods, owners, services by
// selector, labels, and node tags on every Node's addresses: the
// aggregator runs with tags.nodes on, ExternalIPs included): create, relabel and delete; IP reuse (the reused IP
// never carries a tag its new pod lacks, sampled as fast as the emulator
// answers); agent and aggregator restarts (no unregister of live tags);
// a firewall outage; a firewall reboot detected by the canary; node tags
// following a Node's labels and addresses and leaving with the Node.
//
// The aggregator runs with --canary-interval 3s so the reboot is detected
// within seconds.
//
// The tests fail, never skip, when the control-plane binaries are missing:
// run `make tools` (e2e/tools/tools.sh) first.
package system
