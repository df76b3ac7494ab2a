package l7

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/kelb-io/kelb/internal/elb"
)

func TestWildcard(t *testing.T) {
	tests := []struct {
		pattern, s    string
		fold, escapes bool
		want          bool
	}{
		{"", "", false, false, true},
		{"*", "", false, false, true},
		{"*", "anything/at/all", false, false, true},
		{"/api/*", "/api/v1/users", false, false, true},
		{"/api/*", "/api", false, false, false},
		{"/api/*", "/API/v1", false, false, false},
		{"/img/*.png", "/img/a/b.png", false, false, true},
		{"/img/*.png", "/img/a/b.png.gz", false, false, false},
		{"/v?/x", "/v1/x", false, false, true},
		{"/v?/x", "/v10/x", false, false, false},
		{"*.example.com", "www.example.com", true, false, true},
		{"*.example.com", "WWW.Example.COM", true, false, true},
		{"*.example.com", "example.com", true, false, false},
		{"a*b*c", "aXXbYYbZZc", false, false, true},
		{"a*b*c", "aXXbYYbZZ", false, false, false},
		{"**", "x", false, false, true},
		{"?", "", false, false, false},
		{`a\*b`, "a*b", true, true, true},
		{`a\*b`, "aXb", true, true, false},
		{`a\?`, "a?", true, true, true},
		{`a\?`, "ab", true, true, false},
		{`a\*b`, `a\Xb`, true, false, true}, // without escapes the backslash is literal and * a wildcard
	}
	for _, tt := range tests {
		if got := wildcard(tt.pattern, tt.s, tt.fold, tt.escapes); got != tt.want {
			t.Errorf("wildcard(%q, %q, fold=%v, escapes=%v) = %v, want %v", tt.pattern, tt.s, tt.fold, tt.escapes, got, tt.want)
		}
	}
}

func cond(field string, values ...string) elb.RuleCondition {
	return elb.RuleCondition{Field: field, Values: values}
}

func TestRouterMatch(t *testing.T) {
	rules := []elb.Rule{
		{ARN: "host", Conditions: []elb.RuleCondition{cond("host-header", "*.example.com", "api.test")}},
		{ARN: "path", Conditions: []elb.RuleCondition{cond("path-pattern", "/static/*", "/v?/img")}},
		{ARN: "header", Conditions: []elb.RuleCondition{{Field: "http-header", HeaderName: "x-canary", Values: []string{"on", "yes*"}}}},
		{ARN: "method", Conditions: []elb.RuleCondition{cond("http-request-method", "DELETE", "PATCH")}},
		{ARN: "query", Conditions: []elb.RuleCondition{{Field: "query-string", QueryPairs: []elb.QueryStringPair{{Key: "version", Value: "v2*"}, {Value: "beta"}}}}},
		{ARN: "source", Conditions: []elb.RuleCondition{cond("source-ip", "10.1.0.0/16", "2001:db8::/32")}},
		{ARN: "and", Conditions: []elb.RuleCondition{cond("path-pattern", "/both"), cond("http-request-method", "POST")}},
	}
	rt, err := newRouter(rules)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		method string
		target string
		host   string
		header map[string]string
		src    string
		want   string
	}{
		{name: "nothing matches", target: "/", host: "other.test", want: "default"},
		{name: "host wildcard", target: "/", host: "www.example.com", want: "host"},
		{name: "host is case-insensitive", target: "/", host: "WWW.EXAMPLE.com", want: "host"},
		{name: "host port is ignored", target: "/", host: "api.test:8080", want: "host"},
		{name: "host second value", target: "/", host: "api.test", want: "host"},
		{name: "host wildcard needs a dot", target: "/", host: "example.com", want: "default"},
		{name: "path prefix", target: "/static/css/a.css", host: "x", want: "path"},
		{name: "path is case-sensitive", target: "/STATIC/a", host: "x", want: "default"},
		{name: "path ignores the query", target: "/v1/img?x=/static/", host: "x", want: "path"},
		{name: "path single char", target: "/v2/img", host: "x", want: "path"},
		{name: "header value", target: "/", host: "x", header: map[string]string{"X-Canary": "ON"}, want: "header"},
		{name: "header name is case-insensitive", target: "/", host: "x", header: map[string]string{"x-canary": "yes please"}, want: "header"},
		{name: "header mismatch", target: "/", host: "x", header: map[string]string{"X-Canary": "off"}, want: "default"},
		{name: "method exact", method: "DELETE", target: "/", host: "x", want: "method"},
		{name: "method is case-sensitive", method: "delete", target: "/", host: "x", want: "default"},
		{name: "query key and value", target: "/?a=1&VERSION=V2.1", host: "x", want: "query"},
		{name: "query value only", target: "/?channel=beta", host: "x", want: "query"},
		{name: "query escaped", target: "/?version=v2%20rc", host: "x", want: "query"},
		{name: "query mismatch", target: "/?version=v1", host: "x", want: "default"},
		{name: "source ipv4", target: "/", host: "x", src: "10.1.2.3", want: "source"},
		{name: "source ipv4 mapped", target: "/", host: "x", src: "::ffff:10.1.2.3", want: "source"},
		{name: "source ipv6", target: "/", host: "x", src: "2001:db8::7", want: "source"},
		{name: "source outside", target: "/", host: "x", src: "10.2.0.1", want: "default"},
		{name: "conditions are and-ed", method: "POST", target: "/both", host: "x", want: "and"},
		{name: "conditions are and-ed, one fails", method: "GET", target: "/both", host: "x", want: "default"},
		{name: "priority order", target: "/static/x", host: "www.example.com", want: "host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			r := httptest.NewRequest(method, tt.target, nil)
			r.Host = tt.host
			for k, v := range tt.header {
				r.Header[k] = []string{v}
				r.Header.Set(k, v)
			}
			src := netip.MustParseAddr("192.0.2.1")
			if tt.src != "" {
				src = netip.MustParseAddr(tt.src)
			}
			got := "default"
			if i := rt.Match(r, src); i >= 0 {
				got = rules[i].ARN
			}
			if got != tt.want {
				t.Errorf("Match = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestNewRouterRejectsBadSourceIP(t *testing.T) {
	_, err := newRouter([]elb.Rule{{ARN: "r", Conditions: []elb.RuleCondition{cond("source-ip", "not-a-cidr")}}})
	if err == nil {
		t.Fatal("newRouter accepted an invalid source-ip value")
	}
}

func BenchmarkRouterMatch(b *testing.B) {
	var rules []elb.Rule
	for i := range 20 {
		rules = append(rules, elb.Rule{ARN: "r", Conditions: []elb.RuleCondition{
			cond("host-header", "svc"+string(rune('a'+i))+".example.com"),
			cond("path-pattern", "/api/v1/*"),
		}})
	}
	rules = append(rules, elb.Rule{ARN: "last", Conditions: []elb.RuleCondition{
		{Field: "http-header", HeaderName: "X-Env", Values: []string{"prod*"}},
		{Field: "query-string", QueryPairs: []elb.QueryStringPair{{Key: "v", Value: "2"}}},
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
