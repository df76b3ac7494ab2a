package l7

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// rawBackend serves every request of every connection with answer, which
// writes raw bytes to the connection and reports whether to keep it open.
func rawBackend(t testing.TB, answer func(w *bufio.Writer, r *http.Request) (keep bool)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br, bw := bufio.NewReader(c), bufio.NewWriter(c)
				for {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, r.Body)
					keep := answer(bw, r)
					if bw.Flush() != nil || !keep {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// planeTo starts a plane with one HTTP listener on ip forwarding to tg,
// and returns the listener's address.
func planeTo(t testing.TB, ip string, tg TargetGroup, xffMode string) string {
	t.Helper()
	addr, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	lbAddr := addr.Addr().String()
	addr.Close()
	p := New(Options{})
	t.Cleanup(func() { p.Close() })
	if err := p.Apply(Config{
		Listeners: []Listener{{ListenerARN: "l", LoadBalancer: "app/lb/1", Protocol: "HTTP", Address: lbAddr,
			IdleTimeout: time.Minute, HTTP2: true, XFFMode: xffMode, DefaultActions: forward(tg.ARN)}},
		TargetGroups: []TargetGroup{tg},
	}); err != nil {
		t.Fatal(err)
	}
	return lbAddr
}

// roundTrip writes raw requests on one connection and reads as many
// responses.
func roundTrip(t *testing.T, addr string, raw string, n int, method string) []*http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	var out []*http.Response
	for range n {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("response %d: %v", len(out)+1, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("response %d body: %v", len(out)+1, err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		out = append(out, resp)
	}
	return out
}

type answer struct {
	Status  int
	Body    string
	Header  map[string]string
	Chunked bool
	Close   bool
}

func summarize(t *testing.T, resps []*http.Response, headers ...string) []answer {
	t.Helper()
	var out []answer
	for _, r := range resps {
		b, _ := io.ReadAll(r.Body)
		a := answer{Status: r.StatusCode, Body: string(b), Chunked: slicesContains(r.TransferEncoding, "chunked"), Close: r.Close}
		for _, h := range headers {
			if v := r.Header.Get(h); v != "" {
				if a.Header == nil {
					a.Header = map[string]string{}
				}
				a.Header[h] = v
			}
		}
		out = append(out, a)
	}
	return out
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestFastPathFraming(t *testing.T) {
	echo := backend(t, "127.0.0.1", "echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			for _, part := range []string{"one,", "two,", "three"} {
				io.WriteString(w, part)
				w.(http.Flusher).Flush()
			}
			w.Header().Set("X-Sum", "3")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/head":
			w.Header().Set("Content-Length", "42")
		case "/hop":
			w.Header().Set("Keep-Alive", "timeout=5")
			w.Header().Set("X-Kept", "yes")
			io.WriteString(w, "hop")
		default:
			fmt.Fprintf(w, "%s %s len=%d body=%s xff=%s host=%s", r.Method, r.URL.RequestURI(), len(body), body,
				r.Header.Get("X-Forwarded-For"), r.Host)
		}
	}))
	lb := planeTo(t, "127.0.0.31", testGroup("tg", echo), "append")
	big := strings.Repeat("b", 100<<10)
	tests := []struct {
		name    string
		raw     string
		n       int
		method  string
		headers []string
		want    []answer
	}{
		{name: "get", raw: "GET /a?q=1 HTTP/1.1\r\nHost: web.test\r\n\r\n", n: 1,
			want: []answer{{Status: 200, Body: "GET /a?q=1 len=0 body= xff=127.0.0.1 host=web.test"}}},
		{name: "escaped path", raw: "GET /a%20b HTTP/1.1\r\nHost: web.test\r\n\r\n", n: 1,
			want: []answer{{Status: 200, Body: "GET /a%20b len=0 body= xff=127.0.0.1 host=web.test"}}},
		{name: "pipelined", raw: "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: h\r\n\r\n", n: 3,
			want: []answer{
				{Status: 200, Body: "GET /1 len=0 body= xff=127.0.0.1 host=h"},
				{Status: 200, Body: "POST /2 len=3 body=abc xff=127.0.0.1 host=h"},
				{Status: 200, Body: "GET /3 len=0 body= xff=127.0.0.1 host=h"},
			}},
		{name: "large body streams", raw: "PUT /big HTTP/1.1\r\nHost: h\r\nContent-Length: " + strconv.Itoa(len(big)) + "\r\n\r\n" + big + "GET /after HTTP/1.1\r\nHost: h\r\n\r\n", n: 2,
			want: []answer{
				{Status: 200, Body: "PUT /big len=102400 body=" + big + " xff=127.0.0.1 host=h", Chunked: true},
				{Status: 200, Body: "GET /after len=0 body= xff=127.0.0.1 host=h"},
			}},
		{name: "chunked response with trailer", raw: "GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n", n: 1,
			want: []answer{{Status: 200, Body: "one,two,three", Chunked: true}}},
		{name: "no content", raw: "GET /empty HTTP/1.1\r\nHost: h\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n", n: 2,
			want: []answer{{Status: 204}, {Status: 200, Body: "GET /x len=0 body= xff=127.0.0.1 host=h"}}},
		{name: "head", raw: "HEAD /head HTTP/1.1\r\nHost: h\r\n\r\n", n: 1, method: http.MethodHead, headers: []string{"Content-Length"},
			want: []answer{{Status: 200, Header: map[string]string{"Content-Length": "42"}}}},
		{name: "hop-by-hop headers dropped", raw: "GET /hop HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", n: 1,
			headers: []string{"Keep-Alive", "X-Kept", "Connection"},
			want:    []answer{{Status: 200, Body: "hop", Header: map[string]string{"X-Kept": "yes"}}}},
		{name: "client asks to close", raw: "GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", n: 1,
			want: []answer{{Status: 200, Body: "GET /c len=0 body= xff=127.0.0.1 host=h", Close: true}}},
		{name: "header too large for the fast path", raw: "GET /long HTTP/1.1\r\nHost: h\r\nX-Long: " + strings.Repeat("l", 10<<10) + "\r\n\r\n", n: 1,
			want: []answer{{Status: 200, Body: "GET /long len=0 body= xff=127.0.0.1 host=h"}}},
		{name: "HTTP/1.0 goes to net/http", raw: "GET /old HTTP/1.0\r\nHost: h\r\n\r\n", n: 1,
			want: []answer{{Status: 200, Body: "GET /old len=0 body= xff=127.0.0.1 host=h", Close: true}}},
		{name: "chunked request goes to net/http", raw: "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n", n: 1,
			want: []answer{{Status: 200, Body: "POST /c len=3 body=xyz xff=127.0.0.1 host=h"}}},
		{name: "no host", raw: "GET / HTTP/1.1\r\n\r\n", n: 1, want: []answer{{Status: 400, Body: string(elbErrorBodies[400]), Close: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summarize(t, roundTrip(t, lb, tt.raw, tt.n, tt.method), tt.headers...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("responses (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFastPathTargetFraming(t *testing.T) {
	// Targets that frame their responses in the less common ways.
	eof := rawBackend(t, func(w *bufio.Writer, r *http.Request) bool {
		io.WriteString(w, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
		return false
	})
	// Closes every connection after a response it says nothing about:
	// kelb's pooled connection is stale on the next request.
	stale := rawBackend(t, func(w *bufio.Writer, r *http.Request) bool {
		io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")
		return false
	})
	early := rawBackend(t, func(w *bufio.Writer, r *http.Request) bool {
		io.WriteString(w, "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	garbage := rawBackend(t, func(w *bufio.Writer, r *http.Request) bool {
		io.WriteString(w, "SPDY/9 what\r\n\r\n")
		return false
	})
	tests := []struct {
		name   string
		target string
		n      int
		reads  int // responses per request, informational ones included
		want   []answer
	}{
		{name: "body until the target closes", target: eof, n: 1, want: []answer{{Status: 200, Body: "until the end", Close: true}}},
		{name: "stale pooled connection retried", target: stale, n: 3,
			want: []answer{{Status: 200, Body: "fresh"}, {Status: 200, Body: "fresh"}, {Status: 200, Body: "fresh"}}},
		{name: "informational response relayed", target: early, n: 1, reads: 2, want: []answer{{Status: 103}, {Status: 200, Body: "ok"}}},
		{name: "malformed response", target: garbage, n: 1, want: []answer{{Status: 502, Body: string(elbErrorBodies[502])}}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lb := planeTo(t, "127.0.0.32", testGroup(fmt.Sprintf("tg%d", i), tt.target), "append")
			var got []answer
			// One request per client connection, each through the
			// plane's pool of target connections.
			for range tt.n {
				got = append(got, summarize(t, roundTrip(t, lb, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", max(tt.reads, 1), ""))...)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("responses (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFastPathForwardedHeaders(t *testing.T) {
	echo := backend(t, "127.0.0.1", "echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "xff=%q proto=%q port=%q host=%q fwd=%q", r.Header.Values("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"),
			r.Header.Get("X-Forwarded-Port"), r.Header.Get("X-Forwarded-Host"), r.Header.Get("Forwarded"))
	}))
	const spoof = "X-Forwarded-For: 198.51.100.1\r\nX-Forwarded-For: 198.51.100.2\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 1\r\nX-Forwarded-Host: evil\r\nForwarded: for=x\r\n"
	tests := []struct {
		mode string
		want string
	}{
		{mode: "append", want: `xff=["198.51.100.1, 198.51.100.2, 127.0.0.1"] proto="http" port="%s" host="" fwd=""`},
		{mode: "preserve", want: `xff=["198.51.100.1" "198.51.100.2"] proto="http" port="%s" host="" fwd=""`},
		{mode: "remove", want: `xff=[] proto="http" port="%s" host="" fwd=""`},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			lb := planeTo(t, "127.0.0.33", testGroup("tg", echo), tt.mode)
			_, port, _ := net.SplitHostPort(lb)
			got := summarize(t, roundTrip(t, lb, "GET / HTTP/1.1\r\nHost: h\r\n"+spoof+"\r\n", 1, ""))
			want := []answer{{Status: 200, Body: fmt.Sprintf(tt.want, port)}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("responses (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFastPathHandsOffMidConnection(t *testing.T) {
	// A keep-alive connection serves plain requests on the fast path, then
	// an upgrade, which net/http takes over with the connection.
	ws := backend(t, "127.0.0.1", "ws", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			io.WriteString(w, "plain")
			return
		}
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		io.Copy(conn, brw)
	}))
	lb := planeTo(t, "127.0.0.34", testGroup("tg", ws), "append")
	conn, err := net.Dial("tcp", lb)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	io.WriteString(conn, "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	var got []int
	for range 2 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			io.ReadAll(resp.Body)
		}
		got = append(got, resp.StatusCode)
	}
	if diff := cmp.Diff([]int{200, 101}, got); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	io.WriteString(conn, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping" {
		t.Errorf("echo = %q, %v; want ping", buf, err)
	}
}

func TestFastPathAppCookieStickiness(t *testing.T) {
	var targets []string
	for i := range 2 {
		name := fmt.Sprintf("t%d", i)
		targets = append(targets, backend(t, "127.0.0.1", name, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/login" {
				http.SetCookie(w, &http.Cookie{Name: "session", Value: "s-" + name})
			}
			io.WriteString(w, name)
		})))
	}
	tg := testGroup("tg", targets...)
	tg.Stickiness, tg.AppCookieName, tg.StickinessDuration = stickinessAppCookie, "session", time.Hour
	lb := planeTo(t, "127.0.0.35", tg, "append")
	resps := roundTrip(t, lb, "GET /login HTTP/1.1\r\nHost: h\r\n\r\n", 1, "")
	first, _ := io.ReadAll(resps[0].Body)
	var sticky string
	for _, c := range resps[0].Cookies() {
		if c.Name == cookieApp {
			sticky = c.Value
		}
	}
	if sticky == "" {
		t.Fatalf("no %s cookie in %q", cookieApp, resps[0].Header.Values("Set-Cookie"))
	}
	// Without the cookie requests alternate; with it they stay.
	raw := strings.Repeat("GET / HTTP/1.1\r\nHost: h\r\nCookie: "+cookieApp+"="+sticky+"\r\n\r\n", 4)
	for i, a := range summarize(t, roundTrip(t, lb, raw, 4, "")) {
		if a.Body != string(first) {
			t.Errorf("sticky request %d went to %s, want %s", i, a.Body, first)
		}
	}
}

func TestFastPathCloseEndsConnections(t *testing.T) {
	// A request in flight to a target that never answers ends when the
	// plane closes, and Close waits for its goroutine.
	block := make(chan struct{})
	slow := backend(t, "127.0.0.1", "slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(block) })
	lbAddr := freeAddr(t, "127.0.0.36")
	p := New(Options{})
	if err := p.Apply(Config{
		Listeners:    []Listener{{ListenerARN: "l", LoadBalancer: "app/lb/1", Protocol: "HTTP", Address: lbAddr, IdleTimeout: time.Minute, DefaultActions: forward("tg")}},
		TargetGroups: []TargetGroup{testGroup("tg", slow)},
	}); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", lbAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	// Wait until the request is with the target.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := p.groups["tg"].state.Load()
		if st.targets[0].inflight.Load() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("request never reached the target")
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); err == nil {
		t.Errorf("read %d bytes after Close, want the connection closed", n)
	}
}

// BenchmarkProxiedRequestPlane measures kelb alone: a raw keep-alive
// client and a raw target that answer without allocating, so allocs/op is
// what the plane spends on one proxied request.
func BenchmarkProxiedRequestPlane(b *testing.B) {
	target := rawBackendBench(b)
	lb := planeTo(b, "127.0.0.37", testGroup("tg", target), "append")
	conn, err := net.Dial("tcp", lb)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	req := []byte("GET / HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: wrk\r\n\r\n")
	const resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := conn.Write(req); err != nil {
			b.Fatal(err)
		}
		n := 0
		for n < len(resp) {
			k, err := conn.Read(buf[n:])
			if err != nil {
				b.Fatal(err)
			}
			n += k
		}
		if !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 200 OK")) || !bytes.HasSuffix(buf[:n], []byte("\r\n\r\nok")) {
			b.Fatalf("response %q", buf[:n])
		}
	}
}

// rawBackendBench answers each request head (up to its empty line) with a
// fixed response, without allocating.
func rawBackendBench(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	b.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 16<<10)
				n := 0
				for {
					k, err := c.Read(buf[n:])
					if err != nil {
						return
					}
					n += k
					for {
						i := bytes.Index(buf[:n], []byte("\r\n\r\n"))
						if i < 0 {
							break
						}
						if _, err := c.Write(resp); err != nil {
							return
						}
						n = copy(buf, buf[i+4:n])
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestFastPathHTTPS(t *testing.T) {
	a := backend(t, "127.0.0.1", "a", nil)
	cert := testCert(t, "web.test")
	lbAddr := freeAddr(t, "127.0.0.38")
	p, reg := newTestPlane(t, Options{Certificates: certMap{"c": &cert}})
	if err := p.Apply(Config{
		Listeners: []Listener{{ListenerARN: "l", LoadBalancer: "app/lb/1", Protocol: "HTTPS", Address: lbAddr, IdleTimeout: time.Minute,
			HTTP2: true, XFFMode: "append", Certificates: []string{"c"}, DefaultActions: forward("tg")}},
		TargetGroups: []TargetGroup{testGroup("tg", a)},
	}); err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", lbAddr, &tls.Config{ServerName: "web.test", InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	// Two requests on the fast path, then one net/http takes over
	// (chunked request body) on the same connection.
	io.WriteString(conn, "GET /1 HTTP/1.1\r\nHost: web.test\r\n\r\nGET /2 HTTP/1.1\r\nHost: web.test\r\n\r\n"+
		"POST /3 HTTP/1.1\r\nHost: web.test\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n")
	br := bufio.NewReader(conn)
	_, port, _ := net.SplitHostPort(lbAddr)
	var got []string
	for range 3 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		got = append(got, string(body))
	}
	want := []string{
		"a /1 xff=127.0.0.1 proto=https port=" + port,
		"a /2 xff=127.0.0.1 proto=https port=" + port,
		"a /3 xff=127.0.0.1 proto=https port=" + port,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bodies (-want +got):\n%s", diff)
	}
	conn.Close()
	// The connection is counted once, and no longer active once closed.
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := metricValues(t, reg)
		if m["kelb_alb_new_connections_total{app/lb/1}"] == 1 && m["kelb_alb_active_connections{app/lb/1}"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection metrics = %v", m)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFastPathFailedTargetKeepsPipeline(t *testing.T) {
	// A request whose body went to a target that refuses connections is
	// answered 502, and the request after it on the connection still is.
	lb := planeTo(t, "127.0.0.39", testGroup("tg", freeAddr(t, "127.0.0.1")), "append")
	raw := "POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /2 HTTP/1.1\r\nHost: h\r\n\r\n"
	got := summarize(t, roundTrip(t, lb, raw, 2, ""))
	want := []answer{{Status: 502, Body: string(elbErrorBodies[502])}, {Status: 502, Body: string(elbErrorBodies[502])}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("responses (-want +got):\n%s", diff)
	}
}

// FuzzParseRequest checks the fast path's request parser against
// net/http's: a head the fast path takes, net/http takes too, with the same
// method, host, path and query.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /a/b?x=1&y=%20 HTTP/1.1\r\nHost: web.test:8080\r\nContent-Length: 3\r\nConnection: close\r\n\r\n",
		"GET /%7euser HTTP/1.1\r\nhost: h\r\nx-forwarded-for: 1.2.3.4\r\nCookie: a=b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n",
		"GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\n X: folded\r\n\r\n",
		"GET / HTTP/1.1\nHost: h\n\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		end := headEnd(in)
		if end < 0 {
			return
		}
		cc := &clientConn{header: http.Header{}}
		if !cc.parse(in[:end], nil) {
			return
		}
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(in[:end])))
		if err != nil {
			t.Fatalf("fast path took %q, net/http refuses it: %v", in[:end], err)
		}
		got := []string{cc.req.Method, cc.req.Host, cc.req.URL.Path, cc.req.URL.RawQuery}
		want := []string{r.Method, r.Host, r.URL.Path, r.URL.RawQuery}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("parse %q (-net/http +fast path):\n%s", in[:end], diff)
		}
	})
}

// headEnd finds the end of a head as connReader.readHead does, or -1.
func headEnd(s string) int {
	pos := 0
	for {
		i := strings.IndexByte(s[pos:], '\n')
		if i < 0 {
			return -1
		}
		if i == 0 || (i == 1 && s[pos] == '\r') {
			return pos + i + 1
		}
		pos += i + 1
	}
}
