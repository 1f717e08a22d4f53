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

	// Stop must leave no process and no directory behind.
	pids := make(map[string]int, len(c.procs))
	for _, p := range c.procs {
		pids[p.name] = p.cmd.Process.Pid
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
