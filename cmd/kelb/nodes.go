package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newNodesCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "nodes",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("nodes: not available in this build")
		},
	}
}
