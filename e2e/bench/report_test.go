package bench

import (
	"fmt"
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
			{Model: ModelKubedag, Acked: 10, P50: Quantile{Ms: 12}, P99: Quantile{Ms: 51}},
			{Model: ModelNaive, Acked: 1, Unacked: 9, P50: Quantile{Ms: 9000, AtLeast: true}},
		}},
		Config:  ConfigReport{FirewallLatency: Duration(5 * time.Millisecond)},
		Memory:  &MemoryReport{IPs: 100, BytesPerIP: 151},
		Restart: &RestartReport{IPs: 100, ConvergeSeconds: 2, Converged: true},
	}
	// The latency goal follows the run: a high rate, a slow firewall.
	fast := &Report{Config: ConfigReport{FirewallLatency: Duration(5 * time.Millisecond)},
		Latency: &LatencyReport{AchievedRate: 20000, Models: []ModelLatency{{Model: ModelKubedag, Acked: 10, P99: Quantile{Ms: 240}, MappingsPerCall: 400}}},
		Restart: &RestartReport{IPs: 500000, ConvergeSeconds: 9, Converged: true}}
	slow := &Report{Config: ConfigReport{FirewallLatency: Duration(200 * time.Millisecond)},
		Latency: &LatencyReport{AchievedRate: 2000, Models: []ModelLatency{{Model: ModelKubedag, Acked: 10, P99: Quantile{Ms: 449}}}}}
	for _, tc := range []struct {
		rep  *Report
		want map[string]bool
	}{
		{rep, map[string]bool{"tag latency p50": true, "tag latency p99 <= 50": false, "<= 150 B of agg": false, "restart: 100 IPs verified within 3 s": true, "restart: 0 unre": true}},
		{fast, map[string]bool{"tag latency p99 <= 250": true, ">= 500 mappings": false, "restart: 500000 IPs verified within 10 s": true}},
		{slow, map[string]bool{"tag latency p99 <= two round trips + 50 ms = 450ms": true}},
	} {
		goals := tc.rep.Goals()
		for k, v := range tc.want {
			found := false
			for _, g := range goals {
				if strings.HasPrefix(g.Goal, k) {
					found = true
					if g.Met != v {
						t.Errorf("goal %q met=%v, want %v", g.Goal, g.Met, v)
					}
				}
			}
			if !found {
				t.Errorf("no goal %q in %+v", k, goals)
			}
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

func TestPodUID(t *testing.T) {
	for _, c := range []struct{ i, r int }{{0, 0}, {1, 0}, {499999, 3}, {0xdeadbeef, 0x1ffff}, {12345678, 65535}} {
		want := fmt.Sprintf("%08x-%04x-4000-8000-%012x", c.i, c.r&0xffff, c.i)
		if got := podUID(c.i, c.r); got != want {
			t.Errorf("podUID(%d, %d) = %q, want %q", c.i, c.r, got, want)
		}
	}
}
