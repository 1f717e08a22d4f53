// Command allpods is the baseline of e2e/bench/agentbench: it caches every pod,
// EndpointSlice and namespace of the cluster whole (no field selector, no
// transform), as a node agent without kubedag's node scoping would, prints
// "synced pods=<n> endpointslices=<n> namespaces=<n>" once its informers
// synced, and runs until SIGTERM or interrupt. With --metrics-listen it
// serves its Go heap in use, as the agent's /metrics does.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "allpods:", err)
		os.Exit(1)
	}
}
