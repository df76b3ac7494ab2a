package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kelb-io/kelb/internal/server"
)

func newServerCACmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Print the certificate of kelb's certificate authority (PEM)",
		Long: `kelb server ca prints the certificate of the certificate authority that signs
the certificates requested from kelb server (aws acm request-certificate, and
the Ingress annotation alb.ingress.kubernetes.io/create-acm-cert). Trust it in
the clients of your HTTPS and TLS listeners, e.g.
  kelb server ca > kelb-ca.pem && curl --cacert kelb-ca.pem https://app.example.test/
kelb server writes it to <data-dir>/` + server.AuthorityFile + ` at every start; there is one
authority per store (all servers sharing an etcd store have the same), its
private key encrypted in the store like certificate keys.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(filepath.Join(dataDir, server.AuthorityFile))
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%s has no %s: start kelb server with --data-dir %s first", dataDir, server.AuthorityFile, dataDir)
			}
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "data directory of the kelb server")
	return cmd
}
