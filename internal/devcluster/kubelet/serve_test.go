package kubelet

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/kelb-io/kelb/internal/devcluster/kubelet/netnstest"
)

func TestEchoBody(t *testing.T) {
	info := podInfo{Name: "echo-7d4f", Namespace: "demo", Node: "ip-198-18-0-11.us-west-2.compute.internal", IP: netip.MustParseAddr("198.18.1.2")}
	r := httptest.NewRequest("GET", "/hello?x=1", nil)
	r.RemoteAddr = "198.18.0.12:41234"
	r.Host = "198.18.1.2:8080"
	r.Header = http.Header{"User-Agent": {"curl/8.0"}, "Accept": {"*/*"}}
	got := echoBody(info, r, nil)
	want := "\n\nHostname: echo-7d4f\n\n" +
		"Pod Information:\n" +
		"\tnode name:\tip-198-18-0-11.us-west-2.compute.internal\n" +
		"\tpod name:\techo-7d4f\n" +
		"\tpod namespace:\tdemo\n" +
		"\tpod IP:\t198.18.1.2\n\n" +
		"Server values:\n\tserver_version=kelb\n\n" +
		"Request Information:\n" +
		"\tclient_address=198.18.0.12\n" +
		"\tmethod=GET\n" +
		"\treal path=/hello\n" +
		"\tquery=x=1\n" +
		"\trequest_version=1.1\n" +
		"\trequest_scheme=http\n" +
		"\trequest_uri=http://198.18.1.2:/hello?x=1\n\n" +
		"Request Headers:\n" +
		"\taccept=*/*\n" +
		"\thost=198.18.1.2:8080\n" +
		"\tuser-agent=curl/8.0\n\n" +
		"Request Body:\n\t-no body in request-\n\n\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("echo body mismatch (-want +got):\n%s", diff)
	}
}

func TestClassifyPrefix(t *testing.T) {
	tests := []struct {
		in   string
		want prefixClass
	}{
		{"G", prefixUndecided},
		{"GET", prefixUndecided},
		{"GET ", prefixHTTP},
		{"POST /x", prefixHTTP},
		{"OPTIONS ", prefixHTTP},
		{"P", prefixUndecided},
		{"hello", prefixOther},
		{"GETX", prefixOther},
		{"\x16\x03\x01", prefixOther},
	}
	for _, tt := range tests {
		if got := classifyPrefix([]byte(tt.in)); got != tt.want {
			t.Errorf("classifyPrefix(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestRequestDelay(t *testing.T) {
	tests := []struct {
		url, header string
		want        time.Duration
		ok          bool
	}{
		{"/", "", 0, false},
		{"/?delay=5s", "", 5 * time.Second, true},
		{"/?delay=1.5", "", 1500 * time.Millisecond, true},
		{"/", "250ms", 250 * time.Millisecond, true},
		{"/?delay=nonsense", "", 0, false},
		{"/?delay=-1s", "", 0, false},
		{"/?delay=100h", "", maxDelay, true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", tt.url, nil)
		if tt.header != "" {
			r.Header.Set(DelayHeader, tt.header)
		}
		got, ok := requestDelay(r)
		if got != tt.want || ok != tt.ok {
			t.Errorf("requestDelay(%s, header %q) = %v, %v; want %v, %v", tt.url, tt.header, got, ok, tt.want, tt.ok)
		}
	}
}

// startTestPodServer runs a pod server on 198.18.1.2 (inside a test network
// namespace) serving TCP 80 and UDP 5353.
func startTestPodServer(t *testing.T) *podServer {
	t.Helper()
	info := podInfo{Name: "echo-1", Namespace: "default", Node: "ip-198-18-0-11.us-west-2.compute.internal", IP: netip.MustParseAddr("198.18.1.2")}
	eps, err := echoserver(container{Pod: info, Ports: []portSpec{{80, corev1.ProtocolTCP}, {5353, corev1.ProtocolUDP}}})
	if err != nil {
		t.Fatal(err)
	}
	s := newPodServer(info, eps, slog.New(slog.DiscardHandler))
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.shutdown(ctx)
	})
	return s
}

// clientFrom returns an HTTP client whose connections come from src.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func TestPodServerServes(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	s := startTestPodServer(t)

	t.Run("http echo", func(t *testing.T) {
		code, body := get(t, clientFrom("198.18.0.99"), "http://198.18.1.2/path?q=1")
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		for _, want := range []string{"Hostname: echo-1\n", "\tpod IP:\t198.18.1.2\n", "client_address=198.18.0.99\n", "real path=/path\n", "query=q=1\n"} {
			if !strings.Contains(body, want) {
				t.Errorf("body lacks %q:\n%s", want, body)
			}
		}
	})

	t.Run("keep-alive", func(t *testing.T) {
		c, err := net.Dial("tcp", "198.18.1.2:80")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for i := range 2 {
			if _, err := io.WriteString(c, "GET /k HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("response %d on one connection: %v", i, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})

	t.Run("tcp echo", func(t *testing.T) {
		c, err := net.Dial("tcp", "198.18.1.2:80")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "hello kelb\n"); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "hello kelb\n" {
			t.Errorf("echo = %q", got)
		}
	})

	t.Run("udp echo", func(t *testing.T) {
		c, err := net.Dial("udp", "198.18.1.2:5353")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if string(buf[:n]) != "ping" {
			t.Errorf("udp echo = %q", buf[:n])
		}
	})

	t.Run("fail readiness answers 503", func(t *testing.T) {
		s.setFail(FailReadiness)
		defer s.setFail("")
		if code, _ := get(t, clientFrom("198.18.0.99"), "http://198.18.1.2/"); code != 503 {
			t.Errorf("status %d, want 503", code)
		}
	})

	t.Run("fail all refuses, recovery listens again", func(t *testing.T) {
		if err := s.setFail(FailAll); err != nil {
			t.Fatal(err)
		}
		_, err := net.Dial("tcp", "198.18.1.2:80")
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial while failing all: %v, want connection refused", err)
		}
		if err := s.setFail(""); err != nil {
			t.Fatal(err)
		}
		if code, _ := get(t, clientFrom("198.18.0.99"), "http://198.18.1.2/"); code != 200 {
			t.Errorf("after recovery: status %d", code)
		}
	})
}

func TestPodServerShutdownFinishesInFlight(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	s := startTestPodServer(t)
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := clientFrom("198.18.0.99").Get("http://198.18.1.2/?delay=1s")
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{code: resp.StatusCode}
	}()
	// Wait until the request is in flight: the connection is tracked by the
	// HTTP server once sniffed; poll with a short sleep.
	waitFor(t, 10*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.conns) == 0 && s.listening
	})
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	shut := make(chan struct{})
	go func() { s.shutdown(ctx); close(shut) }()
	waitFor(t, 10*time.Second, func() bool {
		c, err := net.Dial("tcp", "198.18.1.2:80")
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	r := <-done
	if r.err != nil || r.code != 200 {
		t.Errorf("in-flight request during shutdown: code %d, err %v; want 200", r.code, r.err)
	}
	<-shut
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
