//go:build linux

package agentbench

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

var reportFile = flag.String("agentbench.report", "", "write the results as a Markdown section to this file (make bench)")

// result is one measured process of BenchmarkAgentRSS.
type result struct {
	name                                          string
	synced, churnMax, idle, anon, file, heap, hwm int64 // bytes; heap -1 if not served
	cpuChurn, cpuIdle                             float64
}

var describe = map[string]string{
	"kubedag-agent": "kubedag-agent (the agent-only binary the chart runs)",
	"kubedag":       "kubedag agent (the same agent in the all-in-one binary)",
	"allpods":       "baseline: every pod, EndpointSlice and Namespace cached whole",
}

func writeReport(path string, rs []result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### Agent memory and CPU\n\n")
	fmt.Fprintf(&b, "One real agent process, `--ip-source api`, %d pods on its node and %d on %d other nodes, "+
		"%d relabels/s and %d delete+recreate/s on its node and as much elsewhere for %v, then %v idle "+
		"(e2e/bench/agentbench; real kube-apiserver, kwok). Memory from /proc (VmRSS; RssAnon is heap, stacks "+
		"and runtime, RssFile the binary's mapped pages), heap in use from /metrics.\n\n",
		ownPods, podsPerOther*otherNodes, otherNodes, int(time.Second/tick), int(time.Second/tick)/replaceEvery, churnFor, idleFor)
	fmt.Fprintf(&b, "| process | RSS synced | RSS churn max | RSS idle | RssAnon | RssFile | heap in use | peak (HWM) | CPU churn | CPU idle |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	m := func(v int64) string {
		if v < 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f MiB", mib(v))
	}
	for _, r := range rs {
		name := describe[r.name]
		if name == "" {
			name = r.name
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %.0f ms/s | %.0f ms/s |\n", name, m(r.synced), m(r.churnMax),
			m(r.idle), m(r.anon), m(r.file), m(r.heap), m(r.hwm), r.cpuChurn, r.cpuIdle)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
