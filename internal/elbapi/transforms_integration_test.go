package elbapi

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
)

// TestSDKTransformsAndRegex creates, describes and modifies a rule with
// regex conditions and transforms through aws-sdk-go-v2, and sets the
// routing.http.* listener attributes.
func TestSDKTransformsAndRegex(t *testing.T) {
	srv := startELB(t)
	c := srv.client(t)
	ctx := t.Context()
	lb := must(c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("rewrites")}))(t).LoadBalancers[0]
	web := must(c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{VpcId: aws.String("vpc-0ce1b000000000000"), Name: aws.String("web"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80), TargetType: types.TargetTypeEnumIp}))(t).TargetGroups[0]
	l := must(c.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancerArn, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: web.TargetGroupArn}},
	}))(t).Listeners[0]
	fwd := []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: web.TargetGroupArn}}
	conds := []types.RuleCondition{
		{Field: aws.String("path-pattern"), PathPatternConfig: &types.PathPatternConditionConfig{RegexValues: []string{`^/api/v[0-9]+/`}}},
		{Field: aws.String("host-header"), HostHeaderConfig: &types.HostHeaderConditionConfig{RegexValues: []string{`^(.+)\.example\.com$`}}},
		{Field: aws.String("http-header"), HttpHeaderConfig: &types.HttpHeaderConditionConfig{HttpHeaderName: aws.String("User-Agent"), RegexValues: []string{`(?i)mobile`}}},
	}
	transforms := []types.RuleTransform{
		{Type: types.TransformTypeEnumHostHeaderRewrite, HostHeaderRewriteConfig: &types.HostHeaderRewriteConfig{
			Rewrites: []types.RewriteConfig{{Regex: aws.String(`^(.+)\.example\.com$`), Replace: aws.String("$1.internal")}}}},
		{Type: types.TransformTypeEnumUrlRewrite, UrlRewriteConfig: &types.UrlRewriteConfig{
			Rewrites: []types.RewriteConfig{{Regex: aws.String(`^/api/v[0-9]+/(.*)$`), Replace: aws.String("/$1")}}}},
	}
	r := must(c.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: l.ListenerArn, Priority: aws.Int32(1), Conditions: conds, Actions: fwd, Transforms: transforms}))(t).Rules[0]

	got := must(c.DescribeRules(ctx, &elbv2.DescribeRulesInput{RuleArns: []string{aws.ToString(r.RuleArn)}}))(t).Rules[0]
	var regexes []string
	for _, cd := range got.Conditions {
		switch {
		case cd.PathPatternConfig != nil:
			regexes = append(regexes, cd.PathPatternConfig.RegexValues...)
		case cd.HostHeaderConfig != nil:
			regexes = append(regexes, cd.HostHeaderConfig.RegexValues...)
		case cd.HttpHeaderConfig != nil:
			regexes = append(regexes, aws.ToString(cd.HttpHeaderConfig.HttpHeaderName)+":"+cd.HttpHeaderConfig.RegexValues[0])
		}
	}
	if diff := cmp.Diff([]string{`^/api/v[0-9]+/`, `^(.+)\.example\.com$`, `User-Agent:(?i)mobile`}, regexes); diff != "" {
		t.Errorf("described regex values (-want +got):\n%s", diff)
	}
	type rw struct{ Type, Regex, Replace string }
	flat := func(ts []types.RuleTransform) []rw {
		var out []rw
		for _, x := range ts {
			cfg := x.UrlRewriteConfig
			var rs []types.RewriteConfig
			if cfg != nil {
				rs = cfg.Rewrites
			}
			if h := x.HostHeaderRewriteConfig; h != nil {
				rs = h.Rewrites
			}
			for _, r := range rs {
				out = append(out, rw{string(x.Type), aws.ToString(r.Regex), aws.ToString(r.Replace)})
			}
		}
		return out
	}
	if diff := cmp.Diff(flat(transforms), flat(got.Transforms)); diff != "" {
		t.Errorf("described transforms (-want +got):\n%s", diff)
	}

	// Transforms and ResetTransforms together, a regex RE2 cannot run,
	// Values with RegexValues: ValidationError.
	bad := []*elbv2.ModifyRuleInput{
		{RuleArn: r.RuleArn, Transforms: transforms, ResetTransforms: aws.Bool(true)},
		{RuleArn: r.RuleArn, Transforms: []types.RuleTransform{{Type: types.TransformTypeEnumUrlRewrite, UrlRewriteConfig: &types.UrlRewriteConfig{
			Rewrites: []types.RewriteConfig{{Regex: aws.String(`^/(?<=a)b`), Replace: aws.String("/")}}}}}},
		{RuleArn: r.RuleArn, Conditions: []types.RuleCondition{{Field: aws.String("path-pattern"), PathPatternConfig: &types.PathPatternConditionConfig{
			Values: []string{"/a"}, RegexValues: []string{"^/b"}}}}},
	}
	for i, in := range bad {
		_, err := c.ModifyRule(ctx, in)
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" {
			t.Errorf("bad ModifyRule %d: %v, want ValidationError", i, err)
		}
	}
	m := must(c.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: r.RuleArn, ResetTransforms: aws.Bool(true)}))(t).Rules[0]
	if len(m.Transforms) != 0 {
		t.Errorf("transforms after ResetTransforms = %+v", m.Transforms)
	}

	// routing.http.* listener attributes.
	out := must(c.ModifyListenerAttributes(ctx, &elbv2.ModifyListenerAttributesInput{ListenerArn: l.ListenerArn, Attributes: []types.ListenerAttribute{
		{Key: aws.String("routing.http.response.server.enabled"), Value: aws.String("false")},
		{Key: aws.String("routing.http.response.x_frame_options.header_value"), Value: aws.String("DENY")},
	}}))(t)
	have := map[string]string{}
	for _, a := range out.Attributes {
		have[aws.ToString(a.Key)] = aws.ToString(a.Value)
	}
	if have["routing.http.response.server.enabled"] != "false" || have["routing.http.response.x_frame_options.header_value"] != "DENY" ||
		have["routing.http.request.x_amzn_tls_version.header_name"] != "X-Amzn-Tls-Version" {
		t.Errorf("listener attributes after modify = %v", have)
	}
	_, err := c.ModifyListenerAttributes(ctx, &elbv2.ModifyListenerAttributesInput{ListenerArn: l.ListenerArn, Attributes: []types.ListenerAttribute{
		{Key: aws.String("routing.http.response.x_content_type_options.header_value"), Value: aws.String("sniff")}}})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" {
		t.Errorf("bad x_content_type_options: %v, want ValidationError", err)
	}
}
