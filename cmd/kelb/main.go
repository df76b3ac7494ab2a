// Command kelb is Elastic Load Balancing for any Kubernetes cluster: the load
// balancer server, the Kubernetes controller and a local environment, as
// subcommands of one binary.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "kelb:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "kelb",
		Short:         "Elastic Load Balancing for any Kubernetes cluster",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServerCmd(),
		newUpCmd(),
		newDownCmd(),
		newStatusCmd(),
		newShellCmd(),
		newNodesCmd(),
		newControllerCmd(),
		newStoreCmd(),
	)
	return root
}
