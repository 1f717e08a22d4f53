package config

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of TargetDAGs.
const (
	DefaultDAGInterval      = 60 * time.Second
	DefaultDAGProbeInterval = 10 * time.Second
	DefaultDAGFirstRead     = 30 * time.Second
)

// TargetDAGs makes the aggregator read a target's Dynamic Address Groups:
// every filter in shared and each vsys (firewall) or device group
// (Panorama), re-read every Interval and soon after a commit is noticed.
// The API key then needs read access to the configuration.
type TargetDAGs struct {
	// Read turns the reading on (for `kubedag explain` and the DAG
	// metrics); Prune implies it.
	Read bool `json:"read,omitempty"`
	// Prune registers on this target only the tags some DAG filter on it
	// references, plus AlwaysKeep. While any filter does not parse, or
	// before the first read succeeds, every tag is registered (nothing is
	// pruned that cannot be proven unreferenced); a failed re-read keeps
	// the last good set.
	Prune bool `json:"prune,omitempty"`
	// AlwaysKeep are tag patterns ('*' any run, '?' one character)
	// registered even when no DAG references them, e.g. for DAGs on
	// devices this target does not show, or for logs and reports.
	AlwaysKeep []string `json:"alwaysKeep,omitempty"`
	// Interval between full re-reads. Default 60s, at least 1s.
	Interval Duration `json:"interval,omitempty"`
	// ProbeInterval between cheap checks for a new commit (the newest
	// commit job), which trigger a re-read. Default 10s, at least 1s.
	ProbeInterval Duration `json:"probeInterval,omitempty"`
	// FirstReadTimeout bounds how long a pruning target's pusher waits
	// for the first read before it registers every tag. Default 30s.
	FirstReadTimeout Duration `json:"firstReadTimeout,omitempty"`
}

// Enabled reports whether the target's DAGs are read.
func (d *TargetDAGs) Enabled() bool { return d != nil && (d.Read || d.Prune) }

func (d *TargetDAGs) validate() error {
	if d == nil {
		return nil
	}
	for i, p := range d.AlwaysKeep {
		if p == "" {
			return fmt.Errorf("dags.alwaysKeep[%d]: empty pattern", i)
		}
	}
	if len(d.AlwaysKeep) > 0 && !d.Prune {
		return errors.New("dags.alwaysKeep: only with dags.prune")
	}
	for _, f := range []struct {
		name string
		d    *Duration
		def  time.Duration
	}{{"interval", &d.Interval, DefaultDAGInterval}, {"probeInterval", &d.ProbeInterval, DefaultDAGProbeInterval}, {"firstReadTimeout", &d.FirstReadTimeout, DefaultDAGFirstRead}} {
		if f.d.Duration == 0 {
			f.d.Duration = f.def
		}
		if f.d.Duration < time.Second {
			return fmt.Errorf("dags.%s: %s: must be at least 1s", f.name, f.d.Duration)
		}
	}
	return nil
}
