package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"version"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("version: %v", err)
	}
	if !strings.HasPrefix(out.String(), "kubedag "+version+" ") {
		t.Fatalf("version output = %q", out.String())
	}
}

// TestMainPrintsErrors runs the real binary: a failing subcommand must say
// why on stderr (cobra is silenced, main prints the error once).
func TestMainPrintsErrors(t *testing.T) {
	if os.Getenv("KUBEDAG_TEST_MAIN") == "1" {
		os.Args = []string{"kubedag", "agent", "--node-name="}
		main()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainPrintsErrors$")
	cmd.Env = append(os.Environ(), "KUBEDAG_TEST_MAIN=1", "NODE_NAME=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit = %v, want status 1", err)
	}
	if got := stderr.String(); strings.Count(got, "kubedag: error: --node-name") != 1 {
		t.Fatalf("stderr = %q, want the error once", got)
	}
}
