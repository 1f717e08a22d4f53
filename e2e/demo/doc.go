// Package demo is `kubedag demo` (and `make demo`): the whole system on one
// machine, shown live in the terminal.
//
// Run starts a real control plane with kwok playing the kubelet of fake
// nodes (package e2e/cluster), the PAN-OS emulator over TLS (userid/panossim),
// the aggregator in-process (single replica, the emulator as its one target)
// and one agent per fake node (in-process, --ip-source=api, the node's own
// kubelet identity to read the API, and a pod-bound projected ServiceAccount
// token of audience "kubedag" to authenticate its stream, as in production).
//
// It then plays a script against the cluster (create a Deployment and a
// Service, relabel a pod, scale, reuse a freed IP on another workload, delete
// pods and the Service). After each step it waits until the emulator holds
// exactly the tags the k8s preset documents for the cluster's state, and
// prints what the emulator has registered (what the firewall believes), what
// changed, how long the firewall took to follow and the tag latency the
// aggregator measured (kubedag_tag_latency_seconds). Then, unless
// Options.Once is set, it keeps churning the workload until its context ends.
//
// Everything it starts stops when Run returns: the control-plane processes
// are killed by the cluster package (and die with the process if it is
// killed), the emulator and the in-process components stop with the
// context.
//
// # Usage
//
//	err := demo.Run(ctx, demo.Options{Out: os.Stdout})
//
// Run returns nil when ctx is cancelled (Ctrl-C) after a clean shutdown, and
// an error when a part fails to start or, with Once, when the firewall did
// not follow a step within Options.StepTimeout.
package demo
