package apiservertest

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kubedag/kubedag/e2e/demo"
	"github.com/kubedag/kubedag/internal/syncbuf"
)

// processesUsing lists the processes whose command line mentions dir (the
// control plane's components all name files in their cluster dir).
func processesUsing(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue // gone meanwhile
		}
		cmdline := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmdline, dir) {
			out = append(out, e.Name()+": "+cmdline)
		}
	}
	return out
}

// demoSteps splits the demo's output into its step blocks, keyed by "step N".
func demoSteps(out string) map[string]string {
	steps := map[string]string{}
	re := regexp.MustCompile(`(?m)^\S+\s+(step \d+)/\d+ `)
	idx := re.FindAllStringSubmatchIndex(out, -1)
	for i, m := range idx {
		end := len(out)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		steps[out[m[2]:m[3]]] = out[m[0]:end]
	}
	return steps
}

var ipField = regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`)

// rowsWith returns the table rows of block with the change mark (first
// column: "+", "-", "~", "↺" or "" for none) that mention all of subs.
func rowsWith(block, mark string, subs ...string) []string {
	var rows []string
next:
	for _, line := range strings.Split(block, "\n") {
		f := strings.Fields(line)
		var got string
		switch {
		case len(f) >= 2 && ipField.MatchString(f[0]):
			got = ""
		case len(f) >= 3 && ipField.MatchString(f[1]):
			got = f[0]
		default:
			continue // not a table row
		}
		if got != mark {
			continue
		}
		for _, s := range subs {
			if !strings.Contains(line, s) {
				continue next
			}
		}
		rows = append(rows, line)
	}
	return rows
}

// TestDemoOnce runs the whole demo (real control plane, kwok, emulator,
// aggregator, agents) through its scripted steps. --once makes a step whose
// firewall state does not match the cluster fail the command; on top, the
// tables must show the tags each step is about, and no control-plane
// process may outlive the command.
func TestDemoOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	out := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- demo.Run(ctx, demo.Options{Out: out, Nodes: 3, Once: true, StepTimeout: 90 * time.Second,
			LogDir: t.TempDir(), BatchInterval: 20 * time.Millisecond, MetricsListen: "127.0.0.1:0"})
	}()

	// While it runs, its control plane is found by its cluster dir (the
	// check below would otherwise prove nothing).
	kubeconfig := regexp.MustCompile(`KUBECONFIG=(\S+)`)
	metricsURL := regexp.MustCompile(`metrics: (http://\S+/metrics)`)
	var clusterDir, metrics string
	var err error
	deadline := time.After(3 * time.Minute)
wait:
	for {
		if m := kubeconfig.FindStringSubmatch(out.String()); m != nil && clusterDir == "" {
			clusterDir = filepath.Dir(m[1])
			if procs := processesUsing(t, clusterDir); len(procs) < 4 {
				t.Errorf("while the demo runs, found %d processes using %s, want etcd, kube-apiserver, controller-manager, scheduler and kwok:\n%s",
					len(procs), clusterDir, strings.Join(procs, "\n"))
			}
		}
		// Once kubedag runs, its metrics are on the demo's /metrics.
		if m := metricsURL.FindStringSubmatch(out.String()); m != nil && metrics == "" && strings.Contains(out.String(), "kubedag running") {
			metrics = scrapeDemo(t, m[1])
		}
		select {
		case err = <-done:
			break wait
		case <-deadline:
			cancel()
			err = <-done
			t.Fatalf("demo did not finish in time (err %v); output:\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	output := out.String()
	if err != nil {
		t.Fatalf("demo --once: %v\noutput:\n%s", err, output)
	}
	t.Logf("output:\n%s", output)
	if clusterDir == "" {
		t.Fatal("the output does not name the cluster's kubeconfig")
	}
	for _, want := range []string{"kubedag_stream_connections 3", "kubedag_agent_stream_connected"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("the demo's /metrics lacks %q:\n%s", want, metrics)
		}
	}
	if procs := processesUsing(t, clusterDir); len(procs) > 0 {
		t.Errorf("processes left behind:\n%s", strings.Join(procs, "\n"))
	}
	if _, err := os.Stat(clusterDir); !os.IsNotExist(err) {
		t.Errorf("cluster dir %s still exists (err %v)", clusterDir, err)
	}

	steps := demoSteps(output)
	if len(steps) != 7 {
		t.Fatalf("found %d steps in the output, want 7", len(steps))
	}
	checks := []struct {
		step string
		mark string
		subs []string // a row must mention all of them
		n    int      // rows wanted
	}{
		// Deployment pods carry namespace, owner, service and label tags;
		// the Service's ClusterIP its own.
		{"step 1", "+", []string{"pod/web-", "ns_shop .app.web .rs_web-", " .svc_web .tier.frontend  registered"}, 3},
		{"step 1", "+", []string{"svc/web", "ns_shop .app.web .svc_web  "}, 1},
		// The relabel swaps one tag on one pod.
		{"step 2", "~", []string{"pod/web-", ".tier.canary", "+.tier.canary -.tier.frontend"}, 1},
		{"step 2", "", []string{"pod/web-", ".tier.frontend"}, 2},
		// Scaling 3 -> 5 registers two more.
		{"step 3", "+", []string{"pod/web-", ".svc_web .tier.frontend  registered"}, 2},
		// The freed web IP goes to the batch pod, with its tags only.
		{"step 4", "↺", []string{"pod/batch-1", "ns_shop .app.batch  ", "IP reused, was pod/web-", "-.svc_web"}, 1},
		// Scaling 5 -> 2 unregisters three.
		{"step 5", "-", []string{"pod/web-", "(none)", "unregistered"}, 3},
		// Deleting the Service drops its ClusterIP and .svc_web from pods.
		{"step 7", "-", []string{"svc/web", "unregistered"}, 1},
		{"step 7", "~", []string{"pod/web-", "-.svc_web"}, 2},
		{"step 7", "", []string{"pod/batch-1", "ns_shop .app.batch"}, 1},
	}
	for _, c := range checks {
		if rows := rowsWith(steps[c.step], c.mark, c.subs...); len(rows) != c.n {
			t.Errorf("%s: %d rows marked %q mention %q, want %d:\n%s", c.step, len(rows), c.mark, c.subs, c.n, steps[c.step])
		}
	}
	// Step 6 deletes a web pod: its IP is unregistered or already reused
	// by another pod, and one replacement appears (new or reused IP).
	if m := regexp.MustCompile(`delete pod/(\S+) \((\S+) on`).FindStringSubmatch(steps["step 6"]); m == nil {
		t.Errorf("step 6: no deleted pod named:\n%s", steps["step 6"])
	} else {
		gone := rowsWith(steps["step 6"], "-", " "+m[2]+" ", "pod/"+m[1], "unregistered")
		reused := rowsWith(steps["step 6"], "↺", " "+m[2]+" ", "IP reused, was pod/"+m[1])
		if len(gone)+len(reused) != 1 {
			t.Errorf("step 6: the deleted pod's IP %s is neither unregistered nor reused:\n%s", m[2], steps["step 6"])
		}
		if n := len(rowsWith(steps["step 6"], "+", "pod/web-")) + len(rowsWith(steps["step 6"], "↺", "pod/web-")); n != 1 {
			t.Errorf("step 6: %d new or reused web pod IPs, want 1 replacement:\n%s", n, steps["step 6"])
		}
	}
	if !regexp.MustCompile(`tag latency, .*: 3 changes|tag latency, .*: [3-9] changes`).MatchString(steps["step 1"]) {
		t.Errorf("step 1: no tag latency for the three new pods:\n%s", steps["step 1"])
	}
	// The sandwich: subnet rules and routes, then the labelled Service's
	// inbound rule, printed from the emulator's running config.
	for _, want := range []string{
		"route     kd.demo.10.0.0.0_19-us-east-1a: 10.0.0.0/19 via 10.0.128.1 on ethernet1/2, metric 10",
		"route     kd.demo.10.0.0.0_19-us-east-1b: 10.0.0.0/19 via 10.0.129.1 on ethernet1/2, metric 11",
		"NAT rule  kd.demo.10.0.32.0_19-outbound: trust -> untrust, source 10.0.32.0/19",
		"NAT rule  kd.demo.edge.storefront-8443-inbound: untrust -> untrust, source any, service kd.demo.tcp8443, source NAT to ethernet1/2's address, destination NAT to kd.demo.edge.storefront.ilb port 443",
		"committed on the firewall",
		// Discovered from the simulated AWS; a subnet added there follows.
		"discovered from AWS (simulated at http://127.0.0.1:",
		"NAT rule  kd.demo.10.0.64.0_19-outbound: trust -> untrust, source 10.0.64.0/19",
		"route     kd.demo.10.0.64.0_19-us-east-1b: 10.0.64.0/19 via 10.0.129.1 on ethernet1/2, metric 11",
		"discovered and committed",
		// Node tags, before the steps.
		"node tags on the firewall",
		"k8s.cl_demo.node.node.kubernetes.io_instance-type.m5.large k8s.cl_demo.node.topology.kubernetes.io_zone.us-east-1a k8s.cl_demo.nodes",
		"k8s.cl_demo.node.node.kubernetes.io_instance-type.m5.large k8s.cl_demo.node.topology.kubernetes.io_zone.us-east-1b k8s.cl_demo.nodes",
	} {
		if !strings.Contains(output, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, want := range []string{"all 7 steps done", "nothing left running"} {
		if !strings.Contains(output, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// scrapeDemo reads the demo's /metrics.
func scrapeDemo(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return "unreachable"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
