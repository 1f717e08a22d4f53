// Command kubedag puts Kubernetes identity into Palo Alto Networks firewalls:
// one binary with the agent, aggregator, PAN-OS emulator, demo and bench.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		os.Exit(1)
	}
}
