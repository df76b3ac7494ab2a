package l7

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kelb-io/kelb/internal/elb"
)

// freeAddr returns an unused TCP address on ip.
func freeAddr(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// backend starts an HTTP server on ip that answers with its name, and
// returns its address.
func backend(t *testing.T, ip, name string, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Backend", name)
			fmt.Fprintf(w, "%s %s xff=%s proto=%s port=%s", name, r.URL.Path,
				r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Port"))
		})
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func newTestPlane(t *testing.T, opts Options) (*Plane, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	p := New(opts)
	t.Cleanup(func() { p.Close() })
	return p, reg
}

func forward(arns ...string) []elb.Action {
	fc := &elb.ForwardConfig{}
	for _, a := range arns {
		fc.TargetGroups = append(fc.TargetGroups, elb.WeightedTargetGroup{TargetGroupARN: a, Weight: 1})
	}
	return []elb.Action{{Type: elb.ActionForward, Forward: fc}}
}

func testGroup(arn string, targets ...string) TargetGroup {
	return TargetGroup{ARN: arn, Label: arn, Protocol: "HTTP", ProtocolVersion: "HTTP1", Algorithm: algorithmRoundRobin,
		ResponseTimeout: 5 * time.Second, Routing: RoutingHealthy, Targets: targets}
}

func get(t *testing.T, c *http.Client, url string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if strings.Contains(url, "://h.test") {
		req.Host = "h.test"
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestPlaneRoutesAndAnswers(t *testing.T) {
	a := backend(t, "127.0.0.1", "a", nil)
	b := backend(t, "127.0.0.1", "b", nil)
	slow := backend(t, "127.0.0.1", "slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	closer := backend(t, "127.0.0.1", "closer", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	refused := freeAddr(t, "127.0.0.1")
	lbAddr := freeAddr(t, "127.0.0.21")
	p, reg := newTestPlane(t, Options{})
	slowGroup := testGroup("tg-slow", slow)
	slowGroup.ResponseTimeout = 200 * time.Millisecond
	cfg := Config{
		Listeners: []Listener{{
			ListenerARN: "l1", LoadBalancer: "app/lb/1", Protocol: "HTTP", Address: lbAddr,
			IdleTimeout: time.Minute, XFFMode: "append", HTTP2: true,
			Rules: []elb.Rule{
				{ARN: "r-fixed", Conditions: []elb.RuleCondition{cond("path-pattern", "/fixed")},
					Actions: []elb.Action{{Type: elb.ActionFixedResponse, FixedResponse: &elb.FixedResponseConfig{StatusCode: "418", ContentType: "text/plain", MessageBody: "teapot"}}}},
				{ARN: "r-redirect", Conditions: []elb.RuleCondition{cond("path-pattern", "/old/*")},
					Actions: []elb.Action{{Type: elb.ActionRedirect, Redirect: &elb.RedirectConfig{Protocol: "HTTPS", Port: "443", Path: "/new/#{path}", StatusCode: "HTTP_301"}}}},
				{ARN: "r-b", Conditions: []elb.RuleCondition{cond("host-header", "h.test")}, Actions: forward("tg-b")},
				{ARN: "r-empty", Conditions: []elb.RuleCondition{cond("path-pattern", "/empty")}, Actions: forward("tg-empty")},
				{ARN: "r-slow", Conditions: []elb.RuleCondition{cond("path-pattern", "/slow")}, Actions: forward("tg-slow")},
				{ARN: "r-closer", Conditions: []elb.RuleCondition{cond("path-pattern", "/closer")}, Actions: forward("tg-closer")},
				{ARN: "r-refused", Conditions: []elb.RuleCondition{cond("path-pattern", "/refused")}, Actions: forward("tg-refused")},
			},
			DefaultActions: forward("tg-a"),
		}},
		TargetGroups: []TargetGroup{
			testGroup("tg-a", a), testGroup("tg-b", b),
			{ARN: "tg-empty", Label: "tg-empty", Routing: RoutingNoTargets, Protocol: "HTTP"},
			slowGroup, testGroup("tg-closer", closer), testGroup("tg-refused", refused),
		},
	}
	if err := p.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	_, port, _ := net.SplitHostPort(lbAddr)
	base := "http://" + lbAddr
	tests := []struct {
		name, path string
		header     []string
		wantCode   int
		wantBody   string
		wantHeader map[string]string
	}{
		{name: "default action", path: "/x", wantCode: 200, wantBody: "a /x xff=127.0.0.1 proto=http port=" + port},
		{name: "xff appended", path: "/x", header: []string{"X-Forwarded-For", "203.0.113.9"}, wantCode: 200,
			wantBody: "a /x xff=203.0.113.9, 127.0.0.1 proto=http port=" + port},
		{name: "host rule", path: "/y", header: []string{"Host", "h.test"}, wantCode: 200, wantBody: "b /y"},
		{name: "fixed response", path: "/fixed", wantCode: 418, wantBody: "teapot", wantHeader: map[string]string{"Content-Type": "text/plain"}},
		{name: "redirect", path: "/old/page?q=1", wantCode: 301, wantHeader: map[string]string{"Location": "https://127.0.0.21:443/new/old/page?q=1"}},
		{name: "no targets", path: "/empty", wantCode: 503, wantBody: "503 Service Temporarily Unavailable"},
		{name: "target timeout", path: "/slow", wantCode: 504, wantBody: "504 Gateway Timeout"},
		{name: "target closes", path: "/closer", wantCode: 502, wantBody: "502 Bad Gateway"},
		{name: "target refuses", path: "/refused", wantCode: 502, wantBody: "502 Bad Gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, base+tt.path, nil)
			for i := 0; i+1 < len(tt.header); i += 2 {
				if tt.header[i] == "Host" {
					req.Host = tt.header[i+1]
					continue
				}
				req.Header.Set(tt.header[i], tt.header[i+1])
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Errorf("status = %d, want %d (body %q)", resp.StatusCode, tt.wantCode, body)
			}
			if !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("body = %q, want it to contain %q", body, tt.wantBody)
			}
			for k, v := range tt.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
	got := metricValues(t, reg)
	want := map[string]float64{
		"kelb_alb_requests_total{app/lb/1,tg-slow,5xx,elb}":    1,
		"kelb_alb_requests_total{app/lb/1,tg-closer,5xx,elb}":  1,
		"kelb_alb_requests_total{app/lb/1,tg-refused,5xx,elb}": 1,
		"kelb_alb_requests_total{app/lb/1,tg-empty,5xx,elb}":   1,
		"kelb_alb_requests_total{app/lb/1,tg-a,2xx,target}":    2,
		"kelb_alb_requests_total{app/lb/1,tg-b,2xx,target}":    1,
		"kelb_alb_requests_total{app/lb/1,,3xx,elb}":           1,
		"kelb_alb_requests_total{app/lb/1,,4xx,elb}":           1,
		"kelb_alb_target_response_time_seconds{app/lb/1,tg-a}": 2,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestPlaneMalformedRequest(t *testing.T) {
	a := backend(t, "127.0.0.1", "a", nil)
	lbAddr := freeAddr(t, "127.0.0.22")
	p, _ := newTestPlane(t, Options{})
	if err := p.Apply(Config{
		Listeners:    []Listener{{ListenerARN: "l", LoadBalancer: "app/lb/1", Protocol: "HTTP", Address: lbAddr, IdleTimeout: time.Minute, DefaultActions: forward("tg")}},
		TargetGroups: []TargetGroup{testGroup("tg", a)},
	}); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", lbAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /\x01bad HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 {
		t.Errorf("status = %d, want 400", resp.StatusCode)
	}
}

func TestPlaneStickinessAndKeepAlive(t *testing.T) {
	var targets []string
	for i := range 3 {
		targets = append(targets, backend(t, "127.0.0.1", fmt.Sprintf("t%d", i), nil))
	}
	lbAddr := freeAddr(t, "127.0.0.23")
	p, _ := newTestPlane(t, Options{})
	tg := testGroup("tg", targets...)
	tg.Stickiness, tg.StickinessDuration = stickinessLBCookie, time.Hour
	if err := p.Apply(Config{
		Listeners:    []Listener{{ListenerARN: "l", LoadBalancer: "app/lb/1", Protocol: "HTTP", Address: lbAddr, IdleTimeout: time.Minute, DefaultActions: forward("tg")}},
		TargetGroups: []TargetGroup{tg},
	}); err != nil {
		t.Fatal(err)
	}
	// Without the cookie, round robin spreads requests over every target.
	seen := map[string]int{}
	conns := 0
	tr := &http.Transport{DialContext: func(ctx context.Context, n, a string) (net.Conn, error) {
		conns++
		return (&net.Dialer{}).DialContext(ctx, n, a)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	var cookie string
	for range 6 {
		_, body, h := get(t, c, "http://"+lbAddr+"/")
		seen[strings.Fields(body)[0]]++
		cookie = h.Get("Set-Cookie")
	}
	if diff := cmp.Diff(map[string]int{"t0": 2, "t1": 2, "t2": 2}, seen); diff != "" {
		t.Errorf("round robin spread (-want +got):\n%s", diff)
	}
	if conns != 1 {
		t.Errorf("client dialed %d connections for 6 requests, want 1 (keep-alive)", conns)
	}
	if !strings.HasPrefix(cookie, cookieLB+"=") {
		t.Fatalf("Set-Cookie = %q, want an %s cookie", cookie, cookieLB)
	}
	value := strings.TrimPrefix(strings.Split(cookie, ";")[0], cookieLB+"=")
	first := ""
	for i := range 5 {
		_, body, _ := get(t, c, "http://"+lbAddr+"/", "Cookie", cookieLB+"="+value)
		name := strings.Fields(body)[0]
		if i == 0 {
			first = name
		} else if name != first {
			t.Fatalf("sticky request %d went to %s, earlier ones to %s", i, name, first)
		}
	}
}

// metricValues returns every non-zero series of reg as name{label values}:
// counter and gauge values, and histogram sample counts.
func metricValues(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			// Label values in the order the collectors declare them.
			byName := map[string]string{}
			for _, l := range m.GetLabel() {
				byName[l.GetName()] = l.GetValue()
			}
			var labels []string
			for _, n := range []string{"load_balancer", "target_group", "code_class", "origin"} {
				if v, ok := byName[n]; ok {
					labels = append(labels, v)
				}
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
			if v != 0 {
				out[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = v
			}
		}
	}
	return out
}

// testCert returns a self-signed certificate for names.
func testCert(t *testing.T, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

type certMap map[string]*tls.Certificate

func (m certMap) TLSCertificate(arn string) (*tls.Certificate, error) {
	if c, ok := m[arn]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("certificate %s not found", arn)
}

func TestPlaneHTTPSWithSNIAndHTTP2(t *testing.T) {
	a := backend(t, "127.0.0.1", "a", nil)
	one, two := testCert(t, "one.test"), testCert(t, "two.test", "*.two.test")
	lbAddr := freeAddr(t, "127.0.0.24")
	p, _ := newTestPlane(t, Options{Certificates: certMap{"c1": &one, "c2": &two}})
	if err := p.Apply(Config{
		Listeners: []Listener{{ListenerARN: "l", LoadBalancer: "app/lb/1", Protocol: "HTTPS", Address: lbAddr, IdleTimeout: time.Minute,
			HTTP2: true, Certificates: []string{"c1", "c2"}, DefaultActions: forward("tg")}},
		TargetGroups: []TargetGroup{testGroup("tg", a)},
	}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		sni, wantCN string
	}{
		{"one.test", "one.test"},
		{"www.two.test", "two.test"},
		{"unknown.test", "one.test"}, // the default certificate
	}
	for _, tt := range tests {
		t.Run(tt.sni, func(t *testing.T) {
			tr := &http.Transport{
				TLSClientConfig:   &tls.Config{ServerName: tt.sni, InsecureSkipVerify: true},
				ForceAttemptHTTP2: true,
			}
			t.Cleanup(tr.CloseIdleConnections)
			resp, err := (&http.Client{Transport: tr}).Get("https://" + lbAddr + "/h2")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if cn := resp.TLS.PeerCertificates[0].Subject.CommonName; cn != tt.wantCN {
				t.Errorf("certificate CN = %q, want %q", cn, tt.wantCN)
			}
			if resp.ProtoMajor != 2 {
				t.Errorf("protocol = %s, want HTTP/2", resp.Proto)
			}
			if !strings.Contains(string(body), "proto=https") {
				t.Errorf("body = %q, want X-Forwarded-Proto https", body)
			}
		})
	}
}
