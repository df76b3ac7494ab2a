// Package endpoints serves kelb controller's own HTTP endpoints, Prometheus
// metrics and the health probes, with the deadlines and connection cap of
// every HTTP server kelb runs for itself (connlimit.HTTPServer), in place of
// controller-runtime's servers, which bound only the request head. A
// Server is a manager.Runnable: it serves until the manager stops, then
// shuts down, waiting up to 10 s for requests in flight; an address that
// cannot be bound fails the manager at start.
package endpoints

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/kelb-io/kelb/internal/connlimit"
)

// DefaultLimits suit a few scrapers and kubelet probes.
var DefaultLimits = connlimit.HTTPLimits{
	MaxConns:          64,
	ReadHeaderTimeout: 10 * time.Second,
	ReadTimeout:       10 * time.Second,
	WriteTimeout:      30 * time.Second,
	IdleTimeout:       90 * time.Second,
}

// Server serves Handler on Addr.
type Server struct {
	Addr    string
	Handler http.Handler
	// Limits bound the clients; zero fields take DefaultLimits'.
	Limits connlimit.HTTPLimits
}

// Metrics serves controller-runtime's registry, where the controller's
// metrics are, at /metrics.
func Metrics() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(ctrlmetrics.Registry, promhttp.HandlerOpts{}))
	return mux
}

// Health answers /healthz and /readyz (and their /<check> subpaths) once
// the process serves.
func Health() http.Handler {
	mux := http.NewServeMux()
	for _, name := range []string{"healthz", "readyz"} {
		h := &healthz.Handler{Checks: map[string]healthz.Checker{"ping": healthz.Ping}}
		mux.Handle("/"+name, http.StripPrefix("/"+name, h))
		mux.Handle("/"+name+"/", http.StripPrefix("/"+name, h))
	}
	return mux
}

// NeedLeaderElection is false: every replica serves its endpoints.
func (*Server) NeedLeaderElection() bool { return false }

// Start serves until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.Addr, err)
	}
	srv, limited := connlimit.HTTPServer(s.Handler, ln, s.Limits.WithDefaults(DefaultLimits))
	srv.BaseContext = func(net.Listener) context.Context { return ctx }
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(limited) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", s.Addr, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", s.Addr, err)
	}
	return nil
}
