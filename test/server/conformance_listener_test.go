package server_test

import (
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

func listenerCases() []confCase {
	return []confCase{
		{"CreateListener", "no port", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: &f.nlb, Protocol: types.ProtocolEnumTcp, DefaultActions: forwardTo(f.tgTCP)})
			return err
		}},
		{"CreateListener", "no protocol", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: &f.nlb, Port: aws.Int32(81), DefaultActions: forwardTo(f.tgTCP)})
			return err
		}},
		{"CreateListener", "a port in use with other actions", "DuplicateListener", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: &f.alb, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80), DefaultActions: fixed("text/plain")})
			return err
		}},
		{"CreateListener", "fixed response of a content type AWS does not serve", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: &f.alb, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(82), DefaultActions: fixed("application/xml")})
			return err
		}},
		{"CreateListener", "missing load balancer", "LoadBalancerNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: missing(f.nlb), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(81), DefaultActions: forwardTo(f.tgTCP)})
			return err
		}},
		{"DescribeListeners", "of a load balancer", "", func(ctx cx, c cl, f fx) error {
			out, err := c.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: &f.alb})
			if err == nil && len(out.Listeners) != 2 {
				return fmt.Errorf("%d listeners, want 2", len(out.Listeners))
			}
			return err
		}},
		{"DescribeListeners", "neither load balancer nor listeners", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.DescribeListeners(ctx, &elbv2.DescribeListenersInput{})
			return err
		}},
		{"DescribeListeners", "missing load balancer", "LoadBalancerNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: missing(f.alb)})
			return err
		}},
		{"ModifyListener", "a port in use", "DuplicateListener", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: &f.httpListen, Port: aws.Int32(443)})
			return err
		}},
		{"ModifyListener", "another port", "", func(ctx cx, c cl, f fx) error {
			out, err := c.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: &f.tcpListener, Port: aws.Int32(8081)})
			if err == nil && aws.ToInt32(out.Listeners[0].Port) != 8081 {
				return fmt.Errorf("port %d", aws.ToInt32(out.Listeners[0].Port))
			}
			return err
		}},
		{"ModifyListener", "missing listener", "ListenerNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: missing(f.tcpListener), Port: aws.Int32(8082)})
			return err
		}},
		{"DescribeListenerAttributes", "a TCP listener", "", func(ctx cx, c cl, f fx) error {
			_, err := c.DescribeListenerAttributes(ctx, &elbv2.DescribeListenerAttributesInput{ListenerArn: &f.tcpListener})
			return err
		}},
		{"DescribeListenerAttributes", "missing listener", "ListenerNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.DescribeListenerAttributes(ctx, &elbv2.DescribeListenerAttributesInput{ListenerArn: missing(f.tcpListener)})
			return err
		}},
		{"ModifyListenerAttributes", "TCP idle timeout", "", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyListenerAttributes(ctx, &elbv2.ModifyListenerAttributesInput{ListenerArn: &f.tcpListener,
				Attributes: []types.ListenerAttribute{{Key: aws.String("tcp.idle_timeout.seconds"), Value: aws.String("120")}}})
			return err
		}},
		{"ModifyListenerAttributes", "TCP idle timeout below 60", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyListenerAttributes(ctx, &elbv2.ModifyListenerAttributesInput{ListenerArn: &f.tcpListener,
				Attributes: []types.ListenerAttribute{{Key: aws.String("tcp.idle_timeout.seconds"), Value: aws.String("59")}}})
			return err
		}},
		{"DeleteListener", "a listener", "", func(ctx cx, c cl, f fx) error {
			out, err := c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: &f.alb, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(8088), DefaultActions: fixed("application/json")})
			if err != nil {
				return err
			}
			_, err = c.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: out.Listeners[0].ListenerArn})
			return err
		}},
		{"DeleteListener", "missing listener", "ListenerNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: missing(f.tcpListener)})
			return err
		}},
	}
}

func condition(field string, set func(*types.RuleCondition)) []types.RuleCondition {
	rc := types.RuleCondition{Field: aws.String(field)}
	set(&rc)
	return []types.RuleCondition{rc}
}

func ruleCases() []confCase {
	long := strings.Repeat("v", 129)
	createRule := func(prio int32, conds []types.RuleCondition, actions []types.Action) func(ctx cx, c cl, f fx) error {
		return func(ctx cx, c cl, f fx) error {
			if actions == nil {
				actions = forwardTo(f.tgHTTP)
			}
			_, err := c.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: &f.httpListen, Priority: aws.Int32(prio), Conditions: conds, Actions: actions})
			return err
		}
	}
	return []confCase{
		{"CreateRule", "a priority in use", "PriorityInUse", createRule(10, pathRule("/x"), nil)},
		{"CreateRule", "fixed JSON response", "", createRule(20, pathRule("/health"), fixed("application/json"))},
		{"CreateRule", "fixed response of another content type", "ValidationError", createRule(21, pathRule("/x"), fixed("image/png"))},
		{"CreateRule", "four values in a condition", "ValidationError", createRule(22, pathRule("/a", "/b", "/c", "/d"), nil)},
		{"CreateRule", "a value of 129 characters", "ValidationError", createRule(23, pathRule("/"+long), nil)},
		{"CreateRule", "a lower-case method", "ValidationError", createRule(24, condition("http-request-method", func(rc *types.RuleCondition) {
			rc.HttpRequestMethodConfig = &types.HttpRequestMethodConditionConfig{Values: []string{"get"}}
		}), nil)},
		{"CreateRule", "a header name of 41 characters", "ValidationError", createRule(25, condition("http-header", func(rc *types.RuleCondition) {
			rc.HttpHeaderConfig = &types.HttpHeaderConditionConfig{HttpHeaderName: aws.String(strings.Repeat("h", 41)), Values: []string{"1"}}
		}), nil)},
		{"CreateRule", "a query-string value of 129 characters", "ValidationError", createRule(26, condition("query-string", func(rc *types.RuleCondition) {
			rc.QueryStringConfig = &types.QueryStringConditionConfig{Values: []types.QueryStringKeyValuePair{{Key: aws.String("q"), Value: aws.String(long)}}}
		}), nil)},
		{"CreateRule", "header, method and query conditions", "", createRule(27, append(append(
			condition("http-header", func(rc *types.RuleCondition) {
				rc.HttpHeaderConfig = &types.HttpHeaderConditionConfig{HttpHeaderName: aws.String("X-Conf"), Values: []string{"1"}}
			}),
			condition("http-request-method", func(rc *types.RuleCondition) {
				rc.HttpRequestMethodConfig = &types.HttpRequestMethodConditionConfig{Values: []string{"GET", "CUSTOM_VERB"}}
			})...),
			condition("query-string", func(rc *types.RuleCondition) {
				rc.QueryStringConfig = &types.QueryStringConditionConfig{Values: []types.QueryStringKeyValuePair{{Key: aws.String("v"), Value: aws.String("1")}}}
			})...), nil)},
		{"DescribeRules", "of a listener, with its default rule", "", func(ctx cx, c cl, f fx) error {
			out, err := c.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: &f.httpListen})
			if err != nil {
				return err
			}
			for _, r := range out.Rules {
				if aws.ToBool(r.IsDefault) && aws.ToString(r.Priority) == "default" {
					return nil
				}
			}
			return fmt.Errorf("no default rule in %d rules", len(out.Rules))
		}},
		{"DescribeRules", "missing rule", "RuleNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.DescribeRules(ctx, &elbv2.DescribeRulesInput{RuleArns: []string{f.rule + "0"}})
			return err
		}},
		{"ModifyRule", "another path", "", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: &f.rule, Conditions: pathRule("/conf/v2/*")})
			return err
		}},
		{"ModifyRule", "a fixed response of another content type", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: &f.rule, Actions: fixed("text/xml")})
			return err
		}},
		{"ModifyRule", "missing rule", "RuleNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: aws.String(f.rule + "0"), Conditions: pathRule("/x")})
			return err
		}},
		{"SetRulePriorities", "a free priority", "", func(ctx cx, c cl, f fx) error {
			_, err := c.SetRulePriorities(ctx, &elbv2.SetRulePrioritiesInput{RulePriorities: []types.RulePriorityPair{{RuleArn: &f.rule, Priority: aws.Int32(11)}}})
			return err
		}},
		{"SetRulePriorities", "a priority in use", "PriorityInUse", func(ctx cx, c cl, f fx) error {
			_, err := c.SetRulePriorities(ctx, &elbv2.SetRulePrioritiesInput{RulePriorities: []types.RulePriorityPair{{RuleArn: &f.rule, Priority: aws.Int32(20)}}})
			return err
		}},
		{"DeleteRule", "the default rule", "OperationNotPermitted", func(ctx cx, c cl, f fx) error {
			out, err := c.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: &f.httpListen})
			if err != nil {
				return fmt.Errorf("describe rules: %v", err)
			}
			for _, r := range out.Rules {
				if aws.ToBool(r.IsDefault) {
					_, err = c.DeleteRule(ctx, &elbv2.DeleteRuleInput{RuleArn: r.RuleArn})
					return err
				}
			}
			return fmt.Errorf("no default rule")
		}},
		{"DeleteRule", "missing rule", "RuleNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.DeleteRule(ctx, &elbv2.DeleteRuleInput{RuleArn: aws.String(f.rule + "0")})
			return err
		}},
		{"DeleteRule", "a rule", "", func(ctx cx, c cl, f fx) error {
			_, err := c.DeleteRule(ctx, &elbv2.DeleteRuleInput{RuleArn: &f.rule})
			return err
		}},
	}
}

func certificateAndTagCases() []confCase {
	tags := func(n int) []types.Tag {
		var out []types.Tag
		for i := range n {
			out = append(out, types.Tag{Key: aws.String(fmt.Sprintf("k%d", i)), Value: aws.String("v")})
		}
		return out
	}
	return []confCase{
		{"AddListenerCertificates", "an SNI certificate", "", func(ctx cx, c cl, f fx) error {
			_, err := c.AddListenerCertificates(ctx, &elbv2.AddListenerCertificatesInput{ListenerArn: &f.httpsListener, Certificates: []types.Certificate{{CertificateArn: &f.cert2}}})
			return err
		}},
		{"AddListenerCertificates", "an unknown certificate", "CertificateNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.AddListenerCertificates(ctx, &elbv2.AddListenerCertificatesInput{ListenerArn: &f.httpsListener,
				Certificates: []types.Certificate{{CertificateArn: aws.String("arn:aws:acm:us-west-2:123456789012:certificate/00000000-0000-4000-8000-000000000000")}}})
			return err
		}},
		{"AddListenerCertificates", "missing listener", "ListenerNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.AddListenerCertificates(ctx, &elbv2.AddListenerCertificatesInput{ListenerArn: missing(f.httpsListener), Certificates: []types.Certificate{{CertificateArn: &f.cert2}}})
			return err
		}},
		{"DescribeListenerCertificates", "the default certificate twice", "", func(ctx cx, c cl, f fx) error {
			var got []string
			pages := elbv2.NewDescribeListenerCertificatesPaginator(c, &elbv2.DescribeListenerCertificatesInput{ListenerArn: &f.httpsListener, PageSize: aws.Int32(1)})
			for pages.HasMorePages() {
				out, err := pages.NextPage(ctx)
				if err != nil {
					return err
				}
				for _, cert := range out.Certificates {
					got = append(got, fmt.Sprintf("%s %v", aws.ToString(cert.CertificateArn), aws.ToBool(cert.IsDefault)))
				}
			}
			want := []string{f.cert + " true", f.cert + " false", f.cert2 + " false"}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				return fmt.Errorf("certificates %v, want %v", got, want)
			}
			return nil
		}},
		{"DescribeListenerCertificates", "missing listener", "ListenerNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.DescribeListenerCertificates(ctx, &elbv2.DescribeListenerCertificatesInput{ListenerArn: missing(f.httpsListener)})
			return err
		}},
		{"RemoveListenerCertificates", "the default certificate", "OperationNotPermitted", func(ctx cx, c cl, f fx) error {
			_, err := c.RemoveListenerCertificates(ctx, &elbv2.RemoveListenerCertificatesInput{ListenerArn: &f.httpsListener, Certificates: []types.Certificate{{CertificateArn: &f.cert}}})
			return err
		}},
		{"RemoveListenerCertificates", "an SNI certificate", "", func(ctx cx, c cl, f fx) error {
			_, err := c.RemoveListenerCertificates(ctx, &elbv2.RemoveListenerCertificatesInput{ListenerArn: &f.httpsListener, Certificates: []types.Certificate{{CertificateArn: &f.cert2}}})
			return err
		}},
		{"AddTags", "tags", "", func(ctx cx, c cl, f fx) error {
			_, err := c.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{f.nlb, f.tgTCP}, Tags: tags(2)})
			return err
		}},
		{"AddTags", "a duplicated key", "DuplicateTagKeys", func(ctx cx, c cl, f fx) error {
			_, err := c.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{f.nlb}, Tags: append(tags(1), tags(1)...)})
			return err
		}},
		{"AddTags", "more than 50", "TooManyTags", func(ctx cx, c cl, f fx) error {
			_, err := c.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{f.nlb}, Tags: tags(51)})
			return err
		}},
		{"DescribeTags", "of two resources", "", func(ctx cx, c cl, f fx) error {
			out, err := c.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{f.nlb, f.tgTCP}})
			if err == nil && (len(out.TagDescriptions) != 2 || len(out.TagDescriptions[0].Tags) != 2) {
				return fmt.Errorf("tags %+v", out.TagDescriptions)
			}
			return err
		}},
		{"DescribeTags", "missing load balancer", "LoadBalancerNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{f.nlb + "0"}})
			return err
		}},
		{"RemoveTags", "a tag", "", func(ctx cx, c cl, f fx) error {
			_, err := c.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: []string{f.nlb}, TagKeys: []string{"k0"}})
			return err
		}},
		{"RemoveTags", "missing target group", "TargetGroupNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: []string{f.tgTCP + "0"}, TagKeys: []string{"k0"}})
			return err
		}},
	}
}
