package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kubedag/kubedag/e2e/bench"
)

// TestBenchTinyReport runs kubedag bench with tiny parameters and checks
// the report is complete and internally consistent. It asserts nothing
// about speed.
func TestBenchTinyReport(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every bench phase")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"bench", "--json", "--duration", "1s", "--rate", "200", "--ips", "1000", "--nodes", "2",
		"--poll-interval", "500ms", "--drain", "20s", "--fw-latency", "1ms", "--throughput-ips", "5000", "--restart-ips", "3000"})
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("bench: %v\nstderr: %s", err, errOut.String())
	}
	var rep struct {
		Machine struct{ NumCPU int }
		Latency struct {
			Issued       int
			AchievedRate float64
			Models       []struct {
				Model                      string
				Acked, Superseded, Unacked int
				P50, P90, P99, Max         struct{ Ms float64 }
				Calls, Entries             int
				MappingsPerCall            float64
			}
			Stream struct{ Agents, Rejections int }
			Reuse  struct {
				Reuses, Acked, Unacked int
				P50, P99, Max          struct{ Ms float64 }
			}
		}
		Throughput struct {
			IPs, Changes, Calls, Entries   int
			ChangesPerSec, MappingsPerCall float64
			GOMAXPROCS                     int
		}
		Memory struct {
			IPs        int
			BytesPerIP float64
			TagSets    int
		}
		Restart struct {
			IPs, Stale, Missing, Listed, Unregisters, LiveUnregisters, Mismatches, Refreshes int
			Converged, Floor                                                                 bool
			ConvergeSeconds                                                                  float64
		}
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	if rep.Machine.NumCPU < 1 {
		t.Errorf("machine: NumCPU %d", rep.Machine.NumCPU)
	}

	l := rep.Latency
	if l.Issued != 200 || l.AchievedRate <= 0 {
		t.Errorf("latency: issued %d at %.1f/s, want 200 changes", l.Issued, l.AchievedRate)
	}
	if l.Stream.Agents != 2 || l.Stream.Rejections != 0 {
		t.Errorf("latency: stream %+v", l.Stream)
	}
	models := map[string]bool{}
	for _, m := range l.Models {
		models[m.Model] = true
		if m.Acked+m.Superseded+m.Unacked != l.Issued {
			t.Errorf("%s: acked %d + superseded %d + unacked %d != issued %d", m.Model, m.Acked, m.Superseded, m.Unacked, l.Issued)
		}
		// The drain is long enough for every model at this rate: all acked.
		if m.Acked != l.Issued {
			t.Errorf("%s: %d of %d changes acked", m.Model, m.Acked, l.Issued)
		}
		if !(0 < m.P50.Ms && m.P50.Ms <= m.P90.Ms && m.P90.Ms <= m.P99.Ms && m.P99.Ms <= m.Max.Ms) {
			t.Errorf("%s: quantiles not ordered: %+v %+v %+v %+v", m.Model, m.P50, m.P90, m.P99, m.Max)
		}
		if m.Calls < 1 || m.Entries < m.Acked {
			t.Errorf("%s: %d calls, %d entries for %d acked changes", m.Model, m.Calls, m.Entries, m.Acked)
		}
	}
	if len(models) != 3 || !models["kubedag"] || !models["naive"] || !models["poll"] {
		t.Errorf("latency models %v, want kubedag, naive and poll", models)
	}
	for _, m := range l.Models {
		// Every change moves an IP to new tags: one unregister and one
		// register entry. The naive model sends exactly one change per call.
		// A reuse across nodes may take two calls (the new node's claim
		// and the old node's withdrawal arrive on separate streams), still
		// two entries in all.
		if m.Model == "naive" && (m.Calls < l.Issued || m.Calls > l.Issued+l.Reuse.Reuses || m.Entries != 2*l.Issued) {
			t.Errorf("naive: %d calls, %d entries for %d changes (%d reuses); want one call of 2 entries per change, two calls of one for a reuse",
				m.Calls, m.Entries, l.Issued, l.Reuse.Reuses)
		}
		// kubedag sends at once when no call is in flight, so at this low
		// rate it may make a call per change, never more.
		if m.Model == "kubedag" && m.Calls > l.Issued+l.Reuse.Reuses {
			t.Errorf("kubedag: %d calls for %d changes (%d reuses)", m.Calls, l.Issued, l.Reuse.Reuses)
		}
	}

	// Every 10th change (the default) moves its IP to another node.
	if x := l.Reuse; x.Reuses != l.Issued/10 || x.Acked != x.Reuses || x.Unacked != 0 || !(0 < x.P50.Ms && x.P50.Ms <= x.P99.Ms && x.P99.Ms <= x.Max.Ms) {
		t.Errorf("reuse exposure: %+v for %d changes", x, l.Issued)
	}

	th := rep.Throughput
	if th.IPs != 5000 || th.Changes != 10000 || th.ChangesPerSec <= 0 || th.GOMAXPROCS != 1 {
		t.Errorf("throughput: %+v", th)
	}
	if th.Entries != th.Changes || th.Calls < th.Changes/1000 || th.MappingsPerCall > 1000 {
		t.Errorf("throughput: %d entries in %d calls for %d changes (max batch 1000)", th.Entries, th.Calls, th.Changes)
	}
	if rep.Memory.IPs != 5000 || rep.Memory.BytesPerIP <= 0 || rep.Memory.TagSets != 50 {
		t.Errorf("memory: %+v", rep.Memory)
	}

	r := rep.Restart
	if r.IPs != 3000 || r.Listed != r.IPs-r.Missing+r.Stale+2 {
		t.Errorf("restart: listed %d, want %d live - %d missing + %d stale + the canary and floor marker IPs", r.Listed, r.IPs, r.Missing, r.Stale)
	}
	// The previous leader's TTL floor marker spares every live IP a re-register.
	if !r.Floor || r.Refreshes != 0 {
		t.Errorf("restart: floor %v, %d refreshes; want the floor and none", r.Floor, r.Refreshes)
	}
	if !r.Converged || r.Mismatches != 0 || r.LiveUnregisters != 0 || r.Unregisters != r.Stale || r.ConvergeSeconds <= 0 {
		t.Errorf("restart: %+v", r)
	}
}

func TestBenchText(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a bench phase")
	}
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"bench", "--phases", "throughput", "--throughput-ips", "2000"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Throughput (GOMAXPROCS 1", ">= 1,000,000 mapping changes/s", "<= 150 B of aggregator memory per registered IP (2000 IPs"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "Tag latency") {
		t.Errorf("latency phase ran though not asked for:\n%s", out.String())
	}
}

func TestBenchValidate(t *testing.T) {
	ok := benchOptions{Config: bench.Config{Rate: 10, Duration: time.Second, IPs: 10, Nodes: 1, PollInterval: time.Second, ThroughputIPs: 1, RestartIPs: 1}}
	tests := []struct {
		name    string
		mutate  func(o *benchOptions)
		wantErr string
	}{
		{"defaults", func(*benchOptions) {}, ""},
		{"zero rate", func(o *benchOptions) { o.Rate = 0 }, "--rate"},
		{"no change", func(o *benchOptions) { o.Duration = time.Millisecond }, "makes no change"},
		{"negative latency", func(o *benchOptions) { o.FirewallLatency = -time.Millisecond }, "--fw-latency"},
		{"more nodes than IPs", func(o *benchOptions) { o.Nodes = 11 }, "--nodes"},
		{"zero poll", func(o *benchOptions) { o.PollInterval = 0 }, "--poll-interval"},
		{"negative max batch", func(o *benchOptions) { o.MaxBatch = -1 }, "--max-batch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.mutate(&o)
			err := o.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error about %s", err, tt.wantErr)
			}
		})
	}
}
