package ingress

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/kelb-io/kelb/internal/controller/model"
)

// AnnotationTransformsPrefix + <service name> holds the transforms of the
// rules whose backend is that Service (or actions.<name> annotation).
const AnnotationTransformsPrefix = AnnotationPrefix + "transforms."

// Transform types.
const (
	TransformHostHeaderRewrite = model.TransformHostHeaderRewrite
	TransformURLRewrite        = model.TransformURLRewrite
)

// Limits ELBv2 puts on regular expressions: a condition's regex value
// and a rewrite's regex and replacement.
const (
	maxRegexValueLen = 128
	maxRewriteLen    = 1024
)

// transformJSON is one element of a transforms.<name> annotation, in the
// AWS Load Balancer Controller's format.
type transformJSON struct {
	Type                    string        `json:"type"`
	HostHeaderRewriteConfig *rewritesJSON `json:"hostHeaderRewriteConfig,omitempty"`
	URLRewriteConfig        *rewritesJSON `json:"urlRewriteConfig,omitempty"`
}

type rewritesJSON struct {
	Rewrites []rewriteJSON `json:"rewrites"`
}

type rewriteJSON struct {
	Regex   string `json:"regex"`
	Replace string `json:"replace"`
}

// parseTransforms reads the transforms.<name> annotation; absent, the
// rule has no transforms. Each transform needs the configuration of its
// type and exactly one rewrite; a rule has at most one of each type, and
// its regular expressions must compile with RE2, as kelb server runs them
// (it refuses the others, so a bad one fails the build here instead of a
// deploy half way).
func parseTransforms(ann annotations, name string) ([]Transform, error) {
	key := AnnotationTransformsPrefix + name
	var ts []transformJSON
	found, err := ann.JSON(key, &ts)
	if err != nil || !found {
		return nil, err
	}
	var out []Transform
	seen := map[string]bool{}
	for i, t := range ts {
		fail := func(reason string) error {
			return ann.Fail(key, fmt.Sprintf("transform %d (%s): %s", i+1, t.Type, reason))
		}
		var cfg *rewritesJSON
		switch t.Type {
		case TransformHostHeaderRewrite:
			cfg = t.HostHeaderRewriteConfig
			if cfg == nil {
				return nil, fail("missing hostHeaderRewriteConfig")
			}
		case TransformURLRewrite:
			cfg = t.URLRewriteConfig
			if cfg == nil {
				return nil, fail("missing urlRewriteConfig")
			}
		default:
			return nil, fail("type must be host-header-rewrite or url-rewrite")
		}
		if seen[t.Type] {
			return nil, fail("a rule can have only one transform of each type")
		}
		seen[t.Type] = true
		if len(cfg.Rewrites) != 1 {
			return nil, fail(fmt.Sprintf("needs exactly one rewrite, not %d", len(cfg.Rewrites)))
		}
		out1 := Transform{Type: t.Type}
		for _, r := range cfg.Rewrites {
			if r.Regex == "" || len(r.Regex) > maxRewriteLen || len(r.Replace) > maxRewriteLen {
				return nil, fail(fmt.Sprintf("regex must be 1 to %d characters and replace at most %d", maxRewriteLen, maxRewriteLen))
			}
			if err := checkRegex(r.Regex); err != nil {
				return nil, fail(err.Error())
			}
			out1.Rewrites = append(out1.Rewrites, Rewrite{Regex: r.Regex, Replace: r.Replace})
		}
		out = append(out, out1)
	}
	return out, nil
}

// checkRegex refuses what kelb server refuses: expressions RE2 cannot
// compile (lookarounds, backreferences, atomic groups, possessive
// quantifiers, recursion) and Unicode classes, which ALB does not support.
func checkRegex(expr string) error {
	for i := 0; i+1 < len(expr); i++ {
		if expr[i] == '\\' {
			if expr[i+1] == 'p' || expr[i+1] == 'P' {
				return fmt.Errorf("regex %q uses a Unicode character class, which ALB does not support", expr)
			}
			i++
		}
	}
	if _, err := regexp.Compile(expr); err != nil {
		return fmt.Errorf("regex %q: %v (kelb runs RE2 regular expressions: no lookarounds, backreferences, atomic groups, possessive quantifiers or recursion)", expr, err)
	}
	return nil
}

// checkValuesOrRegex checks a condition's values: exactly one of values
// and regexValues, and regular expressions kelb server accepts.
func checkValuesOrRegex(values, regexValues []string) error {
	switch {
	case len(values) == 0 && len(regexValues) == 0:
		return errors.New("values or regexValues must be specified")
	case len(values) > 0 && len(regexValues) > 0:
		return errors.New("precisely one of values and regexValues can be specified")
	}
	for _, re := range regexValues {
		if re == "" || len(re) > maxRegexValueLen {
			return fmt.Errorf("regex value %q must be 1 to %d characters", re, maxRegexValueLen)
		}
		if err := checkRegex(re); err != nil {
			return err
		}
	}
	return nil
}

// validTargetGroupName reports whether s can name a target group.
func validTargetGroupName(s string) bool {
	if s == "" || len(s) > 32 || strings.HasPrefix(s, "-") || strings.HasSuffix(s, "-") {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
