package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/kelb-io/kelb/internal/connlimit"
)

// The webhook server answers over TLS with its certificate, and closes
// connections that stall before or during a request, or idle after one.
func TestServerDeadlines(t *testing.T) {
	dir := t.TempDir()
	certs, err := GenerateCerts([]string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := certs.Write(dir); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Server{Addr: addr, CertDir: dir, Limits: connlimit.HTTPLimits{ReadTimeout: 500 * time.Millisecond, IdleTimeout: 500 * time.Millisecond}}
	s.Register("/hook", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Start: %v", err)
		}
	})
	check := s.StartedChecker()
	for i := 0; check(nil) != nil; i++ {
		if i == 100 {
			t.Fatalf("webhook server not serving: %v", check(nil))
		}
		time.Sleep(50 * time.Millisecond)
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certs.CAPEM)
	tlsConf := &tls.Config{RootCAs: pool}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}, Timeout: 10 * time.Second}
	resp, err := c.Get("https://" + addr + "/hook")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Fatalf("answer %q", body)
	}

	// closedWithin5s reports whether the server closes conn before the
	// client has trickled for 5 s.
	closedWithin5s := func(conn net.Conn, trickle string) bool {
		done := make(chan struct{})
		go func() {
			defer close(done)
			io.Copy(io.Discard, conn)
		}()
		for range 50 {
			select {
			case <-done:
				return true
			case <-time.After(100 * time.Millisecond):
			}
			io.WriteString(conn, trickle)
		}
		return false
	}
	t.Run("no TLS handshake", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		if !closedWithin5s(conn, "") {
			t.Error("a connection that never starts TLS is open after 5 s")
		}
	})
	for _, tt := range []struct{ name, first, trickle string }{
		{"slow head", "POST /hook HTTP/1.1\r\nHost: x\r\n", "X-Slow: 1\r\n"},
		{"idle keep-alive", "GET /hook HTTP/1.1\r\nHost: x\r\n\r\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			fmt.Fprint(conn, tt.first)
			if !closedWithin5s(conn, tt.trickle) {
				t.Errorf("%s: the connection is open after 5 s with 500 ms timeouts", tt.name)
			}
		})
	}
}
