package bench

import (
	"strings"
	"testing"
	"time"
)

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestQuantiles(t *testing.T) {
	seq := func(n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = n - i // unsorted on purpose
		}
		return out
	}
	tests := []struct {
		name               string
		acked, unacked     []time.Duration
		p50, p90, p99, max Quantile
	}{
		{"empty", nil, nil, Quantile{}, Quantile{}, Quantile{}, Quantile{}},
		{"one", ms(7), nil, Quantile{Ms: 7}, Quantile{Ms: 7}, Quantile{Ms: 7}, Quantile{Ms: 7}},
		{"1..100 nearest rank", ms(seq(100)...), nil, Quantile{Ms: 50}, Quantile{Ms: 90}, Quantile{Ms: 99}, Quantile{Ms: 100}},
		// Unacked lower bounds above the median leave it exact.
		{"censored tail", ms(seq(90)...), ms(1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000),
			Quantile{Ms: 50}, Quantile{Ms: 90}, Quantile{Ms: 1000, AtLeast: true}, Quantile{Ms: 1000, AtLeast: true}},
		// A lower bound at or below the point makes it a lower bound too.
		{"censored early", ms(10, 20, 30), ms(5), Quantile{Ms: 10, AtLeast: true}, Quantile{Ms: 30, AtLeast: true}, Quantile{Ms: 30, AtLeast: true}, Quantile{Ms: 30, AtLeast: true}},
		{"all unacked", nil, ms(3, 1, 2), Quantile{Ms: 2, AtLeast: true}, Quantile{Ms: 3, AtLeast: true}, Quantile{Ms: 3, AtLeast: true}, Quantile{Ms: 3, AtLeast: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p50, p90, p99, mx := quantiles(tt.acked, tt.unacked)
			got := []Quantile{p50, p90, p99, mx}
			want := []Quantile{tt.p50, tt.p90, tt.p99, tt.max}
			for i, name := range []string{"p50", "p90", "p99", "max"} {
				if got[i] != want[i] {
					t.Errorf("%s = %+v, want %+v", name, got[i], want[i])
				}
			}
		})
	}
}

func TestTrackerSupersedeAndStaleAck(t *testing.T) {
	tr := newTracker()
	ip := podIP(1)
	t0 := time.Unix(100, 0)
	tr.issue(ip, t0)
	tr.issue(ip, t0.Add(time.Second)) // supersedes the first change
	tr.ack(ip, t0, t0.Add(2*time.Second))
	if tr.idle() {
		t.Fatal("an ack of the superseded change completed the newer one")
	}
	tr.ack(ip, t0.Add(time.Second), t0.Add(1500*time.Millisecond))
	if !tr.idle() {
		t.Fatal("ack of the latest change not recorded")
	}
	m := tr.result("x", "", t0.Add(3*time.Second))
	if m.Acked != 1 || m.Superseded != 1 || m.Unacked != 0 || m.P50.Ms != 500 {
		t.Fatalf("result %+v", m)
	}
}

func TestGoalsAndText(t *testing.T) {
	rep := &Report{
		Latency: &LatencyReport{Issued: 10, AchievedRate: 2000, Models: []ModelLatency{
			{Model: ModelKubedag, Acked: 10, P50: Quantile{Ms: 40}, P99: Quantile{Ms: 300}},
			{Model: ModelNaive, Acked: 1, Unacked: 9, P50: Quantile{Ms: 9000, AtLeast: true}},
		}},
		Memory:  &MemoryReport{IPs: 100, BytesPerIP: 301},
		Restart: &RestartReport{IPs: 100, ConvergeSeconds: 2, Converged: true},
	}
	met := map[string]bool{}
	for _, g := range rep.Goals() {
		met[g.Goal[:15]] = g.Met
	}
	want := map[string]bool{"tag latency p50": true, "tag latency p99": false, "<= 300 B of agg": false, "restart: 100 IP": true, "restart: 0 unre": true}
	for k, v := range want {
		if got, ok := met[k]; !ok || got != v {
			t.Errorf("goal %q met=%v (present %v), want %v; all %v", k, got, ok, v, met)
		}
	}
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{">=9000ms", "MISSED", "p99"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("text lacks %q:\n%s", s, b.String())
		}
	}
}
