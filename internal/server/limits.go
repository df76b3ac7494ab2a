package server

import (
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kelb-io/kelb/internal/connlimit"
)

// HTTPLimits bound what clients can hold of an HTTP server kelb runs (the
// API and metrics): how long a request may take to arrive, how long its
// answer may take, how long a keep-alive connection may idle, and how many
// connections are open at once.
type HTTPLimits struct {
	// MaxConns caps open connections. At the cap, the connection idle
	// longest (between requests, or still sending its request head) is
	// closed to make room for a new one; with none idle, new connections
	// wait to be accepted.
	MaxConns int
	// ReadHeaderTimeout bounds reading a request head, from the moment
	// the server starts reading it: a client sending one byte at a time
	// does not push it forward.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, head and body.
	ReadTimeout time.Duration
	// WriteTimeout bounds handling a request and writing its answer,
	// from the end of its head.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no new request for
	// this long.
	IdleTimeout time.Duration
}

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

// maxHeaderBytes bounds a request head on kelb's own HTTP servers: ALB's
// limit for all of a request's headers.
const maxHeaderBytes = 64 << 10

// withDefaults fills zero fields from def.
func (l HTTPLimits) withDefaults(def HTTPLimits) HTTPLimits {
	if l.MaxConns <= 0 {
		l.MaxConns = def.MaxConns
	}
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = def.ReadHeaderTimeout
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = def.ReadTimeout
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = def.WriteTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = def.IdleTimeout
	}
	// net/http gives a head ReadHeaderTimeout even when ReadTimeout is
	// shorter.
	l.ReadHeaderTimeout = min(l.ReadHeaderTimeout, l.ReadTimeout)
	return l
}

// limitedServer returns an http.Server for h with lim's deadlines and the
// listener, capped at lim.MaxConns, that it must serve on. The cap's open
// connections and evictions are exported as metrics labelled name.
func limitedServer(name string, h http.Handler, ln net.Listener, lim HTTPLimits, reg prometheus.Registerer, logger *slog.Logger) (*http.Server, net.Listener) {
	cl := connlimit.NewListener(ln, lim.MaxConns)
	labels := prometheus.Labels{"server": name}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kelb_server_open_connections", Help: "Open client connections of kelb's own servers.", ConstLabels: labels,
		}, func() float64 { return float64(cl.Open()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "kelb_server_evicted_connections_total", Help: "Idle client connections closed to make room for new ones at the connection cap.", ConstLabels: labels,
		}, func() float64 { return float64(cl.Evicted()) }),
	)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         cl.ConnState,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	return srv, cl
}
