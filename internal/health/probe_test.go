package health

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// hangingServer accepts connections and never answers. Connections are
// closed when the test ends.
func hangingServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// garbageServer answers every connection with a line that is not HTTP.
func garbageServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n\r\n"))
			c.Close()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// closedAddress is a loopback address where nothing listens.
func closedAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func serverAddress(t *testing.T, s *httptest.Server) string {
	t.Helper()
	return strings.TrimPrefix(strings.TrimPrefix(s.URL, "http://"), "https://")
}

func TestProbe(t *testing.T) {
	status := func(code int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) })
	}
	ok := httptest.NewServer(status(200))
	t.Cleanup(ok.Close)
	unavailable := httptest.NewServer(status(503))
	t.Cleanup(unavailable.Close)
	redirect := httptest.NewServer(http.RedirectHandler("/elsewhere", http.StatusFound))
	t.Cleanup(redirect.Close)
	tlsOK := httptest.NewTLSServer(status(200))
	t.Cleanup(tlsOK.Close)
	hanging := hangingServer(t)
	garbage := garbageServer(t)
	closed := closedAddress(t)

	tests := []struct {
		name string
		spec probeSpec
		want result
	}{
		{name: "tcp open", spec: probeSpec{protocol: "TCP", address: serverAddress(t, ok)},
			want: result{outcome: outcomeSuccess}},
		{name: "tcp refused", spec: probeSpec{protocol: "TCP", address: closed},
			want: result{outcome: outcomeFailed}},
		{name: "http 200", spec: probeSpec{protocol: "HTTP", address: serverAddress(t, ok), path: "/", matcher: "200"},
			want: result{outcome: outcomeSuccess, code: 200}},
		{name: "http 503", spec: probeSpec{protocol: "HTTP", address: serverAddress(t, unavailable), path: "/", matcher: "200"},
			want: result{outcome: outcomeCodeMismatch, code: 503}},
		{name: "http 503 in a range", spec: probeSpec{protocol: "HTTP", address: serverAddress(t, unavailable), path: "/", matcher: "200-399,503"},
			want: result{outcome: outcomeSuccess, code: 503}},
		{name: "redirects are not followed", spec: probeSpec{protocol: "HTTP", address: serverAddress(t, redirect), path: "/", matcher: "200"},
			want: result{outcome: outcomeCodeMismatch, code: 302}},
		{name: "redirect accepted by 200-399", spec: probeSpec{protocol: "HTTP", address: serverAddress(t, redirect), path: "/", matcher: "200-399"},
			want: result{outcome: outcomeSuccess, code: 302}},
		{name: "https with a self-signed certificate", spec: probeSpec{protocol: "HTTPS", address: serverAddress(t, tlsOK), path: "/", matcher: "200"},
			want: result{outcome: outcomeSuccess, code: 200}},
		{name: "https to a plain http target", spec: probeSpec{protocol: "HTTPS", address: serverAddress(t, ok), path: "/", matcher: "200"},
			want: result{outcome: outcomeFailed}},
		{name: "http refused", spec: probeSpec{protocol: "HTTP", address: closed, path: "/", matcher: "200"},
			want: result{outcome: outcomeFailed}},
		{name: "http no answer", spec: probeSpec{protocol: "HTTP", address: hanging, path: "/", matcher: "200"},
			want: result{outcome: outcomeTimeout}},
		{name: "not http", spec: probeSpec{protocol: "HTTP", address: garbage, path: "/", matcher: "200"},
			want: result{outcome: outcomeFailed}},
		{name: "invalid matcher", spec: probeSpec{protocol: "HTTP", address: serverAddress(t, ok), path: "/", matcher: "x"},
			want: result{outcome: outcomeFailed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.timeout = 500 * time.Millisecond
			got := probe(context.Background(), tt.spec)
			if (got.err != nil) != (tt.want.outcome != outcomeSuccess) {
				t.Errorf("probe error = %v with outcome %v", got.err, got.outcome)
			}
			got.err = nil
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(result{})); diff != "" {
				t.Errorf("probe (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProbeHTTPRequest(t *testing.T) {
	type seen struct {
		Method, Path, Host, UserAgent string
		Close                         bool
	}
	requests := make(chan seen, 1)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests <- seen{r.Method, r.URL.Path, r.Host, r.UserAgent(), r.Close}
	}))
	t.Cleanup(s.Close)
	addr := serverAddress(t, s)
	got := probe(context.Background(), probeSpec{protocol: "HTTP", address: addr, path: "/healthz", matcher: "200", timeout: 5 * time.Second})
	if got.outcome != outcomeSuccess {
		t.Fatalf("probe = %+v, want success", got)
	}
	want := seen{Method: "GET", Path: "/healthz", Host: addr, UserAgent: "ELB-HealthChecker/2.0", Close: true}
	if diff := cmp.Diff(want, <-requests); diff != "" {
		t.Errorf("request the target saw (-want +got):\n%s", diff)
	}
}

func TestProbeStopsWithContext(t *testing.T) {
	addr := hangingServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result)
	go func() {
		done <- probe(ctx, probeSpec{protocol: "HTTP", address: addr, path: "/", matcher: "200", timeout: time.Hour})
	}()
	cancel()
	select {
	case r := <-done:
		if r.outcome == outcomeSuccess {
			t.Errorf("cancelled probe = %+v, want a failure", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("probe did not return after its context was cancelled")
	}
}
