package kubelet

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
)

// endpointKind says how a TCP endpoint answers the connections it accepts.
type endpointKind int

const (
	// kindEchoserver sniffs each connection: an HTTP request goes to HTTP,
	// any other stream is echoed back (the echoserver image's ports).
	kindEchoserver endpointKind = iota
	// kindHTTP serves HTTP/1.1 with HTTP.
	kindHTTP
	// kindH2C serves HTTP/1.1 and HTTP/2 without TLS (prior knowledge)
	// with HTTP.
	kindH2C
	// kindHTTPS serves HTTP/1.1 and HTTP/2 over TLS with HTTP.
	kindHTTPS
	// kindGRPC serves gRPC (over TLS when TLS is set) with the services
	// GRPC registers.
	kindGRPC
	// kindStream hands each connection (a TLS server connection when TLS
	// is set) to Stream.
	kindStream
)

// endpoint is one port a container listens on and how it answers there: a
// pure description that an image's behaviour returns and podServer runs.
type endpoint struct {
	Port     int32
	Protocol corev1.Protocol // TCP (default) or UDP
	Kind     endpointKind    // TCP only
	HTTP     http.Handler
	TLS      *tls.Config
	GRPC     func(*grpc.Server)
	Stream   func(net.Conn)
	// Datagram answers each UDP datagram; nil answers nothing.
	Datagram func(payload []byte) []byte
}

// connServer serves the connections an endpoint accepted.
type connServer interface {
	// handle takes over an accepted connection.
	handle(c net.Conn)
	// shutdown stops taking connections, lets open ones finish until ctx
	// ends, then closes them, and waits for its goroutines.
	shutdown(ctx context.Context)
}

// newConnServer starts the server of a TCP endpoint. failing reports
// whether the pod is told to fail readiness: HTTP then answers 503 and gRPC
// Unavailable.
func newConnServer(ep endpoint, failing func() bool, log *slog.Logger, addr net.Addr) connServer {
	switch ep.Kind {
	case kindGRPC:
		return newGRPCConns(ep, failing, addr)
	case kindStream:
		return newStreamConns(ep.Stream, ep.TLS)
	default:
		return newHTTPConns(ep, failing, log, addr)
	}
}

// httpConns is an http.Server fed with the endpoint's connections.
type httpConns struct {
	srv  *http.Server
	ln   *chanListener
	done chan error
}

func newHTTPConns(ep endpoint, failing func() bool, log *slog.Logger, addr net.Addr) *httpConns {
	h := &httpConns{ln: newChanListener(addr), done: make(chan error, 1)}
	next := ep.HTTP
	h.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if failing() {
				http.Error(w, "failing on purpose: "+FailAnnotation+"="+FailReadiness, http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	switch ep.Kind {
	case kindH2C:
		p := new(http.Protocols)
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		h.srv.Protocols = p
	case kindHTTPS:
		h.srv.TLSConfig = ep.TLS
	}
	go func() {
		if ep.Kind == kindHTTPS {
			h.done <- h.srv.ServeTLS(h.ln, "", "")
			return
		}
		h.done <- h.srv.Serve(h.ln)
	}()
	return h
}

func (h *httpConns) handle(c net.Conn) {
	if !h.ln.deliver(c) {
		c.Close()
	}
}

func (h *httpConns) shutdown(ctx context.Context) {
	if err := h.srv.Shutdown(ctx); err != nil {
		h.srv.Close()
	}
	<-h.done
}

// grpcConns is a gRPC server fed with the endpoint's connections.
type grpcConns struct {
	srv  *grpc.Server
	ln   *chanListener
	done chan error
}

func newGRPCConns(ep endpoint, failing func() bool, addr net.Addr) *grpcConns {
	opts := []grpc.ServerOption{grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		if failing() {
			return nil, status.Error(codes.Unavailable, "failing on purpose: "+FailAnnotation+"="+FailReadiness)
		}
		return next(ctx, req)
	})}
	if ep.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(ep.TLS)))
	}
	g := &grpcConns{srv: grpc.NewServer(opts...), ln: newChanListener(addr), done: make(chan error, 1)}
	ep.GRPC(g.srv)
	go func() { g.done <- g.srv.Serve(g.ln) }()
	return g
}

func (g *grpcConns) handle(c net.Conn) {
	if !g.ln.deliver(c) {
		c.Close()
	}
}

func (g *grpcConns) shutdown(ctx context.Context) {
	stopped := make(chan struct{})
	go func() {
		g.srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		g.srv.Stop()
		<-stopped
	}
	g.ln.Close()
	<-g.done
}

// streamConns runs a function per connection and tracks the connections,
// so that shutdown can close what is left when its grace period ends.
type streamConns struct {
	serve func(net.Conn)
	tls   *tls.Config

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newStreamConns(serve func(net.Conn), cfg *tls.Config) *streamConns {
	return &streamConns{serve: serve, tls: cfg, conns: map[net.Conn]struct{}{}}
}

func (s *streamConns) handle(c net.Conn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
		if s.tls != nil {
			s.serve(tls.Server(c, s.tls))
			return
		}
		s.serve(c)
	}()
}

func (s *streamConns) shutdown(ctx context.Context) {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		<-done
	}
}

// echoStream copies a stream back to its sender, then closes the sending
// half, as the echoserver image's non-HTTP ports do in kelb.
func echoStream(c net.Conn) {
	if _, err := io.Copy(c, c); err != nil {
		return
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}
