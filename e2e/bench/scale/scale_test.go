//go:build linux

package scale

import (
	"flag"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubedag/kubedag/e2e/cluster"
)

// Small by default (make test checks that the run works and its figures
// are sane); make bench passes the scale.
var (
	nodes    = flag.Int("scale.nodes", 4, "kwok nodes (one agent each)")
	pods     = flag.Int("scale.pods", 200, "pods")
	services = flag.Int("scale.services", 5, "Services the pods spread over")
	rate     = flag.Int("scale.rate", 100, "API writes per second")
	churn    = flag.Duration("scale.churn", 5*time.Second, "churn duration after the creates")
	report   = flag.String("scale.report", "", "also write the Markdown report to this file")
	replicas = flag.Int("scale.replicas", 2, "aggregator processes (one leader, the rest hot standbys)")
	strict   = flag.Bool("scale.strict", true, "fail on unacknowledged changes (make bench: false, it reports them)")
)

var testCluster *cluster.Cluster

func TestMain(m *testing.M) {
	// /25 per node: 126 pod IPs per node, room for 500 nodes in the pod CIDR.
	os.Exit(cluster.RunTests(m, cluster.Options{Kwok: true, NodeCIDRMaskSize: 25}, &testCluster))
}

// TestScale runs the benchmark and checks what must hold whatever the
// machine's speed: every change acknowledged (the drain allows minutes),
// the firewall holding exactly the live pods' IPs, and figures that are
// consistent (no timing is asserted).
func TestScale(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "aggregator")
	if out, err := exec.Command("go", "build", "-o", bin, "./aggregator").CombinedOutput(); err != nil {
		t.Fatalf("build aggregator: %v\n%s", err, out)
	}
	rep, err := Run(t.Context(), testCluster, Config{Nodes: *nodes, Pods: *pods, Services: *services, Rate: *rate,
		Churn: *churn, Replicas: *replicas, AggregatorBin: bin, Dir: dir,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	var md strings.Builder
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + md.String())
	if *report != "" {
		if err := os.WriteFile(*report, []byte(md.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	if !*strict {
		return // a benchmark run: the report says what was missed
	}
	for _, o := range rep.Outstanding {
		t.Logf("unacknowledged: %s", o)
	}
	if rep.WriteErrors != 0 {
		t.Errorf("%d API writes failed", rep.WriteErrors)
	}
	for _, l := range rep.Latency {
		if l.Acked == 0 || l.Unacked != 0 || (l.Kind == KindCreateCall && l.P50 <= 0) {
			t.Errorf("%s: %d acknowledged, %d not", l.Kind, l.Acked, l.Unacked)
		}
		if l.P50 < 0 || l.P50 > l.P99 || l.P99 > l.Max {
			t.Errorf("%s: p50 %v, p99 %v, max %v out of order", l.Kind, l.P50, l.P99, l.Max)
		}
	}
	if rep.Registered != rep.Live || rep.Live == 0 {
		t.Errorf("firewall holds %d IPs, %d pods Running", rep.Registered, rep.Live)
	}
	checkReplicas(t, rep)
	if rep.ProcessCPU["kube-apiserver"] <= 0 {
		t.Errorf("no kube-apiserver CPU found: %v", rep.ProcessCPU)
	}
	// Every agent watches its pods and the Namespaces, never the
	// EndpointSlices (the aggregator derives Services); churn moves pods
	// (and so EndpointSlices) of every node.
	for i, res := range Resources {
		a, c := rep.Agents.By[i], rep.ClusterWide.By[i]
		if c.Watches < 1 || c.Bytes <= 0 {
			t.Errorf("%s: cluster-wide %+v", res, c)
		}
		if res == "endpointslices" {
			if a != (Counts{}) {
				t.Errorf("%s: agents %+v, want none", res, a)
			}
		} else if a.Watches < int64(*nodes) || a.Bytes <= 0 {
			t.Errorf("%s: agents %+v (want >= %d watches)", res, a, *nodes)
		}
	}
	if a := rep.AgentsChurn.By[0]; a.Events == 0 {
		t.Errorf("pods: no agent events during churn: %+v", a)
	}
	for i := range 2 {
		if c := rep.ClusterWideChurn.By[i]; c.Events == 0 {
			t.Errorf("%s: no cluster-wide events during churn: %+v", Resources[i], c)
		}
	}
}

// checkReplicas checks the hot standbys: each holds the leader's state
// (every live pod's IP, every node's claims) and a replica that never led
// made no firewall call. On a loaded machine the Lease may move during the
// run (a renew not done within the deadline): that is logged, and only the
// replicas that never led are held to making no call.
func checkReplicas(t *testing.T, rep *Report) {
	t.Helper()
	if len(rep.Aggregators) != *replicas {
		t.Fatalf("%d aggregators reported, want %d", len(rep.Aggregators), *replicas)
	}
	var leaders, standbys int
	var led Replica // the leaders' calls, requests and acks summed
	for _, a := range rep.Aggregators {
		if a.CPU <= 0 || a.RSS <= 0 || a.HWM < a.RSS {
			t.Errorf("%s: CPU %.1f ms/s, RSS %d, HWM %d", a.Name, a.CPU, a.RSS, a.HWM)
		}
		if a.IPs != rep.Live || a.Nodes != rep.Nodes || a.Streams != rep.Nodes {
			t.Errorf("%s (%s): holds %d IPs of %d nodes with %d streams; %d pods Running on %d nodes",
				a.Name, a.Role(), a.IPs, a.Nodes, a.Streams, rep.Live, rep.Nodes)
		}
		if !a.Led {
			standbys++
			if a.Calls != 0 || a.Requests != 0 || a.Acks != 0 {
				t.Errorf("standby %s pushed: %d calls (%d logged by the emulator), %d acknowledgements", a.Name, a.Calls, a.Requests, a.Acks)
			}
			continue
		}
		leaders++
		led.Calls, led.Requests, led.Acks = led.Calls+a.Calls, led.Requests+a.Requests, led.Acks+a.Acks
		if a.Terms > 1 {
			t.Logf("%s started leading %d times: the Lease lapsed during the run", a.Name, a.Terms)
		}
	}
	switch {
	case leaders == 0:
		t.Error("no replica led")
	case led.Calls == 0 || led.Requests == 0 || led.Acks == 0:
		t.Errorf("the leader made %d calls (%d logged by the emulator), %d acknowledgements", led.Calls, led.Requests, led.Acks)
	case leaders > 1:
		t.Logf("%d replicas led during the run (the Lease moved; machine load)", leaders)
	}
	if standbys == 0 && *replicas > 1 {
		t.Log("every replica led at some time: no standby to check for pushes in this run")
	}
}
