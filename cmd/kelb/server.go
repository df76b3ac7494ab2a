package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newServerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "server",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("server: not available in this build")
		},
	}
}
