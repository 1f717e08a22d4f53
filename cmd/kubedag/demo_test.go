package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestDemoFlagValidation(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"one node", []string{"demo", "--nodes=1"}, "--nodes"},
		{"zero churn interval", []string{"demo", "--churn-interval=0s"}, "--churn-interval"},
		{"zero step timeout", []string{"demo", "--step-timeout=0s"}, "--step-timeout"},
		{"negative batch interval", []string{"demo", "--batch-interval=-1s"}, "--batch-interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := newRootCmd()
			cmd.SetArgs(tt.args)
			var out bytes.Buffer
			cmd.SetOut(&out)
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("the demo started despite the bad flag:\n%s", out.String())
			}
		})
	}
}
