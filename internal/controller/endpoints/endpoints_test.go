package endpoints

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/kelb-io/kelb/internal/connlimit"
)

func serve(t *testing.T, h http.Handler, lim connlimit.HTTPLimits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- (&Server{Addr: addr, Handler: h, Limits: lim}).Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Start: %v", err)
		}
	})
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if i == 100 {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	health := serve(t, Health(), connlimit.HTTPLimits{})
	for _, p := range []string{"/healthz", "/readyz", "/readyz/ping"} {
		if code, body := get(t, "http://"+health+p); code != 200 || !strings.Contains(body, "ok") {
			t.Errorf("GET %s: %d %q", p, code, body)
		}
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "kelb_endpoints_test_total", Help: "A counter of the test."})
	ctrlmetrics.Registry.MustRegister(c)
	t.Cleanup(func() { ctrlmetrics.Registry.Unregister(c) })
	c.Inc()
	metrics := serve(t, Metrics(), connlimit.HTTPLimits{})
	if code, body := get(t, "http://"+metrics+"/metrics"); code != 200 || !strings.Contains(body, "kelb_endpoints_test_total 1") {
		t.Errorf("GET /metrics: %d %.200q", code, body)
	}
}

func TestEndpointsCloseSlowAndIdleConnections(t *testing.T) {
	addr := serve(t, Health(), connlimit.HTTPLimits{ReadTimeout: 500 * time.Millisecond, IdleTimeout: 500 * time.Millisecond})
	for _, tt := range []struct{ name, first, trickle string }{
		{"slow head", "GET /healthz HTTP/1.1\r\nHost: x\r\n", "X-Slow: 1\r\n"},
		{"endless body", "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", "body"},
		{"idle keep-alive", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", ""},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		io.WriteString(c, tt.first)
		done := make(chan struct{})
		go func() {
			defer close(done)
			io.Copy(io.Discard, c)
		}()
		closed := false
		for range 50 {
			select {
			case <-done:
				closed = true
			case <-time.After(100 * time.Millisecond):
				io.WriteString(c, tt.trickle)
			}
			if closed {
				break
			}
		}
		c.Close()
		if !closed {
			t.Errorf("%s: the connection is open after 5 s with 500 ms timeouts", tt.name)
		}
	}
}
