package agentv1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedUpToDate regenerates the code into a temporary directory and
// compares it with the checked-in files. It builds buf and the plugins from
// the module proxy (minutes on a cold cache), so it only runs when
// KUBEDAG_CHECK_GENERATED=1.
func TestGeneratedUpToDate(t *testing.T) {
	if os.Getenv("KUBEDAG_CHECK_GENERATED") != "1" {
		t.Skip("set KUBEDAG_CHECK_GENERATED=1 to regenerate and compare")
	}
	out := t.TempDir()
	cmd := exec.CommandContext(t.Context(), "go", "run", "github.com/bufbuild/buf/cmd/buf@v1.75.0", "generate", "--output", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("buf generate: %v\n%s", err, b)
	}
	for _, f := range []string{"agent.pb.go", "agent_grpc.pb.go"} {
		want, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date: run `make generate`", f)
		}
	}
}
