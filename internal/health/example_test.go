package health_test

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kelb-io/kelb/internal/confview"
	"github.com/kelb-io/kelb/internal/dns"
	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/fleet"
	"github.com/kelb-io/kelb/internal/health"
)

// The checker follows the configuration, and DNS follows both the
// configuration and the checker's verdicts, those of a fleet of one node
// serving every zone.
func ExampleChecker() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	states := make(chan elb.State) // from the store's watch

	c := health.NewChecker(health.Options{Logger: slog.Default(), Registerer: prometheus.NewRegistry()})
	d := dns.NewServer(dns.Options{Addr: "127.0.0.1:0", Domain: "kelb.local"})
	solo, err := fleet.New(fleet.Config{Node: fleet.Node{Name: "solo"}})
	if err != nil {
		panic(err)
	}
	checking, serving := make(chan struct{}), make(chan error, 1)
	go func() { defer close(checking); c.Run(ctx) }()
	go func() { serving <- d.Run(ctx) }()

	v := confview.New(elb.State{})
	for {
		select {
		case <-ctx.Done():
			<-checking
			if err := <-serving; err != nil {
				slog.Error("dns", "err", err)
			}
			return
		case st := <-states:
			v = confview.New(st)
			c.Update(v)
		case <-c.Changed():
		}
		d.Update(v, solo.ZoneHealth(c), nil)
	}
}
