package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/fleet"
	"github.com/kelb-io/kelb/internal/server"
)

func newServerNodesCmd() *cobra.Command {
	var sc server.StoreConfig
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List the kelb server nodes of the fleet sharing an etcd store",
		Long: `kelb server nodes lists every node registered in the fleet's etcd (give the
same --store etcd flags as the servers): its name, zones, API address,
state (serving, dataplane-failing, stopping), since when, and whether the
lease that keeps it in the fleet is live. A node whose lease ran out is no
longer listed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkStoreFlags(cmd, sc); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if sc.Backend != server.StoreEtcd {
				fmt.Fprintln(out, "one node: the kelb server on this data dir (the bbolt store holds no fleet); a fleet of several servers needs --store etcd")
				return nil
			}
			e, err := store.OpenEtcd(cmd.Context(), sc.Etcd)
			if err != nil {
				return err
			}
			defer e.Close()
			members, err := fleet.List(cmd.Context(), e.Client(), e.Prefix())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tZONES\tAPI\tSTATE\tSINCE\tLEASE")
			for _, m := range members {
				lease := "none"
				switch {
				case m.LeaseLive:
					lease = fmt.Sprintf("live (%v left)", m.LeaseLeft)
				case m.Lease != 0:
					lease = "expired"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, strings.Join(m.Zones, ","), m.API, m.State,
					m.Since.UTC().Format(time.RFC3339), lease)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if len(members) == 0 {
				fmt.Fprintf(out, "no node is registered under %s\n", e.Prefix())
			}
			return nil
		},
	}
	addStoreFlags(cmd, &sc)
	return cmd
}

// checkNodeZones checks --node-zones against the zones of --zone. Only an
// absent flag means every zone: a flag given empty (--node-zones= from a
// DaemonSet whose node lacks its zone label, an unset variable) is refused
// rather than taken for every zone.
func checkNodeZones(fs *pflag.FlagSet, zones []elb.Zone) error {
	nodeZones, err := fs.GetStringSlice("node-zones")
	if err != nil {
		return err
	}
	if fs.Changed("node-zones") && len(nodeZones) == 0 {
		return fmt.Errorf("--node-zones is empty: name the zones (of --zone) this node serves, or leave the flag out for every zone")
	}
	if err := server.ValidateNodeZones(zones, nodeZones); err != nil {
		return fmt.Errorf("--node-zones: %w", err)
	}
	return nil
}
