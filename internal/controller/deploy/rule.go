package deploy

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/kelb-io/kelb/internal/controller/model"
)

// ActualRule is an existing, non-default rule of a listener, its action's
// target groups given by ARN.
type ActualRule struct {
	ARN        string
	Priority   int32
	Conditions []model.Condition
	Action     model.Action
	Transforms []model.Transform
}

// RuleChange modifies an existing rule's conditions and action in place.
type RuleChange struct {
	ARN  string
	Rule model.Rule
}

// RulePriorityChange moves an existing rule to a new priority.
type RulePriorityChange struct {
	ARN      string
	Priority int32
}

// RulePlan is what makes a listener's rules the desired ones, in the order
// deploy runs it: deletions free priorities, SetRulePriorities moves the
// rules that only changed place, modifications rewrite rules that keep
// their priority, and creations fill what is left.
type RulePlan struct {
	Delete     []string
	Priorities []RulePriorityChange
	Modify     []RuleChange
	Create     []model.Rule
}

// Empty reports whether the plan changes nothing.
func (p RulePlan) Empty() bool {
	return len(p.Delete) == 0 && len(p.Priorities) == 0 && len(p.Modify) == 0 && len(p.Create) == 0
}

// PlanRules diffs a listener's desired rules (actions resolved to ARNs)
// against its existing ones. An existing rule is kept when one desired rule
// has the same priority and content; otherwise it is moved when some
// desired rule has its content at another priority (one SetRulePriorities
// call, no new rule); otherwise rewritten when a desired rule wants its
// priority; otherwise deleted.
func PlanRules(desired []model.Rule, actual []ActualRule) RulePlan {
	var p RulePlan
	wantDone := make([]bool, len(desired))
	haveDone := make([]bool, len(actual))
	// Same priority, same content: nothing to do.
	for i, want := range desired {
		for j, have := range actual {
			if !haveDone[j] && have.Priority == want.Priority && sameRule(want, have) {
				wantDone[i], haveDone[j] = true, true
				break
			}
		}
	}
	// Same content elsewhere: move.
	for i, want := range desired {
		if wantDone[i] {
			continue
		}
		for j, have := range actual {
			if !haveDone[j] && sameRule(want, have) {
				wantDone[i], haveDone[j] = true, true
				p.Priorities = append(p.Priorities, RulePriorityChange{ARN: have.ARN, Priority: want.Priority})
				break
			}
		}
	}
	// Same priority, other content: modify.
	for i, want := range desired {
		if wantDone[i] {
			continue
		}
		for j, have := range actual {
			if !haveDone[j] && have.Priority == want.Priority {
				wantDone[i], haveDone[j] = true, true
				p.Modify = append(p.Modify, RuleChange{ARN: have.ARN, Rule: want})
				break
			}
		}
	}
	for i, want := range desired {
		if !wantDone[i] {
			p.Create = append(p.Create, want)
		}
	}
	for j, have := range actual {
		if !haveDone[j] {
			p.Delete = append(p.Delete, have.ARN)
		}
	}
	sort.Slice(p.Priorities, func(i, j int) bool { return p.Priorities[i].Priority < p.Priorities[j].Priority })
	return p
}

func sameRule(want model.Rule, have ActualRule) bool {
	return sameConditions(want.Conditions, have.Conditions) && SameAction(want.Action, have.Action) &&
		sameTransforms(want.Transforms, have.Transforms)
}

func sameTransforms(a, b []model.Transform) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	norm := func(ts []model.Transform) []model.Transform {
		out := slices.Clone(ts)
		sort.SliceStable(out, func(i, j int) bool { return out[i].Type < out[j].Type })
		return out
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func sameConditions(a, b []model.Condition) bool {
	if len(a) != len(b) {
		return false
	}
	norm := func(cs []model.Condition) []model.Condition {
		out := slices.Clone(cs)
		for i := range out {
			if len(out[i].Values) == 0 {
				out[i].Values = nil
			}
			if len(out[i].QueryPairs) == 0 {
				out[i].QueryPairs = nil
			}
			if len(out[i].RegexValues) == 0 {
				out[i].RegexValues = nil
			}
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].Field < out[j].Field })
		return out
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func sdkConditions(cs []model.Condition) []types.RuleCondition {
	var out []types.RuleCondition
	for _, c := range cs {
		rc := types.RuleCondition{Field: aws.String(c.Field)}
		switch c.Field {
		case "host-header":
			rc.HostHeaderConfig = &types.HostHeaderConditionConfig{Values: c.Values, RegexValues: c.RegexValues}
		case "path-pattern":
			rc.PathPatternConfig = &types.PathPatternConditionConfig{Values: c.Values, RegexValues: c.RegexValues}
		case "http-request-method":
			rc.HttpRequestMethodConfig = &types.HttpRequestMethodConditionConfig{Values: c.Values}
		case "source-ip":
			rc.SourceIpConfig = &types.SourceIpConditionConfig{Values: c.Values}
		case "http-header":
			rc.HttpHeaderConfig = &types.HttpHeaderConditionConfig{HttpHeaderName: aws.String(c.HeaderName), Values: c.Values, RegexValues: c.RegexValues}
		case "query-string":
			q := &types.QueryStringConditionConfig{}
			for _, kv := range c.QueryPairs {
				q.Values = append(q.Values, types.QueryStringKeyValuePair{Key: optional(kv.Key), Value: aws.String(kv.Value)})
			}
			rc.QueryStringConfig = q
		}
		out = append(out, rc)
	}
	return out
}

func fromSDKConditions(rcs []types.RuleCondition) []model.Condition {
	var out []model.Condition
	for _, rc := range rcs {
		c := model.Condition{Field: aws.ToString(rc.Field), Values: rc.Values}
		switch {
		case rc.HostHeaderConfig != nil:
			c.Values, c.RegexValues = rc.HostHeaderConfig.Values, rc.HostHeaderConfig.RegexValues
		case rc.PathPatternConfig != nil:
			c.Values, c.RegexValues = rc.PathPatternConfig.Values, rc.PathPatternConfig.RegexValues
		case rc.HttpRequestMethodConfig != nil:
			c.Values = rc.HttpRequestMethodConfig.Values
		case rc.SourceIpConfig != nil:
			c.Values = rc.SourceIpConfig.Values
		case rc.HttpHeaderConfig != nil:
			c.HeaderName, c.Values = aws.ToString(rc.HttpHeaderConfig.HttpHeaderName), rc.HttpHeaderConfig.Values
			c.RegexValues = rc.HttpHeaderConfig.RegexValues
		case rc.QueryStringConfig != nil:
			c.Values = nil
			for _, kv := range rc.QueryStringConfig.Values {
				c.QueryPairs = append(c.QueryPairs, model.QueryPair{Key: aws.ToString(kv.Key), Value: aws.ToString(kv.Value)})
			}
		}
		out = append(out, c)
	}
	return out
}

func sdkTransforms(ts []model.Transform) []types.RuleTransform {
	var out []types.RuleTransform
	for _, t := range ts {
		var rws []types.RewriteConfig
		for _, r := range t.Rewrites {
			rws = append(rws, types.RewriteConfig{Regex: aws.String(r.Regex), Replace: aws.String(r.Replace)})
		}
		rt := types.RuleTransform{Type: types.TransformTypeEnum(t.Type)}
		switch t.Type {
		case model.TransformHostHeaderRewrite, model.TransformRequestHeaderSet, model.TransformRequestHeaderAdd, model.TransformRequestHeaderRemove:
			// kelb's request header transforms carry their headers in
			// HostHeaderRewriteConfig (internal/elb).
			rt.HostHeaderRewriteConfig = &types.HostHeaderRewriteConfig{Rewrites: rws}
		case model.TransformURLRewrite:
			rt.UrlRewriteConfig = &types.UrlRewriteConfig{Rewrites: rws}
		}
		out = append(out, rt)
	}
	return out
}

func fromSDKTransforms(ts []types.RuleTransform) []model.Transform {
	var out []model.Transform
	for _, t := range ts {
		x := model.Transform{Type: string(t.Type)}
		var rws []types.RewriteConfig
		switch {
		case t.HostHeaderRewriteConfig != nil:
			rws = t.HostHeaderRewriteConfig.Rewrites
		case t.UrlRewriteConfig != nil:
			rws = t.UrlRewriteConfig.Rewrites
		}
		for _, r := range rws {
			x.Rewrites = append(x.Rewrites, model.Rewrite{Regex: aws.ToString(r.Regex), Replace: aws.ToString(r.Replace)})
		}
		out = append(out, x)
	}
	return out
}

// FindRules returns the non-default rules of a listener.
func FindRules(ctx context.Context, c ELBv2, listenerARN string) ([]ActualRule, error) {
	var out []ActualRule
	in := &elbv2.DescribeRulesInput{ListenerArn: &listenerARN}
	for {
		page, err := c.DescribeRules(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("describe rules of %s: %w", listenerARN, err)
		}
		for _, r := range page.Rules {
			if aws.ToBool(r.IsDefault) {
				continue
			}
			prio, err := strconv.Atoi(aws.ToString(r.Priority))
			if err != nil {
				return nil, fmt.Errorf("rule %s: priority %q: %w", aws.ToString(r.RuleArn), aws.ToString(r.Priority), err)
			}
			have := ActualRule{ARN: aws.ToString(r.RuleArn), Priority: int32(prio), Conditions: fromSDKConditions(r.Conditions),
				Transforms: fromSDKTransforms(r.Transforms)}
			if len(r.Actions) > 0 {
				have.Action = fromSDKActions(r.Actions)
			}
			out = append(out, have)
		}
		if page.NextMarker == nil || *page.NextMarker == "" {
			return out, nil
		}
		in.Marker = page.NextMarker
	}
}

// applyRules runs rule plan p on listener listenerARN, whose desired tags
// are tags (the rules get them but the resource tag); arns are the ARNs of
// the stack's target groups.
func (d *Deployer) applyRules(ctx context.Context, listenerARN string, p RulePlan, tags map[string]string, arns map[string]string) error {
	if p.Empty() {
		return nil
	}
	for _, arn := range p.Delete {
		if _, err := d.Client.DeleteRule(ctx, &elbv2.DeleteRuleInput{RuleArn: &arn}); err != nil && !NotFound(err) {
			return fmt.Errorf("delete rule %s: %w", arn, err)
		}
	}
	if len(p.Priorities) > 0 {
		in := &elbv2.SetRulePrioritiesInput{}
		for _, c := range p.Priorities {
			in.RulePriorities = append(in.RulePriorities, types.RulePriorityPair{RuleArn: aws.String(c.ARN), Priority: aws.Int32(c.Priority)})
		}
		if _, err := d.Client.SetRulePriorities(ctx, in); err != nil {
			return fmt.Errorf("set rule priorities on %s: %w", listenerARN, err)
		}
	}
	for _, c := range p.Modify {
		action, err := finalAction(c.Rule.Action, arns)
		if err != nil {
			return fmt.Errorf("rule %d: %w", c.Rule.Priority, err)
		}
		in := &elbv2.ModifyRuleInput{
			RuleArn:    aws.String(c.ARN),
			Conditions: sdkConditions(c.Rule.Conditions),
			Actions:    sdkActions(action, model.TypeApplication),
			Transforms: sdkTransforms(c.Rule.Transforms),
		}
		if len(c.Rule.Transforms) == 0 {
			in.ResetTransforms = aws.Bool(true)
		}
		if _, err := d.Client.ModifyRule(ctx, in); err != nil {
			return fmt.Errorf("modify rule %s: %w", c.ARN, err)
		}
	}
	ruleTags := map[string]string{}
	for k, v := range tags {
		if k != d.Frontend.ResourceTag {
			ruleTags[k] = v
		}
	}
	for _, r := range p.Create {
		action, err := finalAction(r.Action, arns)
		if err != nil {
			return fmt.Errorf("rule %d: %w", r.Priority, err)
		}
		_, err = d.Client.CreateRule(ctx, &elbv2.CreateRuleInput{
			ListenerArn: &listenerARN,
			Priority:    aws.Int32(r.Priority),
			Conditions:  sdkConditions(r.Conditions),
			Actions:     sdkActions(action, model.TypeApplication),
			Transforms:  sdkTransforms(r.Transforms),
			Tags:        SDKTags(ruleTags),
		})
		if err != nil {
			return fmt.Errorf("create rule %d on %s: %w", r.Priority, listenerARN, err)
		}
	}
	return nil
}
