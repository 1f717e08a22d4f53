package scale

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// WriteMarkdown writes the report as a Markdown section (heading level 3).
func (r *Report) WriteMarkdown(w io.Writer) error {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("### Scale on a real API server\n\n")
	p("%d kwok nodes, %d pods over %d Services, %d API writes/s asked (achieved: %.0f/s creating, %.0f/s in churn), "+
		"churn %v (per four writes: two relabels, a delete, a create), firewall emulator answering after %v per call. "+
		"One agent per node (in the bench process, each with its own node identity, node-scoped informers and stream), "+
		"%d aggregator processes (production core, claim gate over its cluster-wide pod view, agent stream server; "+
		"all campaign for one Lease, the holder pushes, the others are hot standbys), every agent streaming to each "+
		"(it resolves one DNS name to every replica, as a headless Service does). "+
		"%d CPUs, load average %s (other work on the machine inflates every figure). Write errors: %d.\n\n",
		r.Nodes, r.Pods, r.Services, r.Rate, r.CreateRate, r.ChurnRate, r.Churn, r.FirewallLatency, len(r.Aggregators), r.CPUs, r.LoadAvg, r.WriteErrors)

	p("Tag latency, API write to firewall acknowledgement (a create's clock starts when a cluster-wide watch in the bench process sees the pod Running with its IP, and in the last row at the create call, which includes kwok starting the pod; unacknowledged changes count with their wait so far):\n\n")
	p("| change | acknowledged | unacknowledged | p50 | p99 | max |\n|---|---:|---:|---:|---:|---:|\n")
	for _, l := range r.Latency {
		p("| %s | %d | %d | %s | %s | %s |\n", l.Kind, l.Acked, l.Unacked, ms(l.P50), ms(l.P99), ms(l.Max))
	}
	p("\n%d creates were acknowledged before the bench's own watch saw the pod Running (counted as 0 ms); "+
		"%d changes were overtaken by a later change of the same pod before their ack and not awaited.\n\n", r.EarlyAcks, r.Superseded)

	p("The firewall holds %d IPs; %d pods are Running.\n\n", r.Registered, r.Live)
	p("| aggregator process | role | CPU during churn | RSS at end | peak RSS | IPs held / nodes | agent streams | firewall calls (own count) / HTTP requests (emulator log) | acknowledgements |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, a := range r.Aggregators {
		p("| %s | %s | %.0f ms/s (%.0f%% of a core) | %s | %s | %d / %d | %d | %d / %d | %d |\n", a.Name, a.Role(),
			a.CPU, a.CPU/10, mib(a.RSS), mib(a.HWM), a.IPs, a.Nodes, a.Streams, a.Calls, a.Requests, a.Acks)
	}
	for _, a := range r.Aggregators {
		if a.Terms > 1 {
			p("\n%s started leading %d times: it lost the Lease %d times (no renew within the renew deadline) and took it again.\n", a.Name, a.Terms, a.Terms-1)
		}
	}
	if !r.Converged {
		p("\nNot every replica held the %d Running pods' IPs within 30 s of the end.\n", r.Live)
	}
	p("\nA replica's own count is every firewall call it started; the emulator's log (each replica has its own API user) keeps the last 10,000 HTTP requests.\n\n")

	if len(r.ProcessCPU) > 0 {
		names := slices.Sorted(maps.Keys(r.ProcessCPU))
		p("Where the CPU went during churn (ms of CPU per second; %d CPUs are %d ms/s):\n\n| process | CPU |\n|---|---:|\n", r.CPUs, 1000*r.CPUs)
		for _, n := range names {
			p("| %s | %.0f ms/s |\n", n, r.ProcessCPU[n])
		}
		for _, a := range r.Aggregators {
			p("| %s (%s) | %.0f ms/s |\n", a.Name, a.Role(), a.CPU)
		}
		p("\n")
	}

	p("API-server watch load, counted by the clients (protobuf for both; objects are list items plus watch events; bytes are response bodies):\n\n")
	p("| watcher | resource | watch requests | objects received | received | churn: objects/s | churn: received/s |\n|---|---|---:|---:|---:|---:|---:|\n")
	row := func(name, res string, all, churn Counts) {
		p("| %s | %s | %d | %d | %s | %.0f | %.1f KiB/s |\n", name, res, all.Watches, all.Events, mib(all.Bytes),
			float64(churn.Events)/r.ChurnSeconds, float64(churn.Bytes)/1024/r.ChurnSeconds)
	}
	for _, w := range []struct {
		name         string
		all, inChurn LoadStats
	}{
		{fmt.Sprintf("%d agents", r.Nodes), r.Agents, r.AgentsChurn},
		{"one cluster-wide informer (Panorama plugin model)", r.ClusterWide, r.ClusterWideChurn},
	} {
		for i, res := range Resources {
			what := res
			if i == 0 && w.all == r.Agents {
				what = "pods (each its node's)"
			}
			row(w.name, what, w.all.By[i], w.inChurn.By[i])
		}
		row(w.name, "**total**", w.all.Total(), w.inChurn.Total())
	}
	a, c := r.AgentsChurn.Total(), r.ClusterWideChurn.Total()
	if c.Bytes > 0 && c.Events > 0 {
		p("\nDuring churn the agents together receive %.1fx the objects and %.1fx the bytes of the one cluster-wide informer.\n",
			float64(a.Events)/float64(c.Events), float64(a.Bytes)/float64(c.Bytes))
	}
	p("\nRun time %v.\n", r.Elapsed.Round(time.Second))
	return nil
}

// Role is "leader" for a replica that held the Lease at some time during
// the run, else "standby".
func (a Replica) Role() string {
	if a.Led {
		return "leader"
	}
	return "standby"
}
