package l7

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// countingBackend is an HTTP server on 127.0.0.1 that answers with its
// name and the request body, and counts the requests it got.
type countingBackend struct {
	name     string
	addr     string
	srv      *http.Server
	requests atomic.Int64
}

func newCountingBackend(t *testing.T, name string, h2c bool) *countingBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &countingBackend{name: name, addr: ln.Addr().String()}
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.requests.Add(1)
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", name, body)
	})}
	if h2c {
		b.srv.Protocols = new(http.Protocols)
		b.srv.Protocols.SetHTTP1(true)
		b.srv.Protocols.SetUnencryptedHTTP2(true)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.srv.Serve(ln)
	}()
	t.Cleanup(func() {
		b.srv.Close()
		<-done
	})
	return b
}

// resettingBackend accepts connections, reads a whole request head and
// then resets the connection without answering. It counts the requests
// it read.
func resettingBackend(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				buf := make([]byte, 0, 4096)
				tmp := make([]byte, 4096)
				for !strings.Contains(string(buf), "\r\n\r\n") {
					k, err := c.Read(tmp)
					if err != nil {
						return
					}
					buf = append(buf, tmp[:k]...)
				}
				n.Add(1)
				c.SetLinger(0) // close with RST
			}()
		}
	}()
	return ln.Addr().String(), &n
}

// requestKind is how a test request reaches kelb, which decides the path
// it takes through the plane.
type requestKind struct {
	name string
	// http2: the target group is HTTP2 (h2c to the targets), so requests
	// go through net/http and ReverseProxy.
	http2 bool
	do    func(t *testing.T, c *http.Client, url string, header ...string) (int, string, http.Header)
}

var requestKinds = []requestKind{
	{name: "fast path GET", do: get},
	{name: "fast path POST with body", do: func(t *testing.T, c *http.Client, url string, header ...string) (int, string, http.Header) {
		t.Helper()
		return send(t, c, http.MethodPost, url, strings.NewReader("payload"), header...)
	}},
	{name: "net/http path, chunked PUT", do: func(t *testing.T, c *http.Client, url string, header ...string) (int, string, http.Header) {
		t.Helper()
		// A body of unknown length goes chunked: the fast path hands
		// the request to net/http.
		return send(t, c, http.MethodPut, url, io.MultiReader(strings.NewReader("pay"), strings.NewReader("load")), header...)
	}},
	{name: "HTTP2 target group", http2: true, do: func(t *testing.T, c *http.Client, url string, header ...string) (int, string, http.Header) {
		t.Helper()
		return send(t, c, http.MethodPost, url, strings.NewReader("payload"), header...)
	}},
}

func send(t *testing.T, c *http.Client, method, url string, body io.Reader, header ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s body: %v", method, url, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// retryPlane starts a plane whose one HTTP listener forwards to tg, and
// returns the listener's address and the plane's registry.
func retryPlane(t *testing.T, ip string, tg TargetGroup) (string, func() map[string]float64) {
	t.Helper()
	lbAddr := freeAddr(t, ip)
	p, reg := newTestPlane(t, Options{})
	if err := p.Apply(Config{
		Listeners: []Listener{{ListenerARN: "l", LoadBalancer: "app/lb/1", Protocol: "HTTP", Address: lbAddr,
			IdleTimeout: time.Minute, DefaultActions: forward(tg.ARN)}},
		TargetGroups: []TargetGroup{tg},
	}); err != nil {
		t.Fatal(err)
	}
	return lbAddr, func() map[string]float64 { return metricValues(t, reg) }
}

func retryGroup(kind requestKind, targets ...string) TargetGroup {
	tg := testGroup("tg", targets...)
	if kind.http2 {
		tg.ProtocolVersion = "HTTP2"
	}
	return tg
}

const retriesMetric = "kelb_alb_target_connection_retries_total{app/lb/1,tg}"

func TestRefusingTargetsAreSkipped(t *testing.T) {
	for i, kind := range requestKinds {
		t.Run(kind.name, func(t *testing.T) {
			good := newCountingBackend(t, "good", kind.http2)
			// Two targets that the health view still calls healthy but
			// whose sockets are closed: a request may meet both before
			// the one that answers.
			refused1, refused2 := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
			lbAddr, metrics := retryPlane(t, fmt.Sprintf("127.0.0.%d", 60+i), retryGroup(kind, refused1, good.addr, refused2))
			c := &http.Client{}
			t.Cleanup(c.CloseIdleConnections)
			const n = 100
			answers := map[string]int{}
			for range n {
				code, body, _ := kind.do(t, c, "http://"+lbAddr+"/")
				answers[fmt.Sprintf("%d %s", code, body)]++
			}
			want := "200 good "
			if kind.name != "fast path GET" {
				want += "payload"
			}
			if diff := cmp.Diff(map[string]int{want: n}, answers); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
			if got := good.requests.Load(); got != n {
				t.Errorf("the answering target got %d requests, want %d", got, n)
			}
			// Two of three targets refuse: most requests meet at least
			// one of them first.
			m := metrics()
			if r := m[retriesMetric]; r < n/3 || r > 2*n {
				t.Errorf("%s = %v, want between %d and %d", retriesMetric, r, n/3, 2*n)
			}
			if e := m["kelb_alb_requests_total{app/lb/1,tg,5xx,elb}"]; e != 0 {
				t.Errorf("load balancer answered %v 5xx, want none", e)
			}
		})
	}
}

func TestEveryTargetRefusingIs502(t *testing.T) {
	for i, kind := range requestKinds {
		t.Run(kind.name, func(t *testing.T) {
			refused1, refused2 := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
			lbAddr, metrics := retryPlane(t, fmt.Sprintf("127.0.0.%d", 70+i), retryGroup(kind, refused1, refused2))
			c := &http.Client{}
			t.Cleanup(c.CloseIdleConnections)
			const n = 10
			for range n {
				if code, _, _ := kind.do(t, c, "http://"+lbAddr+"/"); code != http.StatusBadGateway {
					t.Fatalf("status = %d, want 502", code)
				}
			}
			// Each request tried both targets: one retry each.
			m := metrics()
			if diff := cmp.Diff([]float64{n, n}, []float64{m[retriesMetric], m["kelb_alb_requests_total{app/lb/1,tg,5xx,elb}"]}); diff != "" {
				t.Errorf("retries and 502s (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTargetResetAfterRequestIsNotRetried(t *testing.T) {
	for i, kind := range requestKinds {
		if kind.http2 {
			continue // the resetting target speaks no HTTP/2
		}
		t.Run(kind.name, func(t *testing.T) {
			good := newCountingBackend(t, "good", false)
			resetter, read := resettingBackend(t)
			lbAddr, metrics := retryPlane(t, fmt.Sprintf("127.0.0.%d", 80+i), retryGroup(kind, resetter, good.addr))
			c := &http.Client{}
			t.Cleanup(c.CloseIdleConnections)
			const n = 40
			codes := map[int]int{}
			for range n {
				code, _, _ := kind.do(t, c, "http://"+lbAddr+"/")
				codes[code]++
			}
			// A target that took the request and reset the connection may
			// have acted on it: its requests are 502s, never sent again.
			bad := int(read.Load())
			if bad == 0 {
				t.Fatal("no request reached the resetting target")
			}
			if diff := cmp.Diff(map[int]int{http.StatusOK: n - bad, http.StatusBadGateway: bad}, codes); diff != "" {
				t.Errorf("status codes (-want +got):\n%s", diff)
			}
			if got := good.requests.Load(); got != int64(n-bad) {
				t.Errorf("the good target got %d requests, want %d", got, n-bad)
			}
			if r := metrics()[retriesMetric]; r != 0 {
				t.Errorf("%s = %v, want 0", retriesMetric, r)
			}
		})
	}
}

func TestStickyTargetRefusingFallsBack(t *testing.T) {
	for i, kind := range requestKinds {
		t.Run(kind.name, func(t *testing.T) {
			a := newCountingBackend(t, "a", kind.http2)
			b := newCountingBackend(t, "b", kind.http2)
			tg := retryGroup(kind, a.addr, b.addr)
			tg.Stickiness, tg.StickinessDuration = stickinessLBCookie, time.Hour
			lbAddr, metrics := retryPlane(t, fmt.Sprintf("127.0.0.%d", 90+i), tg)
			c := &http.Client{}
			t.Cleanup(c.CloseIdleConnections)
			url := "http://" + lbAddr + "/"

			// Find a's stickiness cookie, and check that it holds.
			stickTo := func(name string) string {
				t.Helper()
				for range 10 {
					_, body, h := kind.do(t, c, url)
					if strings.HasPrefix(body, name+" ") {
						return lbCookie(t, h)
					}
				}
				t.Fatalf("no request went to %s", name)
				return ""
			}
			cookie := stickTo("a")
			for range 3 {
				if _, body, _ := kind.do(t, c, url, "Cookie", cookie); !strings.HasPrefix(body, "a ") {
					t.Fatalf("sticky request went to %q, want a", body)
				}
			}

			// a stops accepting: the sticky requests go to b, which the
			// new cookie names.
			a.srv.Close()
			for j := range 5 {
				code, body, h := kind.do(t, c, url, "Cookie", cookie)
				if code != http.StatusOK || !strings.HasPrefix(body, "b ") {
					t.Fatalf("request %d with a's cookie after a closed: %d %q, want 200 from b", j, code, body)
				}
				if got, want := lbCookie(t, h), stickTo("b"); got != want {
					t.Errorf("request %d: cookie %q, want b's %q", j, got, want)
				}
			}
			if r := metrics()[retriesMetric]; r < 5 {
				t.Errorf("%s = %v, want at least 5", retriesMetric, r)
			}
		})
	}
}

// lbCookie returns the AWSALB cookie of a response, as name=value.
func lbCookie(t *testing.T, h http.Header) string {
	t.Helper()
	for _, sc := range h.Values("Set-Cookie") {
		if strings.HasPrefix(sc, cookieLB+"=") {
			return strings.Split(sc, ";")[0]
		}
	}
	t.Fatalf("no %s cookie in %q", cookieLB, h.Values("Set-Cookie"))
	return ""
}

func TestTryAnotherTarget(t *testing.T) {
	refused := dialErr(t, freeAddr(t, "127.0.0.1"))
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", refused, true},
		{"refused after a dead pooled connection", fmt.Errorf("send again: %w", refused), true},
		{"TLS handshake reset", &connectError{addr: "a", err: fmt.Errorf("TLS handshake: %w", syscall.ECONNRESET)}, true},
		{"connect timed out", &connectError{addr: "a", err: timeoutError{}}, false},
		{"request cancelled while connecting", &connectError{addr: "a", err: context.Canceled}, false},
		{"reset after the request was sent", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, false},
		{"closed before responding", errEOFBeforeResponse, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tryAnotherTarget(tt.err); got != tt.want {
				t.Errorf("tryAnotherTarget(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// dialErr returns the error of a target pool connecting to addr.
func dialErr(t *testing.T, addr string) error {
	t.Helper()
	_, err := newUpstreamPool(addr, false, Options{DialTimeout: 5 * time.Second}).dial(t.Context())
	if err == nil {
		t.Fatalf("connecting to %s succeeded", addr)
	}
	return err
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
