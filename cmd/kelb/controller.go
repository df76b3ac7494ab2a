package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newControllerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "controller",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("controller: not available in this build")
		},
	}
}
