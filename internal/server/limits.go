package server

import (
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kelb-io/kelb/internal/connlimit"
)

// HTTPLimits bound what clients can hold of the API and metrics servers.
type HTTPLimits = connlimit.HTTPLimits

// DefaultAPILimits suit the ELBv2 and ACM API on a 2-core machine: SDK
// requests are a few KiB, answered within seconds (an API call waits at
// most 2 s for its change to be in effect).
var DefaultAPILimits = HTTPLimits{
	MaxConns:          1024,
	ReadHeaderTimeout: 10 * time.Second,
	ReadTimeout:       30 * time.Second,
	WriteTimeout:      60 * time.Second,
	IdleTimeout:       60 * time.Second,
}

// metricsMaxConns caps the metrics endpoint's connections: a few scrapers
// at a time. Its deadlines are the API's.
const metricsMaxConns = 64

// limitedServer returns an http.Server for h with lim's deadlines and the
// listener, capped at lim.MaxConns, that it must serve on. The cap's open
// connections and evictions are exported as metrics labelled name.
func limitedServer(name string, h http.Handler, ln net.Listener, lim HTTPLimits, reg prometheus.Registerer, logger *slog.Logger) (*http.Server, net.Listener) {
	srv, cl := connlimit.HTTPServer(h, ln, lim)
	srv.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelDebug)
	labels := prometheus.Labels{"server": name}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kelb_server_open_connections", Help: "Open client connections of kelb's own servers.", ConstLabels: labels,
		}, func() float64 { return float64(cl.Open()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "kelb_server_evicted_connections_total", Help: "Idle client connections closed to make room for new ones at the connection cap.", ConstLabels: labels,
		}, func() float64 { return float64(cl.Evicted()) }),
	)
	return srv, cl
}
