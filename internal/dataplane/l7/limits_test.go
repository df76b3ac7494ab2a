package l7

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// headPath is how a request head reaches the plane: what decides whether
// the fast path or net/http reads it.
type headPath struct {
	name string
	// before is sent on the connection first and answered; it leaves the
	// connection with net/http when it is a request the fast path hands
	// over.
	before string
	// method and extra make the request under test.
	method, extra string
}

var headPaths = []headPath{
	{name: "fast path", method: "GET"},
	{name: "net/http path, after a chunked request", method: "GET",
		before: "POST /first HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
	{name: "net/http path, HTTP/1.0", method: "GET", extra: "HTTP/1.0"},
	{name: "net/http path, chunked body", method: "POST", extra: "chunked"},
}

// request builds the request of p with the given target and headers.
func (p headPath) request(target string, headers ...string) string {
	proto := "HTTP/1.1"
	if p.extra == "HTTP/1.0" {
		proto = p.extra
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\r\nHost: h\r\n", p.method, target, proto)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if p.extra == "chunked" {
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n")
	} else {
		b.WriteString("\r\n")
	}
	return b.String()
}

// limitsPlane starts a plane whose one HTTP listener, with the given idle
// timeout, forwards to a counting backend.
func limitsPlane(t *testing.T, ip string, idle time.Duration, opts Options) (string, *countingBackend) {
	t.Helper()
	b := newCountingBackend(t, "b", false)
	lbAddr := freeAddr(t, ip)
	p, _ := newTestPlane(t, opts)
	if err := p.Apply(Config{
		Listeners: []Listener{{ListenerARN: "l", LoadBalancer: "app/lb/1", Protocol: "HTTP", Address: lbAddr,
			IdleTimeout: idle, DefaultActions: forward("tg")}},
		TargetGroups: []TargetGroup{testGroup("tg", b.addr)},
	}); err != nil {
		t.Fatal(err)
	}
	return lbAddr, b
}

// openConn dials addr and sends p's leading request, reading its answer.
func (p headPath) openConn(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	if p.before != "" {
		io.WriteString(c, p.before)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("leading request: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return c, br
}

func TestRequestHeadLimits(t *testing.T) {
	long := func(name string, n int) string { return name + ": " + strings.Repeat("v", n-len(name)-2) }
	tests := []struct {
		name    string
		target  string
		headers []string
		want    int
	}{
		{name: "within every limit", target: "/" + strings.Repeat("p", 15<<10), headers: []string{long("X-A", 15<<10), long("X-B", 15<<10), long("X-C", 15<<10)}, want: 200},
		{name: "request line over 16 KiB", target: "/" + strings.Repeat("p", 16<<10), want: 400},
		{name: "one header over 16 KiB", headers: []string{long("X-Big", 16<<10+1)}, want: 400},
		{name: "head over 64 KiB", headers: []string{long("X-A", 15<<10), long("X-B", 15<<10), long("X-C", 15<<10), long("X-D", 15<<10), long("X-E", 15<<10)}, want: 400},
		{name: "1 MiB of headers", headers: func() []string {
			var hs []string
			for i := range 80 {
				hs = append(hs, long(fmt.Sprintf("X-%d", i), 13<<10))
			}
			return hs
		}(), want: 400},
	}
	for i, p := range headPaths {
		t.Run(p.name, func(t *testing.T) {
			lb, backend := limitsPlane(t, fmt.Sprintf("127.0.0.%d", 80+i), time.Minute, Options{})
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					target := tt.target
					if target == "" {
						target = "/t"
					}
					before := backend.requests.Load()
					c, br := p.openConn(t, lb)
					if p.before != "" {
						before++
					}
					// Written in the background: kelb may answer and close
					// before it has read all of a large head.
					go io.WriteString(c, p.request(target, tt.headers...))
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(resp.Body)
					got := answer{Status: resp.StatusCode, Close: resp.Close}
					want := answer{Status: tt.want, Close: tt.want != 200 || p.extra == "HTTP/1.0"}
					if tt.want != 200 {
						got.Body, want.Body = string(body), string(elbErrorBodies[tt.want])
						got.Header = map[string]string{"Server": resp.Header.Get("Server")}
						want.Header = map[string]string{"Server": "awselb/2.0"}
					}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("answer (-want +got):\n%s", diff)
					}
					forwarded := backend.requests.Load() - before
					if wantFwd := int64(map[bool]int{true: 1}[tt.want == 200]); forwarded != wantFwd {
						t.Errorf("%d requests reached the target, want %d", forwarded, wantFwd)
					}
				})
			}
		})
	}
}

// closedWithin reports whether the connection is closed by kelb before
// the client has sent every line of lines, one every interval.
func closedWithin(c net.Conn, br *bufio.Reader, lines int, interval time.Duration) bool {
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		io.Copy(io.Discard, br) // until EOF or reset
	}()
	for range lines {
		select {
		case <-closed:
			return true
		case <-time.After(interval):
		}
		if _, err := io.WriteString(c, "X-Slow: 1\r\n"); err != nil {
			return true
		}
	}
	select {
	case <-closed:
		return true
	case <-time.After(interval):
		return false
	}
}

func TestSlowHeadIsCutAtTheIdleTimeout(t *testing.T) {
	// A client sends one header line every 300 ms, well within the 1 s
	// idle timeout each time: the head must still arrive whole within 1 s
	// of its first byte, so kelb closes the connection long before the
	// 30 lines (9 s) are out.
	for i, p := range headPaths[:2] {
		t.Run(p.name, func(t *testing.T) {
			lb, backend := limitsPlane(t, fmt.Sprintf("127.0.0.%d", 90+i), time.Second, Options{})
			before := backend.requests.Load()
			c, br := p.openConn(t, lb)
			io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: h\r\n")
			if !closedWithin(c, br, 30, 300*time.Millisecond) {
				t.Fatal("the connection is still open after 30 header lines over 9 s with a 1 s idle timeout")
			}
			if p.before != "" {
				before++
			}
			if n := backend.requests.Load() - before; n != 0 {
				t.Errorf("%d requests reached the target", n)
			}
		})
	}
}

func TestIdleConnectionsClose(t *testing.T) {
	for i, p := range headPaths[:2] {
		t.Run(p.name, func(t *testing.T) {
			lb, _ := limitsPlane(t, fmt.Sprintf("127.0.0.%d", 95+i), time.Second, Options{})
			c, br := p.openConn(t, lb)
			io.WriteString(c, "GET /one HTTP/1.1\r\nHost: h\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			// Nothing more is sent: kelb closes the connection (the read
			// deadline of 20 s set by openConn would fail the read
			// otherwise).
			if _, err := br.ReadByte(); err != io.EOF && !errors.Is(err, net.ErrClosed) && !isReset(err) {
				t.Fatalf("read on an idle connection: %v, want EOF", err)
			}
		})
	}
}

func isReset(err error) bool {
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout()) && !errors.Is(err, os.ErrDeadlineExceeded)
}

func TestStalledBodyIsCut(t *testing.T) {
	for i, p := range []string{"Content-Length: 100", "Transfer-Encoding: chunked"} {
		t.Run(p, func(t *testing.T) {
			lb, _ := limitsPlane(t, fmt.Sprintf("127.0.0.%d", 97+i), time.Second, Options{})
			c, err := net.Dial("tcp", lb)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: h\r\n"+p+"\r\n\r\n")
			if strings.Contains(p, "chunked") {
				io.WriteString(c, "a\r\n0123456789\r\n")
			} else {
				io.WriteString(c, "0123456789")
			}
			// The body stops: whatever kelb answers, it closes the
			// connection.
			if _, err := io.Copy(io.Discard, c); err != nil && !isReset(err) {
				t.Fatalf("read after a stalled body: %v", err)
			}
		})
	}
}

func TestConnectionCap(t *testing.T) {
	const max = 4
	b := newCountingBackend(t, "b", false)
	lb := freeAddr(t, "127.0.0.99")
	p, reg := newTestPlane(t, Options{MaxConns: max})
	if err := p.Apply(Config{
		Listeners: []Listener{{ListenerARN: "l", LoadBalancer: "app/lb/1", Protocol: "HTTP", Address: lb,
			IdleTimeout: time.Minute, DefaultActions: forward("tg")}},
		TargetGroups: []TargetGroup{testGroup("tg", b.addr)},
	}); err != nil {
		t.Fatal(err)
	}
	// Connections that send nothing, or part of a head, fill the cap...
	for i := range 2 * max {
		c, err := net.Dial("tcp", lb)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if i%2 == 1 {
			io.WriteString(c, "GET / HTTP/1.1\r\n")
		}
	}
	// ...and clients sending whole requests are still answered.
	c := &http.Client{Timeout: 20 * time.Second}
	for i := range 5 {
		resp, err := c.Get("http://" + lb + "/")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		c.CloseIdleConnections()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
	}
	if n := b.requests.Load(); n != 5 {
		t.Errorf("target got %d requests, want 5", n)
	}
	// The 4 connections with half a head took every place (those that
	// sent nothing wait in the kernel, TCP_DEFER_ACCEPT): the first
	// request's connection evicted one of them.
	if got := metricValues(t, reg)["kelb_alb_evicted_connections_total{app/lb/1}"]; got < 1 {
		t.Errorf("kelb_alb_evicted_connections_total = %v, want at least 1", got)
	}
}

func TestNetHTTPError(t *testing.T) {
	tests := []struct {
		in   string
		code int
		ok   bool
	}{
		{in: "HTTP/1.1 431 Request Header Fields Too Large" + netHTTPErrorHeaders + "431 Request Header Fields Too Large", code: 400, ok: true},
		{in: "HTTP/1.1 400 Bad Request: missing required Host header" + netHTTPErrorHeaders + "400 Bad Request: missing required Host header", code: 400, ok: true},
		{in: "HTTP/1.1 501 Not Implemented" + netHTTPErrorHeaders + "Unsupported transfer encoding", code: 501, ok: true},
		{in: "HTTP/1.1 505 HTTP Version Not Supported: unsupported protocol version" + netHTTPErrorHeaders + "505", code: 400, ok: true},
		// Relayed from a target: sorted headers with a Date.
		{in: "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nDate: x\r\n\r\n"},
		{in: "HTTP/1.1 200 OK" + netHTTPErrorHeaders},
		{in: "HTTP/1.1 4"},
	}
	for _, tt := range tests {
		code, ok := netHTTPError([]byte(tt.in))
		if code != tt.code || ok != tt.ok {
			t.Errorf("netHTTPError(%q) = %d, %v, want %d, %v", tt.in, code, ok, tt.code, tt.ok)
		}
	}
}
