// Command l4proxy runs kelb's L4 data plane (internal/dataplane) with a
// static configuration: one TCP listener (a TLS listener with -tls-cert and
// -tls-key) forwarding to fixed targets. The benchmark scripts put it in
// front of nginx to compare it with a direct connection and with HAProxy,
// without a kelb server.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // served on -pprof only
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/kelb-io/kelb/internal/dataplane"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "l4proxy:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:18083", "address:port to listen on")
	targets := flag.String("targets", "127.0.0.1:18081", "comma-separated target address:port list")
	idle := flag.Duration("idle-timeout", 350*time.Second, "TCP idle timeout")
	proxyV2 := flag.Bool("proxy-protocol-v2", false, "send a PROXY protocol v2 header to targets")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file until exit")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address")
	tlsCert := flag.String("tls-cert", "", "PEM certificate (chain) file: the listener terminates TLS with it")
	tlsKey := flag.String("tls-key", "", "PEM private key file of -tls-cert")
	sslPolicy := flag.String("ssl-policy", "ELBSecurityPolicy-TLS13-1-2-2021-06", "security policy of the TLS listener")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("create CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("start CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if *pprofAddr != "" {
		srv := &http.Server{Addr: *pprofAddr, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.ListenAndServe() }()
		defer srv.Close()
	}

	var ts []string
	var states []dataplane.TargetState
	for _, t := range strings.Split(*targets, ",") {
		ts = append(ts, t)
		states = append(states, dataplane.TargetState{Address: t, Health: "healthy"})
	}
	cfg := dataplane.Config{
		Listeners: []dataplane.Listener{{
			ListenerARN: "l4proxy", LoadBalancer: "net/l4proxy/bench", TargetGroup: "targetgroup/l4proxy/bench",
			Protocol: dataplane.ProtocolTCP, Address: *listen, TargetGroupARN: "l4proxy-targets",
			Routing: dataplane.RoutingCrossZone, Targets: ts, IdleTimeout: *idle, ProxyProtocolV2: *proxyV2,
		}},
		TargetGroups: []dataplane.TargetGroup{{ARN: "l4proxy-targets", Targets: states}},
	}

	opts := dataplane.Options{Logger: log}
	if *tlsCert != "" {
		pair, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			return fmt.Errorf("load TLS key pair: %w", err)
		}
		l := &cfg.Listeners[0]
		l.Protocol = dataplane.ProtocolTLS
		l.TLS = &dataplane.TLSSettings{Certificates: []string{"l4proxy-cert"}, SSLPolicy: *sslPolicy}
		opts.Certificates = certificate{&pair}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	plane := dataplane.New(opts)
	if err := plane.Apply(cfg); err != nil {
		plane.Close()
		return err
	}
	fmt.Fprintf(os.Stderr, "l4proxy: %s -> %s\n", *listen, *targets)
	return plane.Run(ctx)
}

// certificate is the one certificate of the TLS listener.
type certificate struct{ pair *tls.Certificate }

func (c certificate) TLSCertificate(string) (*tls.Certificate, error) { return c.pair, nil }
