package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kelb-io/kelb/internal/devcluster/kubelet"
	"github.com/kelb-io/kelb/internal/devcluster/nodeproxy"
)

func newNodesCmd() *cobra.Command {
	var (
		kubeconfig string
		count      int
		zones      []string
		heartbeat  time.Duration
		udpIdle    time.Duration
		logLevel   string
	)
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "Run the simulated nodes of the local environment (started by kelb up)",
		Long: `kelb nodes is part of the local environment: kelb up runs it inside its
network namespace. One process simulates --count nodes: node N registers as
ip-198-18-0-(10+N).<region>.compute.internal with InternalIP 198.18.0.(10+N),
pod range 198.18.N.0/24 and zone zones[(N-1) % len(zones)], and keeps its
Node Ready and its Lease fresh.

Pods bound to these nodes really run: each gets an address of its node's
range and listens on its container ports (HTTP answers like echoserver,
other TCP streams and UDP datagrams are echoed), honours readiness, liveness
and startup probes, readiness gates, preStop hooks and the grace period.
Annotate a pod with kelb.io/fail=readiness (HTTP 503) or kelb.io/fail=all
(connections refused) to make it fail; ?delay=5s slows an HTTP answer.

Each node also runs a node proxy with kube-proxy's semantics: NodePorts of
NodePort and LoadBalancer Services (externalTrafficPolicy Cluster or Local),
healthCheckNodePort /healthz, and cluster IPs.

All addresses must be local (kelb up routes 198.18.0.0/15 to loopback in
its namespace). On exit the Node objects are left in place.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			plan, err := kubelet.Plan(count, zones)
			if err != nil {
				return fmt.Errorf("--count/--zones: %w", err)
			}
			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			rules.ExplicitPath = kubeconfig
			restCfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
			if err != nil {
				return fmt.Errorf("load kubeconfig: %w", err)
			}
			restCfg.UserAgent = "kelb-nodes"
			restCfg.QPS, restCfg.Burst = 50, 100
			client, err := kubernetes.NewForConfig(restCfg)
			if err != nil {
				return fmt.Errorf("kubernetes client: %w", err)
			}
			proxyNodes := make([]nodeproxy.Node, 0, len(plan))
			for _, n := range plan {
				proxyNodes = append(proxyNodes, nodeproxy.Node{Name: n.Name, IP: n.IP})
				log.Info("simulating node", "node", n.Name, "ip", n.IP, "podCIDR", n.PodCIDR, "zone", n.Zone)
			}
			return runBoth(cmd.Context(),
				func(ctx context.Context) error {
					return kubelet.Run(ctx, kubelet.Config{Client: client, Nodes: plan, HeartbeatInterval: heartbeat, Log: log.With("component", "kubelet")})
				},
				func(ctx context.Context) error {
					return nodeproxy.Run(ctx, nodeproxy.Config{Client: client, Nodes: proxyNodes, Options: nodeproxy.Options{UDPIdleTimeout: udpIdle, Log: log.With("component", "nodeproxy")}})
				})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file; empty: $KUBECONFIG, then ~/.kube/config")
	fl.IntVar(&count, "count", 3, "number of nodes to simulate (1-239)")
	fl.StringSliceVar(&zones, "zones", []string{"us-west-2a", "us-west-2b", "us-west-2c"}, "availability zones, spread over the nodes in turn")
	fl.DurationVar(&heartbeat, "heartbeat", 10*time.Second, "how often node leases and conditions are renewed")
	fl.DurationVar(&udpIdle, "udp-idle-timeout", 30*time.Second, "node proxy: end a UDP flow after this long without traffic")
	fl.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// runBoth runs the functions until ctx ends or one of them fails; a failure
// stops the others and is returned.
func runBoth(ctx context.Context, fns ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(ctx)
			cancel()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
