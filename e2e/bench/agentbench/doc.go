// Package agentbench measures the node agent as a real process: `kubedag agent
// --ip-source api` against a real kube-apiserver (e2e/cluster with kwok),
// streaming to an in-process aggregator stream server, with 250 pods on
// its node, 1000 pods on four other nodes it must ignore, and steady churn
// (10 relabels/s and 2 delete+recreate/s on its node, as much elsewhere).
// It reads the process's RSS (VmRSS, VmHWM, split into RssAnon and
// RssFile) and CPU time (utime+stime) from /proc, and the Go heap in use
// from /metrics. The agent must end up streaming exactly its node's pods
// with their current labels, or the benchmark fails.
//
// The baseline, measured the same way in the same run, is the command
// allpods: every pod, EndpointSlice and namespace of the cluster cached
// whole (no field selector, no transform), as an agent without kubedag's
// node scoping (and deriving Services itself) would. Compare RssAnon and the heap: RssFile is the part of
// the binary's code and tables the process has mapped, which grows with the
// binary (kubedag is one binary for every subcommand), not with the pods,
// and with the kernel: where the page cache holds large folios (ext4 on
// Linux 6.18, for one) a fault maps a whole folio, so most of the binary's
// text, rodata and pclntab count as resident.
//
// Run it alone, once (about two minutes on a 2-core machine):
//
//	go test -run '^$' -bench BenchmarkAgentRSS -benchtime=1x ./e2e/bench/agentbench
//
// CPU time is counted in 10ms ticks, so cpu-ms/s-idle over the 5s idle
// window has a resolution of 2 ms/s. `go test` without -bench starts no
// control plane (its /proc reader, childproc.ReadUsage, is tested in e2e/childproc).
package agentbench
