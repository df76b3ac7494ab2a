package l7

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/kelb-io/kelb/internal/elb"
)

// transform is a rule's compiled transforms: a host header rewrite and a
// URL rewrite, either may be nil. They run after the rule matched, before
// its action: the target, a redirect's #{host}, #{path} and #{query}, and
// the rules themselves (which do not run again) see the request as the
// transforms left it.
type transform struct {
	host *rewrite
	url  *rewrite
	// headers are kelb's request header transforms, in the order they
	// run: sets, adds, removals. A rule with any is served on the
	// net/http path.
	headers []headerOp
}

// headerOp sets, adds or removes one request header.
type headerOp struct {
	kind  string // elb.TransformRequestHeaderSet, ...Add or ...Remove
	name  string // canonical
	value string
}

// rewrite is one compiled RewriteConfig.
type rewrite struct {
	re       *regexp.Regexp
	template string // for Regexp.Expand (elb.RewriteTemplate)
}

// errTransform is a transform whose pattern matched but whose result is
// not a valid host or request target: ALB answers 500.
var errTransform = errors.New("transform result is not valid")

// compileTransforms compiles a rule's transforms; nil when it has none.
func compileTransforms(ts []elb.RuleTransform) (*transform, error) {
	if len(ts) == 0 {
		return nil, nil
	}
	t := &transform{}
	for _, kind := range []string{elb.TransformRequestHeaderSet, elb.TransformRequestHeaderAdd, elb.TransformRequestHeaderRemove} {
		for _, x := range ts {
			if x.Type != kind {
				continue
			}
			for _, rw := range x.Rewrites() {
				t.headers = append(t.headers, headerOp{kind: kind, name: http.CanonicalHeaderKey(rw.Regex), value: rw.Replace})
			}
		}
	}
	for _, x := range ts {
		if elb.IsHeaderTransform(x.Type) {
			continue
		}
		rw := x.Rewrites()
		if len(rw) == 0 {
			continue
		}
		re, err := elb.CompileRegex(rw[0].Regex)
		if err != nil {
			return nil, err
		}
		c := &rewrite{re: re, template: elb.RewriteTemplate(rw[0].Replace)}
		switch x.Type {
		case elb.TransformHostHeaderRewrite:
			t.host = c
		case elb.TransformURLRewrite:
			t.url = c
		}
	}
	if t.host == nil && t.url == nil && t.headers == nil {
		return nil, nil
	}
	return t, nil
}

// replace replaces every match of rw's pattern in s with its template; ok
// is false when nothing matched.
func (rw *rewrite) replace(s string) (string, bool) {
	if !rw.re.MatchString(s) {
		return s, false
	}
	return rw.re.ReplaceAllString(s, rw.template), true
}

// rewriteHost applies a host header rewrite to a Host header value: the
// pattern sees the host name without the port, which is kept. changed is
// false when the pattern does not match; err is errTransform when the
// result is not a valid host.
func (rw *rewrite) rewriteHost(hostHeader string) (out string, changed bool, err error) {
	name := hostOnly(hostHeader)
	port := hostHeader[len(name):]
	next, ok := rw.replace(name)
	if !ok {
		return hostHeader, false, nil
	}
	out = next + port
	if next == "" || !validHost(out) {
		return hostHeader, false, errTransform
	}
	return out, true, nil
}

// rewriteURL applies a URL rewrite to a request target (path and query as
// the client sent them, escaped). The pattern sees the path; a result
// with a "?" sets the query, to which the request's own query is
// appended after "&"; a result without one keeps the request's query.
// changed is false when the pattern does not match; err is errTransform
// when the result does not start with "/" or is not a valid request
// target.
func (rw *rewrite) rewriteURL(target string) (out string, changed bool, err error) {
	path, query, hasQuery := strings.Cut(target, "?")
	next, ok := rw.replace(path)
	if !ok {
		return target, false, nil
	}
	if newPath, newQuery, set := strings.Cut(next, "?"); set {
		switch {
		case !hasQuery || query == "":
			next = newPath + "?" + newQuery
		case newQuery == "":
			next = newPath + "?" + query
		default:
			next = newPath + "?" + newQuery + "&" + query
		}
	} else if hasQuery {
		next += "?" + query
	}
	if !strings.HasPrefix(next, "/") || !validTarget(next) {
		return target, false, errTransform
	}
	if _, err := url.ParseRequestURI(next); err != nil {
		return target, false, errTransform
	}
	return next, true, nil
}

// apply runs t on r: r.Host, r.URL and r.RequestURI change to what the
// rewrites made of them. hostChanged and urlChanged say which did;
// errTransform leaves r as it was.
func (t *transform) apply(r *http.Request) (hostChanged, urlChanged bool, err error) {
	host, target := r.Host, r.RequestURI
	if target == "" {
		target = r.URL.RequestURI()
	}
	if t.host != nil {
		if host, hostChanged, err = t.host.rewriteHost(host); err != nil {
			return false, false, err
		}
	}
	if t.url != nil {
		if target, urlChanged, err = t.url.rewriteURL(target); err != nil {
			return false, false, err
		}
	}
	if urlChanged {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return false, false, errTransform
		}
		r.URL = u
		r.RequestURI = target
	}
	if hostChanged {
		r.Host = host
	}
	for _, h := range t.headers {
		switch h.kind {
		case elb.TransformRequestHeaderSet:
			r.Header[h.name] = []string{h.value}
		case elb.TransformRequestHeaderAdd:
			r.Header[h.name] = append(r.Header[h.name], h.value)
		case elb.TransformRequestHeaderRemove:
			delete(r.Header, h.name)
		}
	}
	return hostChanged, urlChanged, nil
}
