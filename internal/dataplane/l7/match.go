package l7

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/kelb-io/kelb/internal/elb"
)

// Condition fields of listener rules.
const (
	fieldHostHeader  = "host-header"
	fieldPathPattern = "path-pattern"
	fieldHTTPHeader  = "http-header"
	fieldMethod      = "http-request-method"
	fieldQueryString = "query-string"
	fieldSourceIP    = "source-ip"
)

// router evaluates a listener's rules. Rules are kept in priority order;
// Match returns the index of the first rule whose conditions all hold, or -1
// for the default rule. It never allocates unless a query string carries
// escaped characters.
type router struct {
	rules []compiledRule
}

type compiledRule struct {
	conds []condition
}

// condition is one compiled rule condition. Its values are OR'ed; the
// conditions of a rule are AND'ed.
type condition struct {
	field string
	// patterns are wildcard patterns (host-header: lower-cased, matched
	// case-insensitively; path-pattern: case-sensitive; http-header:
	// lower-cased) or exact methods.
	patterns []string
	header   string // canonical header name, http-header only
	pairs    []queryPair
	prefixes []netip.Prefix
	// regexes are a host-header, path-pattern or http-header condition's
	// RegexValues, compiled when the table is built: unanchored unless
	// the expression anchors itself, matched against the host without
	// its port, the path (not the query) and each value of the header,
	// case-sensitively unless the expression says (?i).
	regexes []*regexp.Regexp
}

// queryPair is a query-string pattern: key may be empty (any key); both are
// lower-cased, may hold * and ?, and a backslash escapes the next byte.
type queryPair struct {
	key, value string
	anyKey     bool
}

// newRouter compiles rules, which must be sorted by priority.
func newRouter(rules []elb.Rule) (*router, error) {
	rt := &router{rules: make([]compiledRule, 0, len(rules))}
	for _, r := range rules {
		cr := compiledRule{}
		for _, c := range r.Conditions {
			cc, err := compileCondition(c)
			if err != nil {
				return nil, fmt.Errorf("rule %s: %w", r.ARN, err)
			}
			cr.conds = append(cr.conds, cc)
		}
		rt.rules = append(rt.rules, cr)
	}
	return rt, nil
}

func compileCondition(c elb.RuleCondition) (condition, error) {
	cc := condition{field: c.Field}
	for _, v := range c.RegexValues {
		re, err := elb.CompileRegex(v)
		if err != nil {
			return condition{}, err
		}
		cc.regexes = append(cc.regexes, re)
	}
	switch c.Field {
	case fieldHostHeader, fieldHTTPHeader:
		for _, v := range c.Values {
			cc.patterns = append(cc.patterns, strings.ToLower(v))
		}
		if c.Field == fieldHTTPHeader {
			cc.header = textproto.CanonicalMIMEHeaderKey(c.HeaderName)
		}
	case fieldPathPattern, fieldMethod:
		cc.patterns = slices.Clone(c.Values)
	case fieldQueryString:
		for _, p := range c.QueryPairs {
			cc.pairs = append(cc.pairs, queryPair{key: strings.ToLower(p.Key), value: strings.ToLower(p.Value), anyKey: p.Key == ""})
		}
		// The legacy Values form carries values without keys.
		for _, v := range c.Values {
			cc.pairs = append(cc.pairs, queryPair{value: strings.ToLower(v), anyKey: true})
		}
	case fieldSourceIP:
		for _, v := range c.Values {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				a, aerr := netip.ParseAddr(v)
				if aerr != nil {
					return condition{}, fmt.Errorf("source-ip %q: %w", v, err)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			cc.prefixes = append(cc.prefixes, p.Masked())
		}
	default:
		return condition{}, fmt.Errorf("unknown condition field %q", c.Field)
	}
	return cc, nil
}

// Match returns the index of the first rule matching r, whose connection
// comes from src, or -1 when only the default rule applies.
func (rt *router) Match(r *http.Request, src netip.Addr) int {
	for i := range rt.rules {
		if rt.rules[i].matches(r, src) {
			return i
		}
	}
	return -1
}

func (cr *compiledRule) matches(r *http.Request, src netip.Addr) bool {
	for i := range cr.conds {
		if !cr.conds[i].matches(r, src) {
			return false
		}
	}
	return true
}

func (c *condition) matches(r *http.Request, src netip.Addr) bool {
	switch c.field {
	case fieldHostHeader:
		host := hostOnly(r.Host)
		for _, p := range c.patterns {
			if wildcard(p, host, true, false) {
				return true
			}
		}
		return matchAny(c.regexes, host)
	case fieldPathPattern:
		for _, p := range c.patterns {
			if wildcard(p, r.URL.Path, false, false) {
				return true
			}
		}
		return matchAny(c.regexes, r.URL.Path)
	case fieldHTTPHeader:
		for _, v := range r.Header[c.header] {
			for _, p := range c.patterns {
				if wildcard(p, v, true, false) {
					return true
				}
			}
			if matchAny(c.regexes, v) {
				return true
			}
		}
	case fieldMethod:
		return slices.Contains(c.patterns, r.Method)
	case fieldQueryString:
		return c.matchQuery(r.URL.RawQuery)
	case fieldSourceIP:
		src = src.Unmap()
		for _, p := range c.prefixes {
			if p.Contains(src) {
				return true
			}
		}
	}
	return false
}

// matchAny reports whether any of res matches s.
func matchAny(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// matchQuery reports whether any key=value pair of the raw query matches any
// of the condition's pairs.
func (c *condition) matchQuery(raw string) bool {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		key, value, _ := strings.Cut(part, "=")
		if strings.ContainsAny(key, "%+") {
			if k, err := url.QueryUnescape(key); err == nil {
				key = k
			}
		}
		if strings.ContainsAny(value, "%+") {
			if v, err := url.QueryUnescape(value); err == nil {
				value = v
			}
		}
		for _, p := range c.pairs {
			if (p.anyKey || wildcard(p.key, key, true, true)) && wildcard(p.value, value, true, true) {
				return true
			}
		}
	}
	return false
}

// hostOnly strips a port (and IPv6 brackets' port) from a Host header.
func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		if _, err := strconv.ParseUint(h[i+1:], 10, 16); err == nil || i == len(h)-1 {
			return h[:i]
		}
	}
	return h
}

// wildcard reports whether s matches pattern, where * matches any run of
// bytes (also none) and ? exactly one byte. With fold, pattern must be
// lower-case and s is compared ASCII case-insensitively. With escapes, a
// backslash makes the next pattern byte literal (query-string conditions).
//
// The algorithm is the linear greedy one: on a mismatch after a *, retry
// with the * swallowing one more byte. It does not allocate.
func wildcard(pattern, s string, fold, escapes bool) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		if p < len(pattern) {
			pc := pattern[p]
			literal := false
			adv := 1
			if escapes && pc == '\\' && p+1 < len(pattern) {
				pc, literal, adv = pattern[p+1], true, 2
			}
			switch {
			case pc == '*' && !literal:
				star, mark = p, i
				p++
				continue
			case (pc == '?' && !literal) || pc == lowerIf(s[i], fold):
				p += adv
				i++
				continue
			}
		}
		if star < 0 {
			return false
		}
		p = star + 1
		mark++
		i = mark
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func lowerIf(b byte, fold bool) byte {
	if fold && 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}
