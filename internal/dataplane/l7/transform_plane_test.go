package l7

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kelb-io/kelb/internal/elb"
)

// echoTarget answers with what it received: host, request URI and the TLS
// request headers, and sends its own X-Frame-Options and Server.
func echoTarget(t *testing.T) string {
	t.Helper()
	return backend(t, "127.0.0.1", "echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Frame-Options", "SAMEORIGIN")
		w.Header().Set("Server", "echo")
		fmt.Fprintf(w, "host=%s uri=%s tlsv=%s tlsc=%s", r.Host, r.RequestURI, r.Header.Get("X-Tls-Version"), r.Header.Get("X-Amzn-Tls-Cipher-Suite"))
	}))
}

func transformRules() []elb.Rule {
	rw := func(typ, re, rep string) elb.RuleTransform {
		l := &elb.RewriteList{Rewrites: []elb.RewriteConfig{{Regex: re, Replace: rep}}}
		if typ == elb.TransformURLRewrite {
			return elb.RuleTransform{Type: typ, URLRewrite: l}
		}
		return elb.RuleTransform{Type: typ, HostHeaderRewrite: l}
	}
	return []elb.Rule{
		{ARN: "api", Conditions: []elb.RuleCondition{{Field: "path-pattern", RegexValues: []string{`^/api/v[0-9]+/`}}},
			Actions: forward("tg"),
			Transforms: []elb.RuleTransform{
				rw(elb.TransformHostHeaderRewrite, `^(.+)\.example\.com$`, "$1.internal"),
				rw(elb.TransformURLRewrite, `^/api/v[0-9]+/(.*)$`, "/$1"),
			}},
		{ARN: "go", Conditions: []elb.RuleCondition{{Field: "path-pattern", RegexValues: []string{`^/go/`}}},
			Actions:    []elb.Action{{Type: elb.ActionRedirect, Redirect: &elb.RedirectConfig{Protocol: "#{protocol}", Port: "#{port}", Host: "#{host}", Path: "/#{path}", Query: "#{query}", StatusCode: "HTTP_302"}}},
			Transforms: []elb.RuleTransform{rw(elb.TransformURLRewrite, `^/go/(.*)$`, "/dest/$1")}},
		{ARN: "broken", Conditions: []elb.RuleCondition{{Field: "path-pattern", RegexValues: []string{`^/broken`}}},
			Actions:    forward("tg"),
			Transforms: []elb.RuleTransform{rw(elb.TransformURLRewrite, `^/broken(.*)$`, "nope$1")}},
		{ARN: "fixed", Conditions: []elb.RuleCondition{{Field: "host-header", RegexValues: []string{`^fixed\.`}}},
			Actions: []elb.Action{{Type: elb.ActionFixedResponse, FixedResponse: &elb.FixedResponseConfig{StatusCode: "200", ContentType: "text/plain", MessageBody: "fixed"}}}},
	}
}

// rawGet sends one request with the given protocol version over a new
// connection (an HTTP/1.0 request is served by net/http, an HTTP/1.1 one
// by the fast path) and returns the response.
func rawGet(t *testing.T, dial func() (net.Conn, error), proto, host, target string, header ...string) (*http.Response, string) {
	t.Helper()
	c, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + target + " " + proto + "\r\nHost: " + host + "\r\n"
	for i := 0; i+1 < len(header); i += 2 {
		req += header[i] + ": " + header[i+1] + "\r\n"
	}
	if _, err := io.WriteString(c, req+"Connection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s %s %s: %v", proto, host, target, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestPlaneTransformsAndResponseHeaders(t *testing.T) {
	target := echoTarget(t)
	lbAddr := freeAddr(t, "127.0.0.25")
	p, _ := newTestPlane(t, Options{})
	if err := p.Apply(Config{
		Listeners: []Listener{{ListenerARN: "l", LoadBalancer: "app/lb/1", Protocol: "HTTP", Address: lbAddr, IdleTimeout: time.Minute,
			Rules: transformRules(), DefaultActions: forward("tg"),
			ResponseHeaders: []Header{{"Strict-Transport-Security", "max-age=60"}, {"X-Frame-Options", "DENY"}}, NoServerHeader: true}},
		TargetGroups: []TargetGroup{testGroup("tg", target)},
	}); err != nil {
		t.Fatal(err)
	}
	dial := func() (net.Conn, error) { return net.Dial("tcp", lbAddr) }
	_, port, _ := net.SplitHostPort(lbAddr)
	for _, proto := range []string{"HTTP/1.1", "HTTP/1.0"} {
		t.Run(proto, func(t *testing.T) {
			tests := []struct {
				name, host, target string
				status             int
				body, location     string
				server             string
			}{
				{"rewritten", "shop.example.com", "/api/v2/users/7?x=1", 200, "host=shop.internal uri=/users/7?x=1 tlsv= tlsc=", "", "echo"},
				{"regex does not match", "shop.example.com", "/api/vX/users", 200, "host=shop.example.com uri=/api/vX/users tlsv= tlsc=", "", "echo"},
				{"redirect sees the rewritten path", "a.test", "/go/x?q=1", 302, "", "http://a.test:" + port + "/dest/x?q=1", ""},
				{"transform that fails", "a.test", "/broken/x", 500, "", "", ""},
				{"fixed response", "fixed.test", "/", 200, "fixed", "", ""},
			}
			for _, tt := range tests {
				resp, body := rawGet(t, dial, proto, tt.host, tt.target)
				if resp.StatusCode != tt.status || (tt.body != "" && body != tt.body) {
					t.Errorf("%s: %d %q, want %d %q", tt.name, resp.StatusCode, body, tt.status, tt.body)
				}
				if got := resp.Header.Get("Location"); got != tt.location {
					t.Errorf("%s: Location %q, want %q", tt.name, got, tt.location)
				}
				if got := resp.Header.Values("X-Frame-Options"); len(got) != 1 || got[0] != "DENY" {
					t.Errorf("%s: X-Frame-Options %q, want [DENY]", tt.name, got)
				}
				if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=60" {
					t.Errorf("%s: Strict-Transport-Security %q", tt.name, got)
				}
				// server.enabled=false removes ALB's Server header; a target's own stays.
				if got := resp.Header.Get("Server"); got != tt.server {
					t.Errorf("%s: Server %q, want %q", tt.name, got, tt.server)
				}
			}
		})
	}
}

// A request kelb cannot read gets ALB's 400 page with the listener's
// headers too.
func TestPlaneResponseHeadersOnMalformedRequest(t *testing.T) {
	lbAddr := freeAddr(t, "127.0.0.25")
	p, _ := newTestPlane(t, Options{})
	if err := p.Apply(Config{
		Listeners: []Listener{{ListenerARN: "l", LoadBalancer: "app/lb/1", Protocol: "HTTP", Address: lbAddr, IdleTimeout: time.Minute,
			DefaultActions:  []elb.Action{{Type: elb.ActionFixedResponse, FixedResponse: &elb.FixedResponseConfig{StatusCode: "200"}}},
			ResponseHeaders: []Header{{"X-Frame-Options", "DENY"}}, NoServerHeader: true}},
	}); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", lbAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.test\r\nNo colon here\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Server") != "" {
		t.Errorf("malformed request: %d, headers %v; want 400 with X-Frame-Options DENY and no Server", resp.StatusCode, resp.Header)
	}
}

func TestPlaneTLSHeaders(t *testing.T) {
	target := echoTarget(t)
	cert := testCert(t, "tls.test")
	lbAddr := freeAddr(t, "127.0.0.26")
	p, _ := newTestPlane(t, Options{Certificates: certMap{"c": &cert}})
	if err := p.Apply(Config{
		Listeners: []Listener{{ListenerARN: "l", LoadBalancer: "app/lb/1", Protocol: "HTTPS", Address: lbAddr, IdleTimeout: time.Minute,
			HTTP2: true, Certificates: []string{"c"}, SSLPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06", DefaultActions: forward("tg"),
			TLSVersionHeader: "X-Tls-Version", TLSCipherHeader: "X-Amzn-Tls-Cipher-Suite"}},
		TargetGroups: []TargetGroup{testGroup("tg", target)},
	}); err != nil {
		t.Fatal(err)
	}
	tls12 := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}
	tls13 := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	for _, tt := range []struct {
		name, proto string
		conf        *tls.Config
		want        string
	}{
		{"fast path TLS 1.2", "HTTP/1.1", tls12, "tlsv=TLSv1.2 tlsc=ECDHE-ECDSA-AES128-GCM-SHA256"},
		{"net/http TLS 1.3", "HTTP/1.0", tls13, "tlsv=TLSv1.3 tlsc=TLS_AES_128_GCM_SHA256"},
	} {
		dial := func() (net.Conn, error) { return tls.Dial("tcp", lbAddr, tt.conf) }
		// A client's own header of that name never reaches the target.
		_, body := rawGet(t, dial, tt.proto, "tls.test", "/", "X-Tls-Version", "forged")
		if !strings.HasSuffix(body, tt.want) {
			t.Errorf("%s: target saw %q, want %q", tt.name, body, tt.want)
		}
	}
	// HTTP/2 (ALPN h2): net/http with the connection's own TLS state.
	tr := &http.Transport{TLSClientConfig: tls13.Clone(), ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr}).Get("https://" + lbAddr + "/h2")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || !strings.HasSuffix(string(b), "tlsv=TLSv1.3 tlsc=TLS_AES_128_GCM_SHA256") {
		t.Errorf("h2: %s %q", resp.Proto, b)
	}
}

// kelb's request header transforms set, add and remove headers, on either
// path a request arrives by; a rule without them leaves headers alone.
func TestPlaneRequestHeaderTransforms(t *testing.T) {
	target := backend(t, "127.0.0.1", "echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, h := range []string{"X-Set", "X-Add", "X-Remove", "X-Keep"} {
			fmt.Fprintf(w, "%s=%s;", h, strings.Join(r.Header.Values(h), ","))
		}
	}))
	lbAddr := freeAddr(t, "127.0.0.25")
	p, _ := newTestPlane(t, Options{})
	hdr := func(typ string, kv ...string) elb.RuleTransform {
		l := &elb.RewriteList{}
		for i := 0; i+1 < len(kv); i += 2 {
			l.Rewrites = append(l.Rewrites, elb.RewriteConfig{Regex: kv[i], Replace: kv[i+1]})
		}
		return elb.RuleTransform{Type: typ, HostHeaderRewrite: l}
	}
	rules := []elb.Rule{{ARN: "mod", Conditions: []elb.RuleCondition{{Field: "path-pattern", Values: []string{"/mod"}}},
		Actions: forward("tg"),
		Transforms: []elb.RuleTransform{
			// Given out of order: removals run last whatever the order.
			hdr(elb.TransformRequestHeaderRemove, "x-remove", ""),
			hdr(elb.TransformRequestHeaderSet, "x-set", "new"),
			hdr(elb.TransformRequestHeaderAdd, "X-Add", "two"),
		}}}
	if err := p.Apply(Config{
		Listeners:    []Listener{{ListenerARN: "l", LoadBalancer: "app/lb/1", Protocol: "HTTP", Address: lbAddr, IdleTimeout: time.Minute, Rules: rules, DefaultActions: forward("tg")}},
		TargetGroups: []TargetGroup{testGroup("tg", target)},
	}); err != nil {
		t.Fatal(err)
	}
	dial := func() (net.Conn, error) { return net.Dial("tcp", lbAddr) }
	for _, proto := range []string{"HTTP/1.1", "HTTP/1.0"} {
		for _, tt := range []struct{ target, want string }{
			{"/mod", "X-Set=new;X-Add=one,two;X-Remove=;X-Keep=k;"},
			{"/other", "X-Set=old;X-Add=one;X-Remove=gone;X-Keep=k;"},
		} {
			resp, body := rawGet(t, dial, proto, "a.test", tt.target, "X-Set", "old", "X-Add", "one", "X-Remove", "gone", "X-Keep", "k")
			if resp.StatusCode != 200 || body != tt.want {
				t.Errorf("%s %s: %d %q, want %q", proto, tt.target, resp.StatusCode, body, tt.want)
			}
		}
	}
}
