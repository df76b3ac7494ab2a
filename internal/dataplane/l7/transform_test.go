package l7

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"testing"

	"github.com/kelb-io/kelb/internal/elb"
)

func TestRouterMatchRegex(t *testing.T) {
	rules := []elb.Rule{
		{ARN: "path", Conditions: []elb.RuleCondition{{Field: "path-pattern", RegexValues: []string{`^/api/v[0-9]+/`, `\.php$`}}}},
		{ARN: "host", Conditions: []elb.RuleCondition{{Field: "host-header", RegexValues: []string{`^(www|api)\.example\.com$`}}}},
		{ARN: "header", Conditions: []elb.RuleCondition{{Field: "http-header", HeaderName: "user-agent", RegexValues: []string{`(?i)mobile`}}}},
	}
	rt, err := newRouter(rules)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, target, host, ua, want string
	}{
		{"path regex", "/api/v2/users", "x", "", "path"},
		{"path regex second", "/index.php", "x", "", "path"},
		{"path regex is case-sensitive", "/API/v2/users", "x", "", "default"},
		{"path regex ignores the query", "/v1?u=/api/v1/", "x", "", "default"},
		{"path regex needs a digit", "/api/vX/", "x", "", "default"},
		{"host regex", "/", "api.example.com", "", "host"},
		{"host regex ignores the port", "/", "www.example.com:8080", "", "host"},
		{"host regex anchored", "/", "evil-www.example.com", "", "default"},
		{"header regex", "/", "x", "Foo Mobile Safari", "header"},
		{"header regex mismatch", "/", "x", "Desktop", "default"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, tt.target, nil)
		r.Host = tt.host
		if tt.ua != "" {
			r.Header.Set("User-Agent", tt.ua)
		}
		got := "default"
		if i := rt.Match(r, netip.MustParseAddr("192.0.2.1")); i >= 0 {
			got = rules[i].ARN
		}
		if got != tt.want {
			t.Errorf("%s: Match = %s, want %s", tt.name, got, tt.want)
		}
	}
	if _, err := newRouter([]elb.Rule{{Conditions: []elb.RuleCondition{{Field: "path-pattern", RegexValues: []string{`^/(?=a)`}}}}}); err == nil {
		t.Error("a lookahead compiled")
	}
}

func TestRewriteURL(t *testing.T) {
	tests := []struct {
		regex, replace, target, want string
		changed, fails               bool
	}{
		{`^/api/(.+)$`, "/$1", "/api/users/7", "/users/7", true, false},
		{`^/api/(.+)$`, "/$1", "/api/users?page=2", "/users?page=2", true, false},
		{`^/api/(.+)$`, "/$1", "/web/users", "/web/users", false, false},
		{`^/dp/([A-Za-z0-9]+)/?$`, "/product.php?id=$1", "/dp/B09G3HRMVB", "/product.php?id=B09G3HRMVB", true, false},
		{`^/dp/([A-Za-z0-9]+)/?$`, "/product.php?id=$1", "/dp/B09?ref=x", "/product.php?id=B09&ref=x", true, false},
		{`^/old/`, "/new/", "/old/a/old/b", "/new/a/old/b", true, false},
		{`v1`, "v2", "/api/v1/x/v1", "/api/v2/x/v2", true, false},
		{`^/(.*)$`, "/$1x", "/a", "/ax", true, false},
		{`^/(.*)$`, "$1", "/a", "", true, true},   // no leading slash: 500
		{`^/(.*)$`, "/a b", "/a", "", true, true}, // not a valid target: 500
		{`^/(.*)$`, "/x?", "/a?q=1", "/x?q=1", true, false},
	}
	for _, tt := range tests {
		rw := &rewrite{re: mustRegex(t, tt.regex), template: elb.RewriteTemplate(tt.replace)}
		got, changed, err := rw.rewriteURL(tt.target)
		if tt.fails {
			if err == nil {
				t.Errorf("rewriteURL(%q, %q→%q) = %q, want an error", tt.target, tt.regex, tt.replace, got)
			}
			continue
		}
		if err != nil || got != tt.want || changed != tt.changed {
			t.Errorf("rewriteURL(%q, %q→%q) = %q, %v, %v; want %q, %v", tt.target, tt.regex, tt.replace, got, changed, err, tt.want, tt.changed)
		}
	}
}

func TestRewriteHost(t *testing.T) {
	tests := []struct {
		regex, replace, host, want string
		changed, fails             bool
	}{
		{`^mywebsite-(.+)\.com$`, "internal.dev.$1.myweb.com", "mywebsite-example.com", "internal.dev.example.myweb.com", true, false},
		{`^(.+)\.example\.com$`, "$1.example.org", "shop.example.com:8080", "shop.example.org:8080", true, false},
		{`^(.+)\.example\.com$`, "$1.example.org", "shop.example.net", "shop.example.net", false, false},
		{`^.*$`, "", "a.example.com", "", true, true},
		{`^.*$`, "bad host/", "a.example.com", "", true, true},
	}
	for _, tt := range tests {
		rw := &rewrite{re: mustRegex(t, tt.regex), template: elb.RewriteTemplate(tt.replace)}
		got, changed, err := rw.rewriteHost(tt.host)
		if tt.fails {
			if err == nil {
				t.Errorf("rewriteHost(%q) = %q, want an error", tt.host, got)
			}
			continue
		}
		if err != nil || got != tt.want || changed != tt.changed {
			t.Errorf("rewriteHost(%q) = %q, %v, %v; want %q, %v", tt.host, got, changed, err, tt.want, tt.changed)
		}
	}
}

func TestTransformApply(t *testing.T) {
	tr, err := compileTransforms([]elb.RuleTransform{
		{Type: elb.TransformHostHeaderRewrite, HostHeaderRewrite: &elb.RewriteList{Rewrites: []elb.RewriteConfig{{Regex: `^(.+)\.example\.com$`, Replace: "$1.internal"}}}},
		{Type: elb.TransformURLRewrite, URLRewrite: &elb.RewriteList{Rewrites: []elb.RewriteConfig{{Regex: `^/api/(.*)$`, Replace: "/$1"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/api/users%2F7?x=1", nil)
	r.Host = "shop.example.com"
	host, url, err := tr.apply(r)
	if err != nil || !host || !url {
		t.Fatalf("apply = %v, %v, %v", host, url, err)
	}
	if r.Host != "shop.internal" || r.RequestURI != "/users%2F7?x=1" || r.URL.Path != "/users/7" || r.URL.RawQuery != "x=1" {
		t.Errorf("after apply: host %q, request URI %q, path %q, query %q", r.Host, r.RequestURI, r.URL.Path, r.URL.RawQuery)
	}
	if r.URL.EscapedPath() != "/users%2F7" {
		t.Errorf("escaped path = %q", r.URL.EscapedPath())
	}
}

func TestRebuildHead(t *testing.T) {
	fwd := []byte("GET /api/a HTTP/1.1\r\nHost: a.example.com\r\nX-Amzn-Tls-Version: forged\r\nAccept: */*\r\n")
	got := string(rebuildHead(nil, fwd, "GET /a HTTP/1.1", "a.internal", "x-amzn-tls-version"))
	want := "GET /a HTTP/1.1\r\nHost: a.internal\r\nAccept: */*\r\n"
	if got != want {
		t.Errorf("rebuildHead = %q, want %q", got, want)
	}
	if got := string(rebuildHead(nil, fwd, "", "")); got != string(fwd) {
		t.Errorf("rebuildHead without changes = %q", got)
	}
}

func TestResponseHeaders(t *testing.T) {
	got, noServer := responseHeaders(map[string]string{
		"routing.http.response.x_frame_options.header_value":           "DENY",
		"routing.http.response.strict_transport_security.header_value": "max-age=60",
		"routing.http.response.x_content_type_options.header_value":    "",
		elb.AttrResponseServerEnabled:                                  "false",
	})
	want := []Header{{"Strict-Transport-Security", "max-age=60"}, {"X-Frame-Options", "DENY"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || !noServer {
		t.Errorf("responseHeaders = %v, %v; want %v, true", got, noServer, want)
	}
	if v, c := tlsHeaderNames(map[string]string{attrTLSHeaders: "true"}, map[string]string{elb.AttrTLSVersionHeaderName: "X-TLS"}, ProtocolHTTPS); v != "X-TLS" || c != "X-Amzn-Tls-Cipher-Suite" {
		t.Errorf("tlsHeaderNames = %q, %q", v, c)
	}
	if v, _ := tlsHeaderNames(map[string]string{attrTLSHeaders: "true"}, nil, ProtocolHTTP); v != "" {
		t.Errorf("tlsHeaderNames on HTTP = %q", v)
	}
	if v, _ := tlsHeaderNames(nil, nil, ProtocolHTTPS); v != "" {
		t.Errorf("tlsHeaderNames with the attribute off = %q", v)
	}
}

func mustRegex(t *testing.T, expr string) *regexp.Regexp {
	t.Helper()
	re, err := elb.CompileRegex(expr)
	if err != nil {
		t.Fatal(err)
	}
	return re
}

// BenchmarkRouterMatchRegex is BenchmarkRouterMatch with regex host and
// path conditions: 20 rules that do not match, then one that does.
func BenchmarkRouterMatchRegex(b *testing.B) {
	var rules []elb.Rule
	for i := range 20 {
		rules = append(rules, elb.Rule{ARN: "r", Conditions: []elb.RuleCondition{
			{Field: "host-header", RegexValues: []string{`^svc` + string(rune('a'+i)) + `\.example\.com$`}},
			{Field: "path-pattern", RegexValues: []string{`^/api/v[0-9]+/`}},
		}})
	}
	rules = append(rules, elb.Rule{ARN: "last", Conditions: []elb.RuleCondition{
		{Field: "http-header", HeaderName: "X-Env", RegexValues: []string{`^prod`}},
		{Field: "path-pattern", RegexValues: []string{`^/api/v[0-9]+/users$`}},
	}})
	rt, err := newRouter(rules)
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/api/v1/users?a=1&v=2", nil)
	r.Host = "www.example.com:80"
	r.Header.Set("X-Env", "production")
	src := netip.MustParseAddr("10.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		if rt.Match(r, src) != len(rules)-1 {
			b.Fatal("wrong rule")
		}
	}
}
