// Command l7proxy runs kelb's L7 data plane (internal/dataplane/l7) with a
// static configuration: one HTTP listener whose default action forwards to
// fixed targets. The benchmark script puts it in front of nginx to compare
// it with a direct connection, HAProxy in HTTP mode and nginx proxy_pass,
// without a kelb server.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/kelb-io/kelb/internal/dataplane/l7"
	"github.com/kelb-io/kelb/internal/elb"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "l7proxy:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:18093", "address:port to listen on")
	targets := flag.String("targets", "127.0.0.1:18091", "comma-separated target address:port list")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file until exit")
	flag.Parse()
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
	cfg := l7.Config{
		Listeners: []l7.Listener{{
			ListenerARN: "l7proxy", LoadBalancer: "app/l7proxy/bench", Protocol: l7.ProtocolHTTP, Address: *listen,
			HTTP2: true, IdleTimeout: 60 * time.Second, XFFMode: "append",
			DefaultActions: []elb.Action{{Type: elb.ActionForward, TargetGroupARN: "l7proxy-targets"}},
		}},
		TargetGroups: []l7.TargetGroup{{
			ARN: "l7proxy-targets", Label: "targetgroup/l7proxy/bench", Protocol: l7.ProtocolHTTP, ProtocolVersion: "HTTP1",
			Algorithm: "round_robin", ResponseTimeout: 60 * time.Second, XFFMode: "append", Routing: l7.RoutingHealthy,
			Targets: strings.Split(*targets, ","),
		}},
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	plane := l7.New(l7.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	defer plane.Close()
	if err := plane.Apply(cfg); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "l7proxy: %s -> %s\n", *listen, *targets)
	<-ctx.Done()
	return nil
}
