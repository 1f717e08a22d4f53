// Command kubedag puts Kubernetes identity into Palo Alto Networks firewalls:
// one binary with the agent, aggregator, PAN-OS emulator, demo and bench.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		// Subcommands return errors and cobra is silenced, so each error
		// is printed exactly once, here.
		fmt.Fprintln(os.Stderr, "kubedag: error:", err)
		os.Exit(1)
	}
}
