package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newUpCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "up",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("up: not available in this build")
		},
	}
}

func newDownCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "down",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("down: not available in this build")
		},
	}
}
func newStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "status",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("status: not available in this build")
		},
	}
}
func newShellCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "shell",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("shell: not available in this build")
		},
	}
}
