package elb

import (
	"errors"
	"regexp"
	"regexp/syntax"
	"strings"
)

// Rule transform types.
const (
	TransformHostHeaderRewrite = "host-header-rewrite"
	TransformURLRewrite        = "url-rewrite"
)

// kelb's own transform types, which ELBv2 has no equivalent for: they
// set, add or remove request headers, as the Gateway API's
// RequestHeaderModifier filter does (kelb controller uses them for
// HTTPRoutes). So that every ELBv2 SDK sends and reads them unchanged,
// each carries its headers in HostHeaderRewriteConfig, the one config
// shape SDKs serialize whatever the Type: a rewrite's Regex is a header
// name, its Replace the value (empty for a removal). On a matching
// request they run after the host and URL rewrites, sets before adds
// before removals.
const (
	TransformRequestHeaderSet    = "kelb:request-header-set"
	TransformRequestHeaderAdd    = "kelb:request-header-add"
	TransformRequestHeaderRemove = "kelb:request-header-remove"
	// MaxHeaderRewrites is how many headers one such transform names.
	MaxHeaderRewrites = 16
)

// IsHeaderTransform reports whether a transform type is one of kelb's
// request header transforms.
func IsHeaderTransform(typ string) bool {
	switch typ {
	case TransformRequestHeaderSet, TransformRequestHeaderAdd, TransformRequestHeaderRemove:
		return true
	}
	return false
}

// Limits of regular expressions in rule conditions and transforms, as the
// ELBv2 API model states them.
const (
	// MaxRegexValueLen bounds a condition's regular expression.
	MaxRegexValueLen = 128
	// MaxRewriteLen bounds a rewrite's Regex and its Replace.
	MaxRewriteLen = 1024
	// MaxRewritesPerTransform is how many rewrites one transform has.
	MaxRewritesPerTransform = 1
)

// RuleTransform rewrites a request that matched its rule before the
// rule's action sees it. Exactly one of HostHeaderRewrite and URLRewrite
// is set, the one Type names.
type RuleTransform struct {
	Type              string
	HostHeaderRewrite *RewriteList `json:",omitempty"`
	URLRewrite        *RewriteList `json:",omitempty"`
}

// RewriteList is a HostHeaderRewriteConfig or UrlRewriteConfig.
type RewriteList struct {
	Rewrites []RewriteConfig
}

// RewriteConfig replaces what Regex matches with Replace, in which $1,
// $2, ... name Regex's capture groups.
type RewriteConfig struct {
	Regex   string
	Replace string
}

// Rewrites returns the rewrites of t's type.
func (t RuleTransform) Rewrites() []RewriteConfig {
	switch t.Type {
	case TransformHostHeaderRewrite, TransformRequestHeaderSet, TransformRequestHeaderAdd, TransformRequestHeaderRemove:
		if t.HostHeaderRewrite != nil {
			return t.HostHeaderRewrite.Rewrites
		}
	case TransformURLRewrite:
		if t.URLRewrite != nil {
			return t.URLRewrite.Rewrites
		}
	}
	return nil
}

// CompileRegex compiles a regular expression of a rule condition or
// transform. AWS runs PCRE-like expressions without lookarounds,
// backreferences, atomic groups, possessive quantifiers, recursion and
// Unicode classes; kelb runs Go's RE2, which lacks the same features and
// a few more. What RE2 cannot compile is refused with a ValidationError
// that says so, rather than served with another meaning; Unicode classes
// (\p, \P), which RE2 knows but AWS refuses, are refused too.
func CompileRegex(expr string) (*regexp.Regexp, error) {
	for i := 0; i+1 < len(expr); i++ {
		if expr[i] != '\\' {
			continue
		}
		if expr[i+1] == 'p' || expr[i+1] == 'P' {
			return nil, validationf("The regular expression '%s' uses a Unicode character class, which is not supported", expr)
		}
		i++
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		msg := err.Error()
		var e *syntax.Error
		if errors.As(err, &e) {
			msg = string(e.Code)
			if e.Expr != "" {
				msg += " '" + e.Expr + "'"
			}
		}
		return nil, validationf("The regular expression '%s' is not valid: %s (kelb runs RE2 regular expressions: no lookarounds, backreferences, atomic groups, possessive quantifiers or recursion)", expr, msg)
	}
	return re, nil
}

// RewriteTemplate turns a rewrite's Replace into a template for
// regexp.Regexp.Expand: $N (digits) names capture group N even when a
// letter follows ("$1abc" is group 1, then "abc", as in PCRE), and $$ is
// a dollar sign.
func RewriteTemplate(replace string) string {
	if !strings.Contains(replace, "$") {
		return replace
	}
	var b strings.Builder
	for i := 0; i < len(replace); i++ {
		c := replace[i]
		if c != '$' || i+1 == len(replace) {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		for j < len(replace) && replace[j] >= '0' && replace[j] <= '9' {
			j++
		}
		if j > i+1 {
			b.WriteString("${" + replace[i+1:j] + "}")
			i = j - 1
			continue
		}
		b.WriteByte('$')
		if replace[i+1] == '$' {
			b.WriteByte('$')
			i++
		}
	}
	return b.String()
}

// checkTransforms validates a rule's transforms: known types, each with
// its own configuration and exactly one rewrite, at most one of each
// type, and regular expressions kelb can run.
func checkTransforms(ts []RuleTransform) error {
	seen := map[string]bool{}
	for _, t := range ts {
		switch {
		case t.Type == TransformHostHeaderRewrite, t.Type == TransformURLRewrite:
		case IsHeaderTransform(t.Type):
			if err := checkHeaderTransform(t); err != nil {
				return err
			}
			if seen[t.Type] {
				return validationf("A rule can only have one '%s' transform", t.Type)
			}
			seen[t.Type] = true
			continue
		case t.Type == "":
			return validationf("A transform type must be specified")
		default:
			return validationf("Transform type '%s' is not valid; use '%s' or '%s'", t.Type, TransformHostHeaderRewrite, TransformURLRewrite)
		}
		if seen[t.Type] {
			return validationf("A rule can only have one '%s' transform", t.Type)
		}
		seen[t.Type] = true
		switch {
		case t.Type == TransformHostHeaderRewrite && t.HostHeaderRewrite == nil:
			return validationf("A '%s' transform needs a HostHeaderRewriteConfig", t.Type)
		case t.Type == TransformURLRewrite && t.URLRewrite == nil:
			return validationf("A '%s' transform needs a UrlRewriteConfig", t.Type)
		case t.Type == TransformHostHeaderRewrite && t.URLRewrite != nil:
			return validationf("A '%s' transform cannot have a UrlRewriteConfig", t.Type)
		case t.Type == TransformURLRewrite && t.HostHeaderRewrite != nil:
			return validationf("A '%s' transform cannot have a HostHeaderRewriteConfig", t.Type)
		}
		rw := t.Rewrites()
		if len(rw) == 0 {
			return validationf("A '%s' transform must have a rewrite", t.Type)
		}
		if len(rw) > MaxRewritesPerTransform {
			return validationf("A '%s' transform can only have '%d' rewrite, not %d", t.Type, MaxRewritesPerTransform, len(rw))
		}
		for _, r := range rw {
			if r.Regex == "" {
				return validationf("A rewrite regex cannot be empty")
			}
			if len(r.Regex) > MaxRewriteLen || len(r.Replace) > MaxRewriteLen {
				return validationf("A rewrite regex or replace cannot be longer than %d characters", MaxRewriteLen)
			}
			if _, err := CompileRegex(r.Regex); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkHeaderTransform validates one of kelb's request header transforms:
// header names that are HTTP tokens other than Host (which
// host-header-rewrite changes), values without control characters, no
// value for a removal.
func checkHeaderTransform(t RuleTransform) error {
	if t.HostHeaderRewrite == nil || t.URLRewrite != nil {
		return validationf("A '%s' transform carries its headers in a HostHeaderRewriteConfig, and only there", t.Type)
	}
	rw := t.HostHeaderRewrite.Rewrites
	if len(rw) == 0 || len(rw) > MaxHeaderRewrites {
		return validationf("A '%s' transform names between 1 and %d headers, not %d", t.Type, MaxHeaderRewrites, len(rw))
	}
	for _, r := range rw {
		if !headerToken(r.Regex) {
			return validationf("'%s' is not a valid header name", r.Regex)
		}
		if strings.EqualFold(r.Regex, "Host") {
			return validationf("A '%s' transform cannot change the Host header; use '%s'", t.Type, TransformHostHeaderRewrite)
		}
		if t.Type == TransformRequestHeaderRemove && r.Replace != "" {
			return validationf("A '%s' transform takes no value for header '%s'", t.Type, r.Regex)
		}
		if len(r.Replace) > MaxRewriteLen {
			return validationf("A header value cannot be longer than %d characters", MaxRewriteLen)
		}
		for i := 0; i < len(r.Replace); i++ {
			if c := r.Replace[i]; c < ' ' && c != '\t' || c == 0x7f {
				return validationf("The value of header '%s' has a control character", r.Regex)
			}
		}
	}
	return nil
}

// headerToken reports whether s is an HTTP token (RFC 9110 section 5.6.2),
// as a header name must be.
func headerToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// cloneTransforms deep-copies ts.
func cloneTransforms(ts []RuleTransform) []RuleTransform {
	if ts == nil {
		return nil
	}
	out := make([]RuleTransform, len(ts))
	for i, t := range ts {
		out[i] = t
		if t.HostHeaderRewrite != nil {
			out[i].HostHeaderRewrite = &RewriteList{Rewrites: append([]RewriteConfig(nil), t.HostHeaderRewrite.Rewrites...)}
		}
		if t.URLRewrite != nil {
			out[i].URLRewrite = &RewriteList{Rewrites: append([]RewriteConfig(nil), t.URLRewrite.Rewrites...)}
		}
	}
	return out
}
