package cluster

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// RunTests is a test package's TestMain body: it starts a control plane
// with opts, points *c at it, runs the tests and stops it. A control plane
// that does not start fails the package (the error says to run `make
// tools`); it never skips.
func RunTests(m *testing.M, opts Options, c **Cluster) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, err := Start(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start control plane:", err)
		return 1
	}
	defer cl.Stop()
	*c = cl
	return m.Run()
}
