// Command kubedag-agent is the node agent alone (kubedag-agent agent ...,
// the same command and flags as kubedag agent): the DaemonSet runs it on
// every node, and it links only what the agent runs, so its binary, whose
// pages count in the agent's resident memory, is a fraction of kubedag's.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kubedag/kubedag/cmd/internal/agentcmd"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := &cobra.Command{Use: "kubedag-agent", Short: "The kubedag node agent", Version: version,
		SilenceErrors: true, SilenceUsage: true}
	root.AddCommand(agentcmd.New(version))
	err := root.ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubedag-agent: error:", err)
		os.Exit(1)
	}
}
