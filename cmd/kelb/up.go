package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/kelb-io/kelb/config"
	"github.com/kelb-io/kelb/internal/devcluster"
	"github.com/kelb-io/kelb/internal/devcluster/k8sbin"
)

func newUpCmd() *cobra.Command {
	var (
		opts      devcluster.Options
		inNetns   bool
		buildOnly bool
		gwChannel string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Bring up a local Kubernetes environment with kelb server and kelb controller",
		Long: `kelb up starts a local environment in a private network namespace (kelb-<name>):
a real kube-apiserver, kube-controller-manager and kube-scheduler (built once
from the pinned k8s.io/kubernetes module and cached), etcd (built from the
pinned go.etcd.io/etcd/server/v3 module and cached), simulated nodes
whose pods really serve traffic, kelb server and kelb controller.

Addresses: control plane 198.18.0.1 (kube-apiserver :6443, ELBv2 API :9400,
DNS :53); node N 198.18.0.(10+N) with pods in 198.18.N.0/24; service
cluster IPs 198.18.240.0/20; load balancers of zone Z in 198.19.Z.0/24.

With --lb-nodes N, kelb server runs as a fleet of N nodes instead: node i in
network namespace kelb-<name>-lb<i> serving zone i (round-robin), API, DNS
and metrics on 198.19.252.(4i-2), the configuration in a three-member etcd
cluster (198.18.0.1:2479, :2579, :2679), and a router namespace
(kelb-<name>-rtr) running BIRD 2 that peers by BGP with every node and
spreads each load balancer address over the nodes of its zone (ECMP). The
environment's namespace routes 198.19.0.0/16 to the router; the ELBv2 API
it is given is node 1's, and its DNS the nodes'. It needs BIRD 2
(apt-get install bird2) and nft (apt-get install nftables).

It returns once everything is healthy and prints how to reach it; the
processes keep running until kelb down. Running it again prints the same.
It needs root (to create the network namespace).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if inNetns {
				return devcluster.RunInside(cmd.Context(), opts.Name, cmd.OutOrStdout())
			}
			if buildOnly {
				dir, err := k8sbin.Ensure(cmd.Context(), k8sbin.Options{Version: opts.K8sVersion, Progress: cmd.OutOrStdout()})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Kubernetes %s binaries are in %s\n", opts.K8sVersion, dir)
				etcd, err := k8sbin.EnsureEtcd(cmd.Context(), k8sbin.Options{Progress: cmd.OutOrStdout()})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "etcd %s is %s\n", k8sbin.DefaultEtcdVersion, etcd)
				return nil
			}
			opts.Components = devcluster.Components{
				Server:     available(cmd.Root(), "server"),
				Nodes:      available(cmd.Root(), "nodes"),
				Controller: available(cmd.Root(), "controller"),
			}
			opts.Fleet = devcluster.FleetFeatures{
				NodeName:   hasFlags(cmd.Root(), "server", "node-name", "node-zones"),
				BGP:        hasFlags(cmd.Root(), "server", "announce", "bgp-asn", "bgp-router-id", "bgp-peer"),
				SNATSource: hasFlags(cmd.Root(), "server", "snat-source"),
			}
			if opts.CRDDir == "" {
				dir, err := writeCRDs(gwChannel)
				if err != nil {
					return err
				}
				opts.CRDDir = dir
			}
			if opts.LBC != "" {
				if opts.NoController {
					return errors.New("--aws-load-balancer-controller runs in place of kelb controller: leave out --no-controller")
				}
				abs, err := filepath.Abs(opts.LBC)
				if err != nil {
					return fmt.Errorf("--aws-load-balancer-controller: %w", err)
				}
				if _, err := os.Stat(abs); err != nil {
					return fmt.Errorf("--aws-load-balancer-controller: %w", err)
				}
				opts.LBC = abs
			}
			return devcluster.Up(cmd.Context(), opts, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Name, "name", "default", "name of the environment (network namespace kelb-<name>)")
	f.IntVar(&opts.Nodes, "nodes", 3, "number of simulated nodes, spread over the zones")
	f.StringSliceVar(&opts.Zones, "zones", devcluster.DefaultZones, "availability zones of the nodes")
	f.StringVar(&opts.K8sBinDir, "k8s-bin-dir", "", "directory with kube-apiserver, kube-controller-manager, kube-scheduler (and kubectl) to use instead of building them")
	f.StringVar(&opts.K8sVersion, "k8s-version", k8sbin.DefaultVersion, "k8s.io/kubernetes version to build")
	f.BoolVar(&opts.NoController, "no-controller", false, "do not start kelb controller (run your own, e.g. from an IDE)")
	f.StringVar(&opts.LBC, "aws-load-balancer-controller", "", "path of an AWS Load Balancer Controller binary to run in place of kelb controller, pointed at kelb server for ELBv2, EC2 and ACM (give its CRDs with --crds, e.g. config/crd/bases of its source)")
	f.IntVar(&opts.LBNodes, "lb-nodes", 0, "run a fleet of N kelb server nodes (each in network namespace kelb-<name>-lb<i>, one zone each, their configuration in a three-member etcd cluster) behind a router namespace running BIRD 2 (Debian: bird2) that spreads each load balancer address over its zone's nodes by BGP and ECMP; 0 runs one kelb server")
	f.StringArrayVar(&opts.ServerFlags, "server-flag", nil, "an argument added to kelb server's, repeatable: --server-flag=--auth-ca-file=/path/idp-ca.pem trusts a test identity provider's CA for ALB authentication; none by default")
	f.StringVar(&opts.CRDDir, "crds", "", "directory of CustomResourceDefinitions to apply (default: the ones built into kelb)")
	f.StringVar(&gwChannel, "gateway-api-channel", config.GatewayAPIStandard, "release channel of the Gateway API CRDs (sigs.k8s.io/gateway-api, the version kelb is built with) installed beside kelb's own: standard, experimental (a superset: ListenerSets' and routes' experimental fields, XBackendTrafficPolicy, ...) or none")
	f.BoolVar(&buildOnly, "build-only", false, "build (or find in the cache) the Kubernetes binaries and etcd, then exit")
	f.BoolVar(&inNetns, devcluster.InNetnsFlag, false, "run inside the environment's network namespace (used by kelb up itself)")
	_ = f.MarkHidden(devcluster.InNetnsFlag)
	return cmd
}

func newDownCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop a local environment and remove every trace of it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return devcluster.Down(cmd.Context(), name, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&name, "name", "default", "name of the environment")
	return cmd
}

func newStatusCmd() *cobra.Command {
	var (
		name    string
		inNetns bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Report the health of every component of a local environment",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return devcluster.Status(cmd.Context(), name, inNetns, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&name, "name", "default", "name of the environment")
	cmd.Flags().BoolVar(&inNetns, devcluster.InNetnsFlag, false, "run inside the environment's network namespace")
	_ = cmd.Flags().MarkHidden(devcluster.InNetnsFlag)
	return cmd
}

func newShellCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "shell [-- command [args...]]",
		Short: "Open a shell, or run a command, inside a local environment",
		Long: `kelb shell runs $SHELL (or the given command) inside the environment's network
namespace with KUBECONFIG, AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2 (and
_ACM, _EC2, _S3: kelb server answers all four), the
credentials file (AWS_SHARED_CREDENTIALS_FILE, mode 0600) and the region
set, the environment's kubectl first on PATH,
and name resolution pointed at kelb server's DNS.

  kelb shell -- kubectl get nodes`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := devcluster.ShellCommand(cmd.Context(), name, args)
			if err != nil {
				return err
			}
			c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
			err = c.Run()
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				// The command's own exit status is the answer, as with ssh.
				os.Exit(exit.ExitCode())
			}
			return err
		},
	}
	cmd.Flags().StringVar(&name, "name", "default", "name of the environment")
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// available reports whether this build has a working subcommand name:
// commands not yet implemented are hidden placeholders.
func available(root *cobra.Command, name string) bool {
	c, _, err := root.Find([]string{name})
	return err == nil && c != root && !c.Hidden
}

// hasFlags reports whether subcommand name has every one of flags.
func hasFlags(root *cobra.Command, name string, flags ...string) bool {
	c, _, err := root.Find([]string{name})
	if err != nil || c == root {
		return false
	}
	for _, f := range flags {
		if c.Flags().Lookup(f) == nil {
			return false
		}
	}
	return true
}

// writeCRDs writes the CustomResourceDefinitions built into kelb, and the
// Gateway API's of a release channel unless it is "none", into a directory
// of the cache named for their content, and returns it.
func writeCRDs(gatewayAPIChannel string) (string, error) {
	files, err := fs.Glob(config.CRDs, "crd/bases/*.yaml")
	if err != nil {
		return "", err
	}
	h := sha256.New()
	data := make(map[string][]byte, len(files))
	for _, f := range files {
		b, err := config.CRDs.ReadFile(f)
		if err != nil {
			return "", err
		}
		data[path.Base(f)] = b
	}
	if gatewayAPIChannel != "none" {
		gw, err := config.GatewayAPICRDs(gatewayAPIChannel)
		if err != nil {
			return "", fmt.Errorf("--gateway-api-channel: %w", err)
		}
		files, err := fs.Glob(gw, "*.yaml")
		if err != nil {
			return "", err
		}
		for _, f := range files {
			b, err := fs.ReadFile(gw, f)
			if err != nil {
				return "", err
			}
			data[f] = b
		}
	}
	names := make([]string, 0, len(data))
	for name := range data {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		h.Write([]byte(name))
		h.Write(data[name])
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "kelb", "crds", hex.EncodeToString(h.Sum(nil))[:16])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("write CRDs: %w", err)
	}
	for name, b := range data {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return "", fmt.Errorf("write CRDs: %w", err)
		}
	}
	return dir, nil
}
