package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/kelb-io/kelb/internal/connlimit"
)

// DefaultLimits bound the webhook's clients, kube-apiservers: an admission
// request is a few KiB and the API server gives a webhook at most 30 s.
var DefaultLimits = connlimit.HTTPLimits{
	MaxConns:          256,
	ReadHeaderTimeout: 10 * time.Second,
	ReadTimeout:       30 * time.Second,
	WriteTimeout:      30 * time.Second,
	IdleTimeout:       90 * time.Second,
}

// Server serves the webhook over HTTPS. It is controller-runtime's
// webhook server with kelb's deadlines for the TLS handshake, the request,
// the answer and idle connections, and a cap on connections
// (connlimit.HTTPServer), which controller-runtime's own server lacks (it
// bounds only the request head). The certificate is CertDir's tls.crt and
// tls.key, reloaded when they change.
type Server struct {
	// Addr is the host:port to listen on.
	Addr string
	// CertDir holds tls.crt and tls.key.
	CertDir string
	// Limits bound the clients; zero fields take DefaultLimits'.
	Limits connlimit.HTTPLimits

	once    sync.Once
	mux     *http.ServeMux
	mu      sync.Mutex
	started bool
}

var _ ctrlwebhook.Server = (*Server)(nil)

// NeedLeaderElection is false: every replica serves the webhook.
func (*Server) NeedLeaderElection() bool { return false }

// Register serves hook at path.
func (s *Server) Register(path string, hook http.Handler) { s.WebhookMux().Handle(path, hook) }

// WebhookMux is the server's handler.
func (s *Server) WebhookMux() *http.ServeMux {
	s.once.Do(func() { s.mux = http.NewServeMux() })
	return s.mux
}

// Start serves until ctx ends, then shuts down, waiting up to a minute
// for requests in flight.
func (s *Server) Start(ctx context.Context) error {
	certs, err := certwatcher.New(filepath.Join(s.CertDir, "tls.crt"), filepath.Join(s.CertDir, "tls.key"))
	if err != nil {
		return fmt.Errorf("webhook certificate: %w", err)
	}
	go func() { _ = certs.Start(ctx) }() // stops with ctx; a failed reload keeps the last certificate
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	srv, limited := connlimit.HTTPServer(s.WebhookMux(), ln, s.Limits.WithDefaults(DefaultLimits))
	srv.BaseContext = func(net.Listener) context.Context { return ctx }
	tlsLn := tls.NewListener(limited, &tls.Config{
		NextProtos:     []string{"h2", "http/1.1"},
		MinVersion:     tls.VersionTLS12,
		GetCertificate: certs.GetCertificate,
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	s.mu.Lock()
	s.started = true
	s.mu.Unlock()
	if err := srv.Serve(tlsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("webhook: %w", err)
	}
	<-done
	return nil
}

// StartedChecker is healthy once the server accepts TLS connections.
func (s *Server) StartedChecker() healthz.Checker {
	return func(*http.Request) error {
		s.mu.Lock()
		started := s.started
		s.mu.Unlock()
		if !started {
			return errors.New("webhook server has not been started yet")
		}
		d := &net.Dialer{Timeout: 10 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", s.Addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return fmt.Errorf("webhook server is not reachable: %w", err)
		}
		return conn.Close()
	}
}
