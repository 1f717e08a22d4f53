package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunScript runs `make bench`'s script (run.sh) at its small size
// (BENCH_SMALL=1) with a freshly built kubedag and checks that every
// section ran and wrote its tables to the results file. It asserts nothing
// about speed.
func TestRunScript(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips building kubedag and running every bench section (make test and make unit pass no -short)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "kubedag")
	build := exec.Command("go", "build", "-o", bin, "github.com/kubedag/kubedag/cmd/kubedag")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	results := filepath.Join(dir, "out", "results.md")
	cmd := exec.Command("./run.sh", bin, results)
	cmd.Env = append(os.Environ(), "BENCH_SMALL=1", "BENCH_LONG=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("run.sh: %v\n%s", err, out)
	}
	b, err := os.ReadFile(results)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{
		"- machine: ", "- commit: ", "- mode: small",
		"## Tag latency, 5 ms per call", "## Tag latency, high rate, call limit", "## Tag latency, 200 ms per call",
		"## Throughput and memory, 1000 IPs", "## Throughput and memory, 5000 IPs", "## Restart, 3000 IPs",
		"IP-reuse exposure (kubedag)", "kubedag pusher limited to 40 calls/s", "with 200ms per call",
		"tag latency p99 <= two round trips", "restart: 3000 IPs verified within 3 s", "B/IP",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("results lack %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "goal (DESIGN.md)"); n != 6 {
		t.Errorf("%d goal tables, want one per section (6):\n%s", n, text)
	}
}
