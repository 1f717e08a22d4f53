package config

import (
	"strings"
	"testing"
	"time"
)

func TestTargetDAGs(t *testing.T) {
	base := "cluster: c1\ntargets: [{name: fw, url: 'https://fw', apiKeyEnv: K, dags: %s}]\n"
	c, err := Parse([]byte(strings.Replace(base, "%s", "{prune: true, alwaysKeep: ['k8s.cl_c1.ns_*']}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Targets[0].DAGs
	if !d.Enabled() || !d.Prune || d.Interval.Duration != DefaultDAGInterval || d.ProbeInterval.Duration != DefaultDAGProbeInterval ||
		d.FirstReadTimeout.Duration != DefaultDAGFirstRead {
		t.Fatalf("dags = %+v", d)
	}
	c, err = Parse([]byte(strings.Replace(base, "%s", "{read: true, interval: 5m}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Targets[0].DAGs; !d.Enabled() || d.Prune || d.Interval.Duration != 5*time.Minute {
		t.Fatalf("dags = %+v", d)
	}
	c, err = Parse([]byte("cluster: c1\ntargets: [{name: fw, url: 'https://fw', apiKeyEnv: K}]\n"))
	if err != nil || c.Targets[0].DAGs.Enabled() {
		t.Fatalf("no dags section: enabled %v, err %v", c.Targets[0].DAGs.Enabled(), err)
	}

	for _, tc := range []struct{ dags, want string }{
		{"{prune: true, alwaysKeep: ['']}", "targets[fw].dags.alwaysKeep[0]: empty pattern"},
		{"{read: true, alwaysKeep: ['k8s.*']}", "targets[fw].dags.alwaysKeep: only with dags.prune"},
		{"{read: true, interval: 10ms}", "targets[fw].dags.interval: 10ms: must be at least 1s"},
		{"{prune: true, probeInterval: 1ms}", "targets[fw].dags.probeInterval"},
		{"{prune: maybe}", "prune"},
	} {
		_, err := Parse([]byte(strings.Replace(base, "%s", tc.dags, 1)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("dags %s: error %v, want %q", tc.dags, err, tc.want)
		}
	}
}
