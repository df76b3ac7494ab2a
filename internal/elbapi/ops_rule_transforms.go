package elbapi

import "github.com/kelb-io/kelb/internal/elb"

// xRuleTransform is a RuleTransform of the API.
type xRuleTransform struct {
	Type                    string
	HostHeaderRewriteConfig *xRewriteList `xml:",omitempty"`
	UrlRewriteConfig        *xRewriteList `xml:",omitempty"`
}

type xRewriteList struct {
	Rewrites List[xRewriteConfig]
}

type xRewriteConfig struct {
	Regex   string
	Replace string
}

// decodeTransforms reads the Transforms list of CreateRule and ModifyRule.
func decodeTransforms(p Params) []elb.RuleTransform {
	var out []elb.RuleTransform
	for _, m := range p.StructList("Transforms") {
		t := elb.RuleTransform{Type: m.String("Type")}
		if cfg, ok := m.Struct("HostHeaderRewriteConfig"); ok {
			t.HostHeaderRewrite = decodeRewrites(cfg)
		}
		if cfg, ok := m.Struct("UrlRewriteConfig"); ok {
			t.URLRewrite = decodeRewrites(cfg)
		}
		out = append(out, t)
	}
	return out
}

func decodeRewrites(p Params) *elb.RewriteList {
	l := &elb.RewriteList{}
	for _, r := range p.StructList("Rewrites") {
		l.Rewrites = append(l.Rewrites, elb.RewriteConfig{Regex: r.String("Regex"), Replace: r.String("Replace")})
	}
	return l
}

// encodeTransforms returns a rule's transforms, nil (no element) for none.
func encodeTransforms(ts []elb.RuleTransform) *List[xRuleTransform] {
	if len(ts) == 0 {
		return nil
	}
	out := List[xRuleTransform]{}
	for _, t := range ts {
		x := xRuleTransform{Type: t.Type}
		if t.HostHeaderRewrite != nil {
			x.HostHeaderRewriteConfig = encodeRewrites(t.HostHeaderRewrite)
		}
		if t.URLRewrite != nil {
			x.UrlRewriteConfig = encodeRewrites(t.URLRewrite)
		}
		out = append(out, x)
	}
	return &out
}

func encodeRewrites(l *elb.RewriteList) *xRewriteList {
	x := &xRewriteList{Rewrites: List[xRewriteConfig]{}}
	for _, r := range l.Rewrites {
		x.Rewrites = append(x.Rewrites, xRewriteConfig{Regex: r.Regex, Replace: r.Replace})
	}
	return x
}
