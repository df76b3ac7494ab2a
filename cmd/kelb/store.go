package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/server"
)

// addStoreFlags adds --store and the etcd flags to kelb server.
func addStoreFlags(cmd *cobra.Command, sc *server.StoreConfig) {
	cmd.Flags().StringVar(&sc.Backend, "store", server.StoreBolt,
		"configuration store: bolt (a bbolt file in --data-dir, for one kelb server) or etcd (shared by every kelb server on --etcd-endpoints)")
	addEtcdFlags(cmd, &sc.Etcd)
}

// checkStoreFlags rejects etcd flags without --store etcd, and --store etcd
// without endpoints.
func checkStoreFlags(cmd *cobra.Command, sc server.StoreConfig) error {
	switch sc.Backend {
	case server.StoreEtcd:
		if len(sc.Etcd.Endpoints) == 0 {
			return errors.New("--store etcd needs --etcd-endpoints")
		}
	case server.StoreBolt:
		for _, name := range etcdFlagNames {
			if cmd.Flags().Changed(name) {
				return fmt.Errorf("--%s needs --store etcd", name)
			}
		}
	default:
		return fmt.Errorf("--store %q: want %s or %s", sc.Backend, server.StoreBolt, server.StoreEtcd)
	}
	return nil
}

var etcdFlagNames = []string{"etcd-endpoints", "etcd-prefix", "etcd-cacert", "etcd-cert", "etcd-key", "etcd-request-timeout"}

// addEtcdFlags adds the flags that reach etcd, shared by kelb server and
// kelb store migrate.
func addEtcdFlags(cmd *cobra.Command, c *store.EtcdConfig) {
	f := cmd.Flags()
	f.StringSliceVar(&c.Endpoints, "etcd-endpoints", nil, "etcd client URLs, comma-separated (http://127.0.0.1:2379, or https:// with --etcd-cacert)")
	f.StringVar(&c.Prefix, "etcd-prefix", store.DefaultEtcdPrefix, "etcd key prefix of the configuration; every kelb server of one fleet uses the same")
	f.StringVar(&c.CACert, "etcd-cacert", "", "CA certificate (PEM file) that verifies etcd's serving certificate; empty: the system roots")
	f.StringVar(&c.Cert, "etcd-cert", "", "client certificate (PEM file) for etcd, with --etcd-key")
	f.StringVar(&c.Key, "etcd-key", "", "client key (PEM file) of --etcd-cert")
	f.DurationVar(&c.RequestTimeout, "etcd-request-timeout", store.DefaultEtcdRequestTimeout,
		"bound on each etcd request: past it the operation fails with ServiceUnavailable and the load balancers keep their last configuration")
}

func newStoreCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Manage kelb server's configuration store",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newStoreMigrateCmd())
	return cmd
}

func newStoreMigrateCmd() *cobra.Command {
	var (
		from string
		cfg  store.EtcdConfig
	)
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Copy a bbolt store (kelb.db) into etcd",
		Long: `kelb store migrate copies every load balancer, listener, rule, target group
and certificate of a bbolt store (kelb.db in a kelb server's data dir) into
etcd, under --etcd-prefix, for kelb servers started with --store etcd.

Stop the kelb server that uses the bbolt file first (the file is locked
while it runs). Certificates' private keys are copied sealed: the kelb
servers on etcd need the certificate key file of the old data dir
(kelb.db.key) in their own data dirs. The etcd prefix must be empty: migrate refuses to overwrite
a configuration. The copy is written in transactions of 100 keys; if it
fails part-way, delete the prefix (etcdctl del --prefix /kelb/) and run it
again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(cfg.Endpoints) == 0 {
				return errors.New("--etcd-endpoints is required")
			}
			return migrateStore(cmd.Context(), cmd, from, cfg)
		},
	}
	cmd.Flags().StringVar(&from, "from", filepath.Join(defaultDataDir(), "kelb.db"), "bbolt store to copy")
	addEtcdFlags(cmd, &cfg)
	return cmd
}

func migrateStore(ctx context.Context, cmd *cobra.Command, from string, cfg store.EtcdConfig) error {
	src, err := store.OpenBolt(from)
	if err != nil {
		return fmt.Errorf("%w (is a kelb server still using it?)", err)
	}
	defer src.Close()
	dst, err := store.OpenEtcd(ctx, cfg)
	if err != nil {
		return err
	}
	defer dst.Close()
	n, err := store.Copy(ctx, dst, src)
	if err != nil {
		return fmt.Errorf("migrate %s to etcd: %w", from, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "copied %d keys from %s to etcd %v under %s\n", n, from, cfg.Endpoints, dst.Prefix())
	return nil
}
