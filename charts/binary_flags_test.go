package charts

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestArgsParseWithTheBinary renders the chart and runs every container's
// args through the real kubedag binary's flag parser (cobra rejects an
// unknown flag or a bad value even with --help), so the chart can never
// pass a flag the commands do not have.
func TestArgsParseWithTheBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "kubedag")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/kubedag").CombinedOutput(); err != nil {
		t.Fatalf("build kubedag: %v\n%s", err, out)
	}
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			objs := mustTemplate(t, tc.args...)
			checked := 0
			for _, kind := range []string{"DaemonSet", "Deployment"} {
				for _, o := range ofKind(objs, kind) {
					c := container(t, o)
					var args []string
					for _, a := range list(c["args"]) {
						args = append(args, str(a))
					}
					out, err := exec.Command(bin, append(args, "--help")...).CombinedOutput()
					if err != nil {
						t.Errorf("%s %s: kubedag %v rejects its args: %v\n%s", kind, o.name(), args, err, out)
					}
					checked++
				}
			}
			if checked != 2 {
				t.Fatalf("checked %d workloads, want the agent DaemonSet and the aggregator Deployment", checked)
			}
		})
	}
}
