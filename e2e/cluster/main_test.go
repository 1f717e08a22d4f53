package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

// testCluster is the control plane the tests in this package share.
var testCluster *Cluster

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	if os.Getenv(orphanHelperEnv) != "" {
		return orphanHelper()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	began := time.Now()
	c, err := Start(ctx, Options{Kwok: true})
	if err != nil {
		// Fail, never skip: CI must notice missing binaries.
		fmt.Fprintf(os.Stderr, "FAIL: start control plane: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "control plane with kwok started in %s\n", time.Since(began).Round(time.Millisecond))
	testCluster = c
	code := m.Run()
	if err := c.Healthy(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: a component died during the tests: %v\n", err)
		code = 1
	}

	// Stop must leave no process and no directory behind.
	pids := make(map[string]int, len(c.procs))
	for _, p := range c.procs {
		pids[p.name] = p.Pid()
	}
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: stop control plane: %v\n", err)
		code = 1
	}
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: second Stop: %v\n", err)
		code = 1
	}
	for name, pid := range pids {
		if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
			fmt.Fprintf(os.Stderr, "FAIL: %s (process group %d) still alive after Stop: %v\n", name, pid, err)
			code = 1
		}
	}
	if _, err := os.Stat(c.Dir()); !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "FAIL: cluster dir %s still exists after Stop (%v)\n", c.Dir(), err)
		code = 1
	}
	return code
}

// orphanHelperEnv makes the test binary act as a process that starts a
// control plane and exits without stopping it (see TestComponentsDieWithOwner).
const orphanHelperEnv = "KUBEDAG_CLUSTER_ORPHAN_HELPER"

// orphanHelper starts a control plane, prints its dir and process ids, and
// exits without calling Stop.
func orphanHelper() int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Print(c.Dir())
	for _, p := range c.procs {
		fmt.Printf(" %d", p.Pid())
	}
	fmt.Println()
	return 0 // no Stop: Pdeathsig must clean up
}
