package elb

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCompileRegex(t *testing.T) {
	tests := []struct {
		expr string
		ok   bool
	}{
		{`^/api/(.+)$`, true},
		{`^(.+)\.example\.com$`, true},
		{`(?i)^/Docs`, true},
		{`^/a(?=b)`, false},        // lookahead
		{`^(a)\1$`, false},         // backreference
		{`^(?>a+)b`, false},        // atomic group
		{`^a++b`, false},           // possessive quantifier
		{`^\p{L}+$`, false},        // Unicode class: AWS refuses it
		{`^\\p$`, true},            // an escaped backslash, then p
		{`^/a[`, false},            // unbalanced
		{`^/(?P<id>[0-9]+)`, true}, // named groups are fine
	}
	for _, tt := range tests {
		_, err := CompileRegex(tt.expr)
		if (err == nil) != tt.ok {
			t.Errorf("CompileRegex(%q) = %v, want ok=%v", tt.expr, err, tt.ok)
		}
		if err != nil {
			var e *Error
			if !asError(err, &e) || e.Code != CodeValidationError {
				t.Errorf("CompileRegex(%q) error %v is not a ValidationError", tt.expr, err)
			}
		}
	}
}

func asError(err error, e **Error) bool {
	x, ok := err.(*Error)
	*e = x
	return ok
}

func TestRewriteTemplate(t *testing.T) {
	tests := map[string]string{
		"/$1":          "/${1}",
		"$1abc":        "${1}abc",
		"/v2/$12/$2x":  "/v2/${12}/${2}x",
		"cost$$":       "cost$$",
		"a$":           "a$",
		"${1}":         "${1}",
		"plain/path":   "plain/path",
		"$name":        "$name",
		"/p.php?id=$1": "/p.php?id=${1}",
	}
	for in, want := range tests {
		if got := RewriteTemplate(in); got != want {
			t.Errorf("RewriteTemplate(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckTransforms(t *testing.T) {
	url := func(re, rep string) RuleTransform {
		return RuleTransform{Type: TransformURLRewrite, URLRewrite: &RewriteList{Rewrites: []RewriteConfig{{Regex: re, Replace: rep}}}}
	}
	host := func(re, rep string) RuleTransform {
		return RuleTransform{Type: TransformHostHeaderRewrite, HostHeaderRewrite: &RewriteList{Rewrites: []RewriteConfig{{Regex: re, Replace: rep}}}}
	}
	hdr := func(typ string, kv ...string) RuleTransform {
		l := &RewriteList{}
		for i := 0; i+1 < len(kv); i += 2 {
			l.Rewrites = append(l.Rewrites, RewriteConfig{Regex: kv[i], Replace: kv[i+1]})
		}
		return RuleTransform{Type: typ, HostHeaderRewrite: l}
	}
	tests := []struct {
		name string
		ts   []RuleTransform
		ok   bool
	}{
		{"none", nil, true},
		{"url", []RuleTransform{url(`^/api/(.*)$`, "/$1")}, true},
		{"host and url", []RuleTransform{host(`^(.+)\.example\.com$`, "$1.example.org"), url(`^/a`, "/b")}, true},
		{"two url", []RuleTransform{url(`^/a`, "/b"), url(`^/c`, "/d")}, false},
		{"bad type", []RuleTransform{{Type: "header-rewrite"}}, false},
		{"no type", []RuleTransform{{URLRewrite: &RewriteList{Rewrites: []RewriteConfig{{Regex: "a"}}}}}, false},
		{"url without config", []RuleTransform{{Type: TransformURLRewrite}}, false},
		{"url with host config", []RuleTransform{{Type: TransformURLRewrite, URLRewrite: &RewriteList{Rewrites: []RewriteConfig{{Regex: "a"}}}, HostHeaderRewrite: &RewriteList{}}}, false},
		{"no rewrite", []RuleTransform{{Type: TransformURLRewrite, URLRewrite: &RewriteList{}}}, false},
		{"two rewrites", []RuleTransform{{Type: TransformURLRewrite, URLRewrite: &RewriteList{Rewrites: []RewriteConfig{{Regex: "a"}, {Regex: "b"}}}}}, false},
		{"empty regex", []RuleTransform{url("", "/x")}, false},
		{"regex of 1024", []RuleTransform{url(strings.Repeat("a", MaxRewriteLen), "/x")}, true},
		{"regex of 1025", []RuleTransform{url(strings.Repeat("a", MaxRewriteLen+1), "/x")}, false},
		{"replace of 1025", []RuleTransform{url("a", "/"+strings.Repeat("a", MaxRewriteLen))}, false},
		{"lookbehind", []RuleTransform{url(`(?<=/api)/x`, "/y")}, false},
		{"header set, add and remove", []RuleTransform{hdr(TransformRequestHeaderSet, "X-A", "1", "X-B", "2"), hdr(TransformRequestHeaderAdd, "X-C", "3"), hdr(TransformRequestHeaderRemove, "X-D", ""), url(`^/a`, "/b")}, true},
		{"two header sets", []RuleTransform{hdr(TransformRequestHeaderSet, "X-A", "1"), hdr(TransformRequestHeaderSet, "X-B", "2")}, false},
		{"header name not a token", []RuleTransform{hdr(TransformRequestHeaderSet, "X A", "1")}, false},
		{"header Host", []RuleTransform{hdr(TransformRequestHeaderSet, "host", "a")}, false},
		{"header value with a newline", []RuleTransform{hdr(TransformRequestHeaderAdd, "X-A", "a\r\nX-B: b")}, false},
		{"removal with a value", []RuleTransform{hdr(TransformRequestHeaderRemove, "X-A", "1")}, false},
		{"header transform without headers", []RuleTransform{{Type: TransformRequestHeaderSet, HostHeaderRewrite: &RewriteList{}}}, false},
		{"header transform in a UrlRewriteConfig", []RuleTransform{{Type: TransformRequestHeaderSet, URLRewrite: &RewriteList{Rewrites: []RewriteConfig{{Regex: "X-A"}}}}}, false},
	}
	for _, tt := range tests {
		if err := checkTransforms(tt.ts); (err == nil) != tt.ok {
			t.Errorf("%s: checkTransforms = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestRegexConditionLimits(t *testing.T) {
	long := strings.Repeat("a", MaxRegexValueLen+1)
	tests := []struct {
		name  string
		conds []RuleCondition
		ok    bool
	}{
		{"path regex", []RuleCondition{{Field: "path-pattern", RegexValues: []string{`^/api/v[0-9]+/`}}}, true},
		{"host regex", []RuleCondition{{Field: "host-header", RegexValues: []string{`^(www|api)\.example\.com$`}}}, true},
		{"header regex", []RuleCondition{{Field: "http-header", HeaderName: "User-Agent", RegexValues: []string{`Mobile`}}}, true},
		{"values and regex", []RuleCondition{{Field: "path-pattern", Values: []string{"/a"}, RegexValues: []string{"^/b"}}}, false},
		{"method regex", []RuleCondition{{Field: "http-request-method", RegexValues: []string{"^G"}}}, false},
		{"regex of 129", []RuleCondition{{Field: "path-pattern", RegexValues: []string{long}}}, false},
		{"empty regex", []RuleCondition{{Field: "path-pattern", RegexValues: []string{""}}}, false},
		{"four regexes", []RuleCondition{{Field: "path-pattern", RegexValues: []string{"a", "b", "c", "d"}}}, false},
		{"backreference", []RuleCondition{{Field: "path-pattern", RegexValues: []string{`^/(a)\1`}}}, false},
		{"six values in a rule", []RuleCondition{
			{Field: "path-pattern", RegexValues: []string{"a", "b", "c"}},
			{Field: "host-header", RegexValues: []string{"a", "b", "c"}}}, false},
	}
	for _, tt := range tests {
		if err := checkConditions(tt.conds); (err == nil) != tt.ok {
			t.Errorf("%s: checkConditions = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestRuleTransforms(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	alb, err := env.svc.CreateLoadBalancer(ctx, CreateLoadBalancerInput{Name: "app", Subnets: []string{"subnet-a"}})
	if err != nil {
		t.Fatal(err)
	}
	web := env.tg(t, "web", "HTTP")
	l := env.listener(t, alb.ARN, web.ARN, "HTTP", 80)
	fwd := []Action{{Type: ActionForward, TargetGroupARN: web.ARN}}
	rewrite := []RuleTransform{{Type: TransformURLRewrite, URLRewrite: &RewriteList{Rewrites: []RewriteConfig{{Regex: `^/api/(.*)$`, Replace: "/$1"}}}}}
	cond := []RuleCondition{{Field: "path-pattern", RegexValues: []string{`^/api/`}}}

	r, err := env.svc.CreateRule(ctx, CreateRuleInput{ListenerARN: l.ARN, Priority: 1, Conditions: cond, Actions: fwd, Transforms: rewrite})
	wantCode(t, err, "")
	got, err := env.svc.DescribeRules(ctx, DescribeRulesInput{RuleARNs: []string{r.ARN}})
	wantCode(t, err, "")
	if diff := cmp.Diff(rewrite, got[0].Transforms); diff != "" {
		t.Errorf("described transforms (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(cond, got[0].Conditions); diff != "" {
		t.Errorf("described conditions (-want +got):\n%s", diff)
	}

	// Both Transforms and ResetTransforms: refused, nothing changes.
	_, err = env.svc.ModifyRule(ctx, ModifyRuleInput{RuleARN: r.ARN, Transforms: rewrite, ResetTransforms: true})
	wantCode(t, err, CodeValidationError)
	// A transform RE2 cannot run: refused, nothing changes.
	bad := []RuleTransform{{Type: TransformURLRewrite, URLRewrite: &RewriteList{Rewrites: []RewriteConfig{{Regex: `^/(?!x)`, Replace: "/"}}}}}
	_, err = env.svc.ModifyRule(ctx, ModifyRuleInput{RuleARN: r.ARN, Transforms: bad})
	wantCode(t, err, CodeValidationError)
	got, _ = env.svc.DescribeRules(ctx, DescribeRulesInput{RuleARNs: []string{r.ARN}})
	if diff := cmp.Diff(rewrite, got[0].Transforms); diff != "" {
		t.Errorf("transforms after refused changes (-want +got):\n%s", diff)
	}
	// Modifying the actions keeps the transforms; ResetTransforms removes them.
	m, err := env.svc.ModifyRule(ctx, ModifyRuleInput{RuleARN: r.ARN, Actions: fwd})
	wantCode(t, err, "")
	if len(m.Transforms) != 1 {
		t.Errorf("transforms after modifying actions = %+v", m.Transforms)
	}
	m, err = env.svc.ModifyRule(ctx, ModifyRuleInput{RuleARN: r.ARN, ResetTransforms: true})
	wantCode(t, err, "")
	if len(m.Transforms) != 0 {
		t.Errorf("transforms after ResetTransforms = %+v", m.Transforms)
	}
	// The default rule has no transforms.
	rules, _ := env.svc.DescribeRules(ctx, DescribeRulesInput{ListenerARN: l.ARN})
	_, err = env.svc.ModifyRule(ctx, ModifyRuleInput{RuleARN: rules[len(rules)-1].ARN, Transforms: rewrite})
	wantCode(t, err, CodeOperationNotPermitted)
}

func TestApplicationListenerAttributes(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	alb, err := env.svc.CreateLoadBalancer(ctx, CreateLoadBalancerInput{Name: "app", Subnets: []string{"subnet-a"}})
	if err != nil {
		t.Fatal(err)
	}
	web := env.tg(t, "web", "HTTP")
	l := env.listener(t, alb.ARN, web.ARN, "HTTP", 80)
	attrs, err := env.svc.DescribeListenerAttributes(ctx, l.ARN)
	wantCode(t, err, "")
	have := map[string]string{}
	for _, a := range attrs {
		have[a.Key] = a.Value
	}
	for k, v := range map[string]string{
		AttrResponseServerEnabled:                            "true",
		AttrTLSVersionHeaderName:                             "X-Amzn-Tls-Version",
		AttrTLSCipherHeaderName:                              "X-Amzn-Tls-Cipher-Suite",
		"routing.http.response.x_frame_options.header_value": "",
	} {
		if got, ok := have[k]; !ok || got != v {
			t.Errorf("default %s = %q (present %v), want %q", k, got, ok, v)
		}
	}

	tests := []struct {
		key, value string
		ok         bool
	}{
		{AttrResponseServerEnabled, "false", true},
		{AttrResponseServerEnabled, "no", false},
		{"routing.http.response.strict_transport_security.header_value", "max-age=31536000; includeSubDomains; preload", true},
		{"routing.http.response.strict_transport_security.header_value", "includeSubDomains", false},
		{"routing.http.response.access_control_allow_origin.header_value", "https://example.com", true},
		{"routing.http.response.access_control_allow_origin.header_value", "*", true},
		{"routing.http.response.access_control_allow_origin.header_value", "example.com/x", false},
		{"routing.http.response.access_control_allow_methods.header_value", "GET, POST, OPTIONS", true},
		{"routing.http.response.access_control_allow_methods.header_value", "GET, FETCH", false},
		{"routing.http.response.access_control_allow_headers.header_value", "Content-Type, X-Token", true},
		{"routing.http.response.access_control_allow_credentials.header_value", "true", true},
		{"routing.http.response.access_control_allow_credentials.header_value", "false", false},
		{"routing.http.response.access_control_expose_headers.header_value", "*", true},
		{"routing.http.response.access_control_max_age.header_value", "86400", true},
		{"routing.http.response.access_control_max_age.header_value", "a day", false},
		{"routing.http.response.content_security_policy.header_value", "default-src 'self'", true},
		{"routing.http.response.content_security_policy.header_value", "default-src\n'self'", false},
		{"routing.http.response.x_content_type_options.header_value", "nosniff", true},
		{"routing.http.response.x_content_type_options.header_value", "sniff", false},
		{"routing.http.response.x_frame_options.header_value", "SAMEORIGIN", true},
		{"routing.http.response.x_frame_options.header_value", "ALLOW-FROM https://example.com", true},
		{"routing.http.response.x_frame_options.header_value", "ALLOW", false},
		{"routing.http.response.x_frame_options.header_value", "", true},
		{AttrTLSVersionHeaderName, "X-TLS-Version", true},
		{AttrTLSVersionHeaderName, "X TLS", false},
		{AttrTLSCipherHeaderName, strings.Repeat("h", MaxHeaderNameAttrLen+1), false},
		{"routing.http.request.x_amzn_mtls_clientcert.header_name", "X-Client-Cert", true},
		{"routing.http.response.x_powered_by.header_value", "kelb", false},
	}
	for _, tt := range tests {
		before, _ := env.svc.DescribeListenerAttributes(ctx, l.ARN)
		_, err := env.svc.ModifyListenerAttributes(ctx, l.ARN, []Attribute{{Key: tt.key, Value: tt.value}})
		if (err == nil) != tt.ok {
			t.Errorf("%s=%q: err = %v, want ok=%v", tt.key, tt.value, err, tt.ok)
			continue
		}
		if !tt.ok {
			wantCode(t, err, CodeValidationError)
			after, _ := env.svc.DescribeListenerAttributes(ctx, l.ARN)
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("%s=%q refused but attributes changed:\n%s", tt.key, tt.value, diff)
			}
		}
	}
}
