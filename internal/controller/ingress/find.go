package ingress

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/kelb-io/kelb/internal/controller/deploy"
)

// find returns the resources of stack stackID: the load balancers and
// target groups tagged with the cluster and the stack, and the listeners
// of the load balancer.
func (d *Deployer) find(ctx context.Context, stackID string) (*actual, error) {
	owner := d.owner(stackID)
	lb, others, err := deploy.FindLoadBalancers(ctx, d.Client, func(t map[string]string) bool {
		return owner.Owns(t) && t[TagResource] == ResourceLoadBalancer
	})
	if err != nil {
		return nil, err
	}
	a := &actual{lb: lb, otherLBs: others}
	if a.lb != nil {
		if a.listeners, err = d.listeners(ctx, a.lb.ARN); err != nil {
			return nil, err
		}
	}
	if a.targetGroups, err = deploy.FindTargetGroups(ctx, d.Client, owner.Owns); err != nil {
		return nil, err
	}
	return a, nil
}

func (d *Deployer) listeners(ctx context.Context, lbARN string) ([]actualListener, error) {
	ls, err := deploy.FindListeners(ctx, d.Client, lbARN)
	if err != nil {
		return nil, err
	}
	var out []actualListener
	for _, l := range ls {
		have := actualListener{
			ARN: l.ARN, Port: aws.ToInt32(l.Listener.Port), Protocol: string(l.Listener.Protocol), SSLPolicy: aws.ToString(l.Listener.SslPolicy),
			Tags: l.Tags, Attributes: l.Attributes, MutualAuthentication: l.Listener.MutualAuthentication,
		}
		for _, c := range l.Listener.Certificates {
			if have.DefaultCertificate == "" || aws.ToBool(c.IsDefault) {
				have.DefaultCertificate = aws.ToString(c.CertificateArn)
			}
		}
		if len(l.Listener.DefaultActions) > 0 {
			have.DefaultAction = fromSDKActions(l.Listener.DefaultActions)
		}
		out = append(out, have)
	}
	return out, nil
}

// rules returns the non-default rules of a listener.
func (d *Deployer) rules(ctx context.Context, listenerARN string) ([]ActualRule, error) {
	var out []ActualRule
	in := &elbv2.DescribeRulesInput{ListenerArn: &listenerARN}
	for {
		page, err := d.Client.DescribeRules(ctx, in)
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

// sdkAction is a with its target groups given by ARN, as the API takes it.
func sdkAction(a Action) types.Action {
	out := types.Action{Type: types.ActionTypeEnum(a.Type), Order: aws.Int32(1)}
	switch {
	case a.Forward != nil:
		fc := &types.ForwardActionConfig{}
		for _, wt := range a.Forward.TargetGroups {
			fc.TargetGroups = append(fc.TargetGroups, types.TargetGroupTuple{TargetGroupArn: aws.String(wt.ARN), Weight: aws.Int32(wt.Weight)})
		}
		if a.Forward.StickinessSeconds > 0 {
			fc.TargetGroupStickinessConfig = &types.TargetGroupStickinessConfig{Enabled: aws.Bool(true), DurationSeconds: aws.Int32(a.Forward.StickinessSeconds)}
		}
		out.ForwardConfig = fc
	case a.Redirect != nil:
		r := a.Redirect
		out.RedirectConfig = &types.RedirectActionConfig{
			StatusCode: types.RedirectActionStatusCodeEnum(r.StatusCode),
			Protocol:   optional(r.Protocol), Port: optional(r.Port), Host: optional(r.Host), Path: optional(r.Path), Query: optional(r.Query),
		}
	case a.FixedResponse != nil:
		f := a.FixedResponse
		out.FixedResponseConfig = &types.FixedResponseActionConfig{StatusCode: aws.String(f.StatusCode), ContentType: optional(f.ContentType), MessageBody: optional(f.MessageBody)}
	}
	return out
}

func fromSDKAction(a types.Action) Action {
	out := Action{Type: string(a.Type)}
	switch {
	case a.Type == types.ActionTypeEnumForward:
		f := &ForwardAction{}
		if a.ForwardConfig != nil {
			for _, t := range a.ForwardConfig.TargetGroups {
				f.TargetGroups = append(f.TargetGroups, WeightedTargetGroup{ARN: aws.ToString(t.TargetGroupArn), Weight: aws.ToInt32(t.Weight)})
			}
			if s := a.ForwardConfig.TargetGroupStickinessConfig; s != nil && aws.ToBool(s.Enabled) {
				f.StickinessSeconds = aws.ToInt32(s.DurationSeconds)
			}
		}
		if len(f.TargetGroups) == 0 && a.TargetGroupArn != nil {
			f.TargetGroups = []WeightedTargetGroup{{ARN: *a.TargetGroupArn, Weight: 1}}
		}
		out.Forward = f
	case a.RedirectConfig != nil:
		r := a.RedirectConfig
		out.Redirect = &RedirectAction{
			StatusCode: string(r.StatusCode), Protocol: aws.ToString(r.Protocol), Port: aws.ToString(r.Port),
			Host: aws.ToString(r.Host), Path: aws.ToString(r.Path), Query: aws.ToString(r.Query),
		}
	case a.FixedResponseConfig != nil:
		f := a.FixedResponseConfig
		out.FixedResponse = &FixedResponseAction{StatusCode: aws.ToString(f.StatusCode), ContentType: aws.ToString(f.ContentType), MessageBody: aws.ToString(f.MessageBody)}
	}
	return out
}

func sdkConditions(cs []Condition) []types.RuleCondition {
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

func fromSDKConditions(rcs []types.RuleCondition) []Condition {
	var out []Condition
	for _, rc := range rcs {
		c := Condition{Field: aws.ToString(rc.Field), Values: rc.Values}
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
				c.QueryPairs = append(c.QueryPairs, QueryPair{Key: aws.ToString(kv.Key), Value: aws.ToString(kv.Value)})
			}
		}
		out = append(out, c)
	}
	return out
}

func sdkTransforms(ts []Transform) []types.RuleTransform {
	var out []types.RuleTransform
	for _, t := range ts {
		var rws []types.RewriteConfig
		for _, r := range t.Rewrites {
			rws = append(rws, types.RewriteConfig{Regex: aws.String(r.Regex), Replace: aws.String(r.Replace)})
		}
		rt := types.RuleTransform{Type: types.TransformTypeEnum(t.Type)}
		switch t.Type {
		case TransformHostHeaderRewrite:
			rt.HostHeaderRewriteConfig = &types.HostHeaderRewriteConfig{Rewrites: rws}
		case TransformURLRewrite:
			rt.UrlRewriteConfig = &types.UrlRewriteConfig{Rewrites: rws}
		}
		out = append(out, rt)
	}
	return out
}

func fromSDKTransforms(ts []types.RuleTransform) []Transform {
	var out []Transform
	for _, t := range ts {
		x := Transform{Type: string(t.Type)}
		var rws []types.RewriteConfig
		switch {
		case t.HostHeaderRewriteConfig != nil:
			rws = t.HostHeaderRewriteConfig.Rewrites
		case t.UrlRewriteConfig != nil:
			rws = t.UrlRewriteConfig.Rewrites
		}
		for _, r := range rws {
			x.Rewrites = append(x.Rewrites, Rewrite{Regex: aws.ToString(r.Regex), Replace: aws.ToString(r.Replace)})
		}
		out = append(out, x)
	}
	return out
}
