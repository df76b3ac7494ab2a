package elbapi

import (
	"context"

	"github.com/kelb-io/kelb/internal/elb"
)

type xRule struct {
	RuleArn    string
	Priority   string
	Conditions List[xRuleCondition]
	Actions    List[xAction]
	IsDefault  bool
	Transforms *List[xRuleTransform] `xml:",omitempty"`
}

type xValues struct {
	Values      List[string]
	RegexValues []string `xml:"RegexValues>member"`
}

type xHTTPHeaderConfig struct {
	HttpHeaderName string
	Values         List[string]
	RegexValues    []string `xml:"RegexValues>member"`
}

type xQueryStringConfig struct {
	Values List[xQueryStringPair]
}

type xQueryStringPair struct {
	Key   string `xml:",omitempty"`
	Value string
}

type xRuleCondition struct {
	Field                   string
	Values                  []string            `xml:"Values>member"`
	HostHeaderConfig        *xValues            `xml:",omitempty"`
	PathPatternConfig       *xValues            `xml:",omitempty"`
	HttpHeaderConfig        *xHTTPHeaderConfig  `xml:",omitempty"`
	QueryStringConfig       *xQueryStringConfig `xml:",omitempty"`
	HttpRequestMethodConfig *xValues            `xml:",omitempty"`
	SourceIpConfig          *xValues            `xml:",omitempty"`
	RegexValues             []string            `xml:"RegexValues>member"`
}

type rulesResult struct {
	Rules      List[xRule]
	NextMarker string `xml:",omitempty"`
}

// decodeConditions reads conditions in both forms ELBv2 accepts: the
// legacy Field + Values, and the per-field *Config structures.
func decodeConditions(p Params) []elb.RuleCondition {
	var out []elb.RuleCondition
	for _, m := range p.StructList("Conditions") {
		c := elb.RuleCondition{Field: m.String("Field"), Values: m.StringList("Values"), RegexValues: m.StringList("RegexValues")}
		for key, field := range map[string]string{
			"HostHeaderConfig": "host-header", "PathPatternConfig": "path-pattern",
			"HttpRequestMethodConfig": "http-request-method", "SourceIpConfig": "source-ip",
		} {
			if cfg, ok := m.Struct(key); ok {
				c.Field = field
				c.Values = append(c.Values, cfg.StringList("Values")...)
				c.RegexValues = append(c.RegexValues, cfg.StringList("RegexValues")...)
			}
		}
		if cfg, ok := m.Struct("HttpHeaderConfig"); ok {
			c.Field = "http-header"
			c.HeaderName = cfg.String("HttpHeaderName")
			c.Values = append(c.Values, cfg.StringList("Values")...)
			c.RegexValues = append(c.RegexValues, cfg.StringList("RegexValues")...)
		}
		if cfg, ok := m.Struct("QueryStringConfig"); ok {
			c.Field = "query-string"
			for _, kv := range cfg.StructList("Values") {
				c.QueryPairs = append(c.QueryPairs, elb.QueryStringPair{Key: kv.String("Key"), Value: kv.String("Value")})
			}
		}
		out = append(out, c)
	}
	return out
}

func encodeRule(r elb.Rule) xRule {
	x := xRule{RuleArn: r.ARN, Priority: r.Priority, IsDefault: r.IsDefault,
		Conditions: List[xRuleCondition]{}, Actions: encodeActions(r.Actions), Transforms: encodeTransforms(r.Transforms)}
	for _, c := range r.Conditions {
		xc := xRuleCondition{Field: c.Field}
		vals := &xValues{Values: List[string](c.Values), RegexValues: c.RegexValues}
		switch c.Field {
		case "host-header":
			xc.Values, xc.RegexValues, xc.HostHeaderConfig = c.Values, c.RegexValues, vals
		case "path-pattern":
			xc.Values, xc.RegexValues, xc.PathPatternConfig = c.Values, c.RegexValues, vals
		case "http-request-method":
			xc.HttpRequestMethodConfig = vals
		case "source-ip":
			xc.SourceIpConfig = vals
		case "http-header":
			xc.HttpHeaderConfig = &xHTTPHeaderConfig{HttpHeaderName: c.HeaderName, Values: List[string](c.Values), RegexValues: c.RegexValues}
		case "query-string":
			q := &xQueryStringConfig{Values: List[xQueryStringPair]{}}
			for _, kv := range c.QueryPairs {
				q.Values = append(q.Values, xQueryStringPair{Key: kv.Key, Value: kv.Value})
			}
			xc.QueryStringConfig = q
		}
		x.Conditions = append(x.Conditions, xc)
	}
	return x
}

func encodeRules(rules []elb.Rule, next string) rulesResult {
	out := rulesResult{Rules: List[xRule]{}, NextMarker: next}
	for _, r := range rules {
		out.Rules = append(out.Rules, encodeRule(r))
	}
	return out
}

func (o *ops) createRule(ctx context.Context, p Params) (any, error) {
	var d decoder
	in := elb.CreateRuleInput{
		ListenerARN: p.String("ListenerArn"),
		Priority:    d.int32(p, "Priority"),
		Conditions:  decodeConditions(p),
		Actions:     decodeActions(&d, p, "Actions"),
		Transforms:  decodeTransforms(p),
		Tags:        decodeTags(p, "Tags"),
	}
	if d.err != nil {
		return nil, d.err
	}
	r, err := o.svc.CreateRule(ctx, in)
	if err != nil {
		return nil, err
	}
	return encodeRules([]elb.Rule{r}, ""), nil
}

func (o *ops) describeRules(ctx context.Context, p Params) (any, error) {
	rules, err := o.svc.DescribeRules(ctx, elb.DescribeRulesInput{
		ListenerARN: p.String("ListenerArn"),
		RuleARNs:    p.StringList("RuleArns"),
	})
	if err != nil {
		return nil, err
	}
	page, next, err := Paginate(rules, p, func(r elb.Rule) string { return r.ARN })
	if err != nil {
		return nil, err
	}
	return encodeRules(page, next), nil
}

func (o *ops) modifyRule(ctx context.Context, p Params) (any, error) {
	var d decoder
	in := elb.ModifyRuleInput{
		RuleARN:         p.String("RuleArn"),
		Conditions:      decodeConditions(p),
		Actions:         decodeActions(&d, p, "Actions"),
		Transforms:      decodeTransforms(p),
		ResetTransforms: d.bool(p, "ResetTransforms"),
	}
	if d.err != nil {
		return nil, d.err
	}
	r, err := o.svc.ModifyRule(ctx, in)
	if err != nil {
		return nil, err
	}
	return encodeRules([]elb.Rule{r}, ""), nil
}

func (o *ops) deleteRule(ctx context.Context, p Params) (any, error) {
	return nil, o.svc.DeleteRule(ctx, p.String("RuleArn"))
}

func (o *ops) setRulePriorities(ctx context.Context, p Params) (any, error) {
	var d decoder
	var prios []elb.RulePriority
	for _, m := range p.StructList("RulePriorities") {
		prios = append(prios, elb.RulePriority{RuleARN: m.String("RuleArn"), Priority: d.int32(m, "Priority")})
	}
	if d.err != nil {
		return nil, d.err
	}
	rules, err := o.svc.SetRulePriorities(ctx, prios)
	if err != nil {
		return nil, err
	}
	return encodeRules(rules, ""), nil
}
