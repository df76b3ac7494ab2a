package connlimit

import (
	"net"
	"net/http"
	"time"
)

// HTTPLimits bound what clients can hold of an HTTP server kelb runs for
// itself (the API, metrics, the webhook): how long a request may take to
// arrive, how long its answer may take, how long a keep-alive connection
// may idle, and how many connections are open at once.
type HTTPLimits struct {
	// MaxConns caps open connections. At the cap, the connection idle
	// longest (between requests, or still sending its request head) is
	// closed to make room for a new one; with none idle, new connections
	// wait to be accepted.
	MaxConns int
	// ReadHeaderTimeout bounds reading a request head, from the moment
	// the server starts reading it: a client sending one byte at a time
	// does not push it forward. It is never longer than ReadTimeout.
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

// MaxHeaderBytes bounds a request head on kelb's own HTTP servers: ALB's
// limit for all of a request's headers.
const MaxHeaderBytes = 64 << 10

// WithDefaults fills l's zero fields from def.
func (l HTTPLimits) WithDefaults(def HTTPLimits) HTTPLimits {
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
	return l
}

// HTTPServer returns an http.Server for h with lim's deadlines and a head
// of at most MaxHeaderBytes, and the listener, capped at lim.MaxConns, that
// it must serve on (through TLS or not).
func HTTPServer(h http.Handler, ln net.Listener, lim HTTPLimits) (*http.Server, *Listener) {
	cl := NewListener(ln, lim.MaxConns)
	srv := &http.Server{
		Handler: h,
		// net/http gives a head ReadHeaderTimeout even when ReadTimeout
		// is shorter.
		ReadHeaderTimeout: min(lim.ReadHeaderTimeout, lim.ReadTimeout),
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes - 4096, // net/http reads 4 KiB more
		ConnState:         cl.ConnState,
	}
	return srv, cl
}
