package bench

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Duration is a time.Duration that reads well in JSON ("1.5s").
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as a string such as "1.5s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// Report is the result of Run. Phases that did not run are nil.
type Report struct {
	Started    time.Time         `json:"started"`
	Elapsed    Duration          `json:"elapsed"`
	Machine    Machine           `json:"machine"`
	Config     ConfigReport      `json:"config"`
	Latency    *LatencyReport    `json:"latency,omitempty"`
	Throughput *ThroughputReport `json:"throughput,omitempty"`
	Memory     *MemoryReport     `json:"memory,omitempty"`
	Restart    *RestartReport    `json:"restart,omitempty"`
}

// Machine describes where the bench ran.
type Machine struct {
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	GoVersion  string `json:"goVersion"`
	NumCPU     int    `json:"numCPU"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPU        string `json:"cpu,omitempty"`     // model name from /proc/cpuinfo
	LoadAvg    string `json:"loadAvg,omitempty"` // /proc/loadavg at start
}

// ConfigReport is the effective configuration.
type ConfigReport struct {
	Rate            int      `json:"rate"`
	Duration        Duration `json:"duration"`
	IPs             int      `json:"ips"`
	Nodes           int      `json:"nodes"`
	PollInterval    Duration `json:"pollInterval"`
	Drain           Duration `json:"drain"`
	FirewallLatency Duration `json:"firewallLatency"`
	BatchInterval   Duration `json:"batchInterval"`
	MaxBatch        int      `json:"maxBatch"`
	MaxCallsPerSec  float64  `json:"maxCallsPerSecond,omitempty"`
	ReuseEvery      int      `json:"reuseEvery"`
	ThroughputIPs   int      `json:"throughputIPs"`
	RestartIPs      int      `json:"restartIPs"`
	Phases          []string `json:"phases"`
}

func reportConfig(c Config) ConfigReport {
	return ConfigReport{
		Rate: c.Rate, Duration: Duration(c.Duration), IPs: c.IPs, Nodes: c.Nodes,
		PollInterval: Duration(c.PollInterval), Drain: Duration(c.Drain), FirewallLatency: Duration(c.FirewallLatency),
		BatchInterval: Duration(c.BatchInterval), MaxBatch: c.MaxBatch, MaxCallsPerSec: c.MaxCallsPerSecond, ReuseEvery: c.ReuseEvery,
		ThroughputIPs: c.ThroughputIPs, RestartIPs: c.RestartIPs, Phases: slices.Clone(c.Phases),
	}
}

// Quantile is one point of a latency distribution. When AtLeast is set,
// changes still unacknowledged at the end of the phase fall at or below
// this point, and Ms is only a lower bound (their wait so far).
type Quantile struct {
	Ms      float64 `json:"ms"`
	AtLeast bool    `json:"atLeast,omitempty"`
}

func (q Quantile) String() string {
	s := fmtMs(q.Ms)
	if q.AtLeast {
		return ">=" + s
	}
	return s
}

func fmtMs(ms float64) string {
	switch {
	case ms >= 10000:
		return fmt.Sprintf("%.1fs", ms/1000)
	case ms >= 100:
		return fmt.Sprintf("%.0fms", ms)
	default:
		return fmt.Sprintf("%.1fms", ms)
	}
}

// LatencyReport is the tag-latency phase: one row per model, same change
// stream.
type LatencyReport struct {
	// Issued is the number of changes made; AchievedRate is Issued over the
	// time it took (below Rate if the machine could not keep up).
	Issued       int             `json:"issued"`
	AchievedRate float64         `json:"achievedRate"`
	Models       []ModelLatency  `json:"models"`
	Reuse        *ExposureReport `json:"reuse,omitempty"`
	Stream       StreamStatsInfo `json:"stream"`
}

// ExposureReport is the IP-reuse exposure of the kubedag model: for each
// change that moved an IP to a new pod on another node, the time from the
// new pod's claim on its node (the agent saw it Running with the IP) until
// the target acknowledged removing the old pod's tags from the IP.
type ExposureReport struct {
	Reuses  int      `json:"reuses"`
	Acked   int      `json:"acked"`
	Unacked int      `json:"unacked"`
	P50     Quantile `json:"p50"`
	P90     Quantile `json:"p90"`
	P99     Quantile `json:"p99"`
	Max     Quantile `json:"max"`
}

// StreamStatsInfo describes the agent -> aggregator leg.
type StreamStatsInfo struct {
	Agents     int    `json:"agents"`
	Rejections uint64 `json:"rejections"`
	Sessions   uint64 `json:"sessions"` // streams opened (one per agent unless one reconnected)
}

// ModelLatency is the first-seen -> target-ack latency of one model.
type ModelLatency struct {
	Model       string `json:"model"`
	Description string `json:"description"`
	// Acked changes were acknowledged by the target; Superseded ones were
	// replaced by a later change of the same IP before their ack (not
	// measured); Unacked ones were still waiting when the phase ended
	// (counted in the quantiles as lower bounds).
	Acked      int      `json:"acked"`
	Superseded int      `json:"superseded"`
	Unacked    int      `json:"unacked"`
	P50        Quantile `json:"p50"`
	P90        Quantile `json:"p90"`
	P99        Quantile `json:"p99"`
	Max        Quantile `json:"max"`
	// Calls and Entries are the User-ID calls and register+unregister
	// entries the model's emulator received during the phase.
	Calls           int     `json:"calls"`
	Entries         int     `json:"entries"`
	MappingsPerCall float64 `json:"mappingsPerCall"`
}

// ThroughputReport is the aggregator throughput phase.
type ThroughputReport struct {
	Firewall   string `json:"firewall"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	IPs        int    `json:"ips"`
	// Changes = IPs registers (new pods) + IPs unregisters (pods gone).
	Changes       int     `json:"changes"`
	Seconds       float64 `json:"seconds"`
	ChangesPerSec float64 `json:"changesPerSec"` // per wall-clock second
	// CPUSeconds is the process's CPU time over the same spans (its one
	// core's busy time: GOMAXPROCS is 1), and ChangesPerCPUSec the
	// changes per CPU second, the measure that a loaded machine does not
	// skew (0 where the system reports no CPU time).
	CPUSeconds       float64 `json:"cpuSeconds"`
	ChangesPerCPUSec float64 `json:"changesPerCpuSec"`
	RegisterPerSec   float64 `json:"registerPerSec"`
	UnregisterPerSec float64 `json:"unregisterPerSec"`
	Calls            int     `json:"calls"`
	Entries          int     `json:"entries"`
	MappingsPerCall  float64 `json:"mappingsPerCall"`
}

// MemoryReport is the aggregator memory per registered IP.
type MemoryReport struct {
	IPs             int     `json:"ips"`
	HeapInuseDelta  int64   `json:"heapInuseDelta"`
	HeapAllocDelta  int64   `json:"heapAllocDelta"`
	BytesPerIP      float64 `json:"bytesPerIP"`      // HeapInuse delta / IPs
	AllocBytesPerIP float64 `json:"allocBytesPerIP"` // HeapAlloc delta / IPs
	TagSets         int     `json:"tagSets"`         // distinct (interned) tag sets
}

// RestartReport is the restart phase.
type RestartReport struct {
	IPs     int `json:"ips"`     // live IPs registered on the target and desired
	Stale   int `json:"stale"`   // extra owned registrations nobody claims (to unregister)
	Missing int `json:"missing"` // desired IPs the target lacks (to register)
	Listed  int `json:"listed"`
	// ListSeconds is the reconcile listing; ConvergeSeconds the time until
	// the pusher had nothing pending.
	ListSeconds     float64 `json:"listSeconds"`
	ConvergeSeconds float64 `json:"convergeSeconds"`
	Calls           int     `json:"calls"` // User-ID update calls
	Registers       int     `json:"registers"`
	// Refreshes are registers of IPs the target already held with the
	// desired tags: TTL refreshes of tags whose timeout the listing did not
	// report (Registers - Missing).
	Refreshes   int `json:"refreshes"`
	Unregisters int `json:"unregisters"`
	// Floor: the target held the previous leader's TTL floor marker.
	Floor bool `json:"floor"`
	// LiveUnregisters are unregister entries of a tag the IP's desired
	// state holds: a live tag flapped. Must be 0.
	LiveUnregisters int  `json:"liveUnregisters"`
	Converged       bool `json:"converged"`
	Mismatches      int  `json:"mismatches"` // IPs whose tags on the target differ from desired afterwards
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Goal is one DESIGN.md performance goal with what was measured.
type Goal struct {
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// Goals compares the report with the goals of DESIGN.md (issue 16's
// round), for the phases that ran. Which latency goal applies depends on
// the run: a slow firewall (>= 100ms a call), a high rate (>= 10,000
// changes/s) or the default load.
func (r *Report) Goals() []Goal {
	var out []Goal
	c := r.Config
	if r.Latency != nil {
		for _, m := range r.Latency.Models {
			if m.Model != ModelKubedag {
				continue
			}
			fw := time.Duration(c.FirewallLatency)
			at := fmt.Sprintf(" (%.0f changes/s, %s a call)", r.Latency.AchievedRate, fw)
			ok := func(q Quantile, limit float64) bool { return !q.AtLeast && q.Ms <= limit && m.Acked > 0 }
			switch {
			case fw >= 100*time.Millisecond:
				limit := 2*fw + 50*time.Millisecond
				out = append(out, Goal{fmt.Sprintf("tag latency p99 <= two round trips + 50 ms = %s%s", limit, at), m.P99.String(), ok(m.P99, float64(limit)/1e6)})
			case r.Latency.AchievedRate >= 10000:
				out = append(out,
					Goal{"tag latency p99 <= 250 ms" + at, m.P99.String(), ok(m.P99, 250)},
					Goal{">= 500 mappings per API call" + at, fmt.Sprintf("%.0f", m.MappingsPerCall), m.MappingsPerCall >= 500})
			default:
				out = append(out,
					Goal{"tag latency p50 <= 15 ms" + at, m.P50.String(), ok(m.P50, 15)},
					Goal{"tag latency p99 <= 50 ms" + at, m.P99.String(), ok(m.P99, 50)})
			}
		}
	}
	if t := r.Throughput; t != nil {
		// Judged per second of the core's time: on a loaded machine the
		// wall-clock rate also counts waiting for the core.
		rate, per := t.ChangesPerSec, "wall-clock s"
		if t.ChangesPerCPUSec > 0 {
			rate, per = t.ChangesPerCPUSec, "CPU s"
		}
		out = append(out,
			Goal{">= 1,000,000 mapping changes/s on one core (no-op firewall)", fmt.Sprintf("%.0f/%s", rate, per), rate >= 1e6})
	}
	if m := r.Memory; m != nil {
		out = append(out, Goal{fmt.Sprintf("<= 150 B of aggregator memory per registered IP (%d IPs; the goal is at 500,000)", m.IPs), fmt.Sprintf("%.0f B", m.BytesPerIP), m.BytesPerIP <= 150})
	}
	if s := r.Restart; s != nil {
		limit := 10.0
		if s.IPs <= 100000 {
			limit = 3
		}
		out = append(out,
			Goal{fmt.Sprintf("restart: %d IPs verified within %.0f s", s.IPs, limit), fmt.Sprintf("%.2fs", s.ConvergeSeconds), s.Converged && s.ConvergeSeconds <= limit},
			Goal{"restart: 0 unregisters of live tags", fmt.Sprint(s.LiveUnregisters), s.LiveUnregisters == 0})
	}
	return out
}

// WriteText writes the report as tables.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "kubedag bench: %s %s/%s, %d CPUs (GOMAXPROCS %d)", m.GoVersion, m.GOOS, m.GOARCH, m.NumCPU, m.GOMAXPROCS)
	if m.CPU != "" {
		fmt.Fprintf(&b, ", %s", m.CPU)
	}
	if m.LoadAvg != "" {
		fmt.Fprintf(&b, ", load average %s", m.LoadAvg)
	}
	fmt.Fprintf(&b, "; ran %s\n\n", time.Duration(r.Elapsed).Round(100*time.Millisecond))

	c := r.Config
	if l := r.Latency; l != nil {
		fmt.Fprintf(&b, "Tag latency, first seen on the node -> target ack: %d changes at %.0f/s (asked %d/s for %s) over %d IPs on %d agents,\n",
			l.Issued, l.AchievedRate, c.Rate, c.Duration, c.IPs, c.Nodes)
		fmt.Fprintf(&b, "agent stream over TLS, PAN-OS emulator over loopback HTTPS with %s per call; waited %s after the last change.\n", c.FirewallLatency, c.Drain)
		if c.MaxCallsPerSec > 0 {
			fmt.Fprintf(&b, "kubedag pusher limited to %g calls/s to its target.\n", c.MaxCallsPerSec)
		}
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "model\tacked\tsuperseded\tunacked\tp50\tp90\tp99\tmax\tAPI calls\tmappings/call\t")
		for _, x := range l.Models {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%d\t%.1f\t\n", x.Model, x.Acked, x.Superseded, x.Unacked, x.P50, x.P90, x.P99, x.Max, x.Calls, x.MappingsPerCall)
		}
		tw.Flush()
		for _, x := range l.Models {
			fmt.Fprintf(&b, "  %s: %s\n", x.Model, x.Description)
		}
		fmt.Fprintln(&b, "  >= marks a lower bound: changes still unacknowledged at the end count with their wait so far.")
		if x := l.Reuse; x != nil {
			fmt.Fprintf(&b, "IP-reuse exposure (kubedag): %d changes gave the IP to a new pod on another node; from its claim on that node to the ack\n", x.Reuses)
			fmt.Fprintf(&b, "  of the old pod's tags removed: p50 %s, p90 %s, p99 %s, max %s (%d acked, %d unacked)\n", x.P50, x.P90, x.P99, x.Max, x.Acked, x.Unacked)
		}
		b.WriteString("\n")
	}
	if t := r.Throughput; t != nil {
		fmt.Fprintf(&b, "Throughput (GOMAXPROCS %d, %s): %d IPs registered then unregistered through store + pusher:\n", t.GOMAXPROCS, t.Firewall, t.IPs)
		fmt.Fprintf(&b, "  %d changes in %.2fs = %.0f changes/s (register %.0f/s, unregister %.0f/s); %d calls, %.0f mappings/call\n",
			t.Changes, t.Seconds, t.ChangesPerSec, t.RegisterPerSec, t.UnregisterPerSec, t.Calls, t.MappingsPerCall)
		if t.CPUSeconds > 0 {
			fmt.Fprintf(&b, "  CPU time %.2fs (GOMAXPROCS 1: one core) = %.0f changes per CPU second\n", t.CPUSeconds, t.ChangesPerCPUSec)
		}
		b.WriteString("\n")
	}
	if mm := r.Memory; mm != nil {
		fmt.Fprintf(&b, "Memory at %d IPs (store + one pusher, %d interned tag sets): HeapInuse +%d B = %.0f B/IP (HeapAlloc %.0f B/IP)\n\n",
			mm.IPs, mm.TagSets, mm.HeapInuseDelta, mm.BytesPerIP, mm.AllocBytesPerIP)
	}
	if s := r.Restart; s != nil {
		fmt.Fprintf(&b, "Restart: %d live IPs (+%d stale, %d missing) on the emulator (%s per call); a fresh pusher listed %d in %.2fs,\n",
			s.IPs, s.Stale, s.Missing, c.FirewallLatency, s.Listed, s.ListSeconds)
		fmt.Fprintf(&b, "  converged in %.2fs with %d calls: %d registers, %d unregisters, %d of live tags; converged=%v (%d IPs differ)\n",
			s.ConvergeSeconds, s.Calls, s.Registers, s.Unregisters, s.LiveUnregisters, s.Converged, s.Mismatches)
		if s.Floor {
			fmt.Fprintf(&b, "  the previous leader's TTL floor marker was on the target: %d of the %d live IPs it listed kept without a re-register\n", s.IPs-s.Missing-s.Refreshes, s.IPs-s.Missing)
		} else {
			fmt.Fprintln(&b, "  no TTL floor marker on the target (--restart-no-floor): every tag whose timeout the listing omits is re-registered")
		}
		if s.Refreshes > 0 {
			fmt.Fprintf(&b, "  %d of the registers refreshed TTLs the listing did not report (the tags were in place)\n", s.Refreshes)
		}
		b.WriteString("\n")
	}
	if goals := r.Goals(); len(goals) > 0 {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "goal (DESIGN.md)\tmeasured\tverdict")
		for _, g := range goals {
			v := "met"
			if !g.Met {
				v = "MISSED"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Goal, g.Measured, v)
		}
		tw.Flush()
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// quantiles computes P50, P90, P99 and Max of acked latencies plus
// unacked lower bounds (see Quantile).
func quantiles(acked, unacked []time.Duration) (p50, p90, p99, mx Quantile) {
	type v struct {
		d   time.Duration
		low bool
	}
	all := make([]v, 0, len(acked)+len(unacked))
	for _, d := range acked {
		all = append(all, v{d, false})
	}
	for _, d := range unacked {
		all = append(all, v{d, true})
	}
	if len(all) == 0 {
		return
	}
	slices.SortFunc(all, func(a, b v) int {
		if c := cmp.Compare(a.d, b.d); c != 0 {
			return c
		}
		if a.low == b.low {
			return 0
		}
		if !a.low {
			return -1
		}
		return 1
	})
	firstLow := len(all)
	for i, x := range all {
		if x.low {
			firstLow = i
			break
		}
	}
	at := func(q float64) Quantile {
		i := int(math.Ceil(q*float64(len(all)))) - 1 // nearest rank
		i = max(0, min(i, len(all)-1))
		return Quantile{Ms: float64(all[i].d) / 1e6, AtLeast: i >= firstLow}
	}
	return at(0.50), at(0.90), at(0.99), Quantile{Ms: float64(all[len(all)-1].d) / 1e6, AtLeast: len(unacked) > 0}
}
