// Package bench measures the node agent as a real process: `kubedag agent
// --ip-source api` against a real kube-apiserver (e2e/cluster with kwok),
// streaming to an in-process aggregator stream server, with 250 pods on
// its node, pods on other nodes it must ignore, and steady churn. It reads
// the process's RSS (VmRSS, VmHWM) and CPU time (utime+stime) from /proc,
// and measures the baseline command allpods (every pod, EndpointSlice and
// namespace of the cluster cached whole) the same way, so the savings of
// the field selector and the informer transform are visible.
//
// Run it alone, once (it takes about two minutes on a 2-core machine):
//
//	go test -run '^$' -bench BenchmarkAgentRSS -benchtime=1x ./agent/bench
//
// It has no non-test code besides the allpods command; `go test` without
// -bench starts no control plane.
package bench
