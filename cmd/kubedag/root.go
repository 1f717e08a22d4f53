package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/kubedag/kubedag/cmd/internal/agentcmd"
)

// newRootCmd builds the kubedag command tree. Each subcommand lives in its own
// file with an options struct, Validate and Run.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "kubedag",
		Short: "Kubernetes identity as PAN-OS Dynamic Address Group tags",
		Long: `kubedag turns Kubernetes identity (namespaces, labels, owners, services) into
PAN-OS User-ID IP-tag registrations, so Dynamic Address Groups on firewalls and
Panorama follow pods as their IPs change.

Examples:
  kubedag panos-sim --listen 127.0.0.1:8443   # run the PAN-OS XML API emulator
  kubedag aws-sim                             # run the AWS API emulator (EKS sandwich discovery)
  kubedag version`,
		SilenceErrors: true,
		SilenceUsage:  true,
		// As the kubectl plugin kubectl-kubedag, help reads "kubectl kubedag".
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: pluginName(os.Args[0])},
	}
	root.AddCommand(
		newVersionCmd(),
	)
	root.AddCommand(newPanosSimCmd())
	root.AddCommand(newAWSSimCmd())
	root.AddCommand(newAggregatorCmd())
	root.AddCommand(agentcmd.New(version))
	root.AddCommand(newBenchCmd())
	root.AddCommand(newDemoCmd())
	root.AddCommand(newSandwichCmd())
	root.AddCommand(newExplainCmd())
	return root
}
