package server_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// Shorthands of the cases.
type (
	cl = *elbv2.Client
	cx = context.Context
	fx = *confFixture
)

func missing(arn string) *string { return aws.String(arn + "0") }

func pathRule(values ...string) []types.RuleCondition {
	return []types.RuleCondition{{Field: aws.String("path-pattern"), PathPatternConfig: &types.PathPatternConditionConfig{Values: values}}}
}

func forwardTo(tg string) []types.Action {
	return []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}}
}

func fixed(contentType string) []types.Action {
	return []types.Action{{Type: types.ActionTypeEnumFixedResponse, FixedResponseConfig: &types.FixedResponseActionConfig{
		StatusCode: aws.String("200"), ContentType: aws.String(contentType), MessageBody: aws.String("ok")}}}
}

func lbAttr(k, v string) []types.LoadBalancerAttribute {
	return []types.LoadBalancerAttribute{{Key: aws.String(k), Value: aws.String(v)}}
}

func tgAttr(kv ...string) []types.TargetGroupAttribute {
	var out []types.TargetGroupAttribute
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, types.TargetGroupAttribute{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}

// errorMessage checks that err is an API error with message msg.
func errorMessage(err error, msg string) error {
	if err == nil || !strings.Contains(err.Error(), msg) {
		return fmt.Errorf("error %v, want message %q", err, msg)
	}
	return err
}

func conformanceCases() []confCase {
	var cases []confCase
	add := func(more ...confCase) { cases = append(cases, more...) }
	add(loadBalancerCases()...)
	add(targetGroupCases()...)
	add(listenerCases()...)
	add(ruleCases()...)
	add(certificateAndTagCases()...)
	add(unsupportedFeatureCases()...)
	return cases
}

func loadBalancerCases() []confCase {
	return []confCase{
		{"CreateLoadBalancer", "same name and settings returns the load balancer", "", func(ctx cx, c cl, f fx) error {
			out, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("conf-alb"), SecurityGroups: []string{f.groups[1]}})
			if err == nil && aws.ToString(out.LoadBalancers[0].LoadBalancerArn) != f.alb {
				return fmt.Errorf("got %s, want %s", aws.ToString(out.LoadBalancers[0].LoadBalancerArn), f.alb)
			}
			return err
		}},
		{"CreateLoadBalancer", "same name, other type", "DuplicateLoadBalancerName", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("conf-alb"), Type: types.LoadBalancerTypeEnumNetwork})
			return err
		}},
		{"CreateLoadBalancer", "name with --", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("conf--x")})
			return err
		}},
		{"CreateLoadBalancer", "name beginning with internal-", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("internal-x")})
			return err
		}},
		{"CreateLoadBalancer", "name of 33 characters", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String(strings.Repeat("n", 33))})
			return err
		}},
		{"CreateLoadBalancer", "unknown subnet", "SubnetNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("conf-x"), Subnets: []string{"subnet-0nope"}})
			return err
		}},
		{"CreateLoadBalancer", "dualstack in subnets without IPv6", "InvalidSubnet", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("conf-x"), IpAddressType: types.IpAddressTypeDualstack})
			return err
		}},
		{"CreateLoadBalancer", "Elastic IP allocation", "AllocationIdNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("conf-x"), Type: types.LoadBalancerTypeEnumNetwork,
				SubnetMappings: []types.SubnetMapping{{SubnetId: aws.String(f.subnetA), AllocationId: aws.String("eipalloc-0123456789abcdef0")}}})
			return err
		}},
		{"DescribeLoadBalancers", "an NLB's fields", "", func(ctx cx, c cl, f fx) error {
			out, err := c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{f.nlb}})
			if err != nil {
				return err
			}
			lb := out.LoadBalancers[0]
			switch {
			case lb.EnablePrefixForIpv6SourceNat != types.EnablePrefixForIpv6SourceNatEnumOff:
				return fmt.Errorf("EnablePrefixForIpv6SourceNat = %q, want off", lb.EnablePrefixForIpv6SourceNat)
			case aws.ToString(lb.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic) != "on":
				return fmt.Errorf("EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic = %q, want on", aws.ToString(lb.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic))
			case len(lb.SecurityGroups) != 1 || lb.IpAddressType != types.IpAddressTypeIpv4 || lb.VpcId == nil || lb.CanonicalHostedZoneId == nil ||
				lb.CreatedTime == nil || lb.DNSName == nil || lb.State == nil || len(lb.AvailabilityZones) != 2:
				return fmt.Errorf("load balancer %+v", lb)
			case aws.ToString(lb.AvailabilityZones[0].LoadBalancerAddresses[0].PrivateIPv4Address) == "":
				return fmt.Errorf("internal NLB address without PrivateIPv4Address: %+v", lb.AvailabilityZones[0].LoadBalancerAddresses[0])
			}
			return nil
		}},
		{"DescribeLoadBalancers", "an ALB has no NLB-only fields", "", func(ctx cx, c cl, f fx) error {
			out, err := c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"conf-alb"}})
			if err == nil && (out.LoadBalancers[0].EnablePrefixForIpv6SourceNat != "" || out.LoadBalancers[0].EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic != nil) {
				return fmt.Errorf("ALB %+v", out.LoadBalancers[0])
			}
			return err
		}},
		{"DescribeLoadBalancers", "unknown name", "LoadBalancerNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"conf-none"}})
			return err
		}},
		{"DescribeLoadBalancers", "names and ARNs", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"conf-alb"}, LoadBalancerArns: []string{f.alb}})
			return err
		}},
		{"DescribeLoadBalancerAttributes", "NLB attributes", "", func(ctx cx, c cl, f fx) error {
			out, err := c.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: &f.nlb})
			if err != nil {
				return err
			}
			for _, a := range out.Attributes {
				if aws.ToString(a.Key) == "secondary_ips.auto_assigned.per_subnet" && aws.ToString(a.Value) == "0" {
					return nil
				}
			}
			return fmt.Errorf("no secondary_ips.auto_assigned.per_subnet=0 in %d attributes", len(out.Attributes))
		}},
		{"DescribeLoadBalancerAttributes", "missing load balancer", "LoadBalancerNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: missing(f.nlb)})
			return err
		}},
		{"ModifyLoadBalancerAttributes", "secondary IPs at the top of the range", "", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{LoadBalancerArn: &f.nlb, Attributes: lbAttr("secondary_ips.auto_assigned.per_subnet", "7")})
			return err
		}},
		{"ModifyLoadBalancerAttributes", "secondary IPs above the range", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{LoadBalancerArn: &f.nlb, Attributes: lbAttr("secondary_ips.auto_assigned.per_subnet", "8")})
			return err
		}},
		{"ModifyLoadBalancerAttributes", "unknown key", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{LoadBalancerArn: &f.alb, Attributes: lbAttr("no.such.key", "1")})
			return err
		}},
		{"SetSubnets", "adding a zone keeps the first zone's address", "", func(ctx cx, c cl, f fx) error {
			before, err := c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{f.nlbBare}})
			if err != nil {
				return err
			}
			out, err := c.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: &f.nlbBare, Subnets: []string{f.subnetA, f.subnetB}})
			if err != nil {
				return err
			}
			was := aws.ToString(before.LoadBalancers[0].AvailabilityZones[0].LoadBalancerAddresses[0].IpAddress)
			if len(out.AvailabilityZones) != 2 || out.EnablePrefixForIpv6SourceNat != types.EnablePrefixForIpv6SourceNatEnumOff {
				return fmt.Errorf("SetSubnets answered %+v", out)
			}
			for _, z := range out.AvailabilityZones {
				if aws.ToString(z.SubnetId) == f.subnetA && aws.ToString(z.LoadBalancerAddresses[0].IpAddress) != was {
					return fmt.Errorf("zone a's address moved from %s", was)
				}
			}
			return nil
		}},
		{"SetSubnets", "removing a zone of an NLB", "", func(ctx cx, c cl, f fx) error {
			out, err := c.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: &f.nlbBare, Subnets: []string{f.subnetB}})
			if err == nil && len(out.AvailabilityZones) != 1 {
				return fmt.Errorf("zones %+v", out.AvailabilityZones)
			}
			return err
		}},
		{"SetSubnets", "unknown subnet", "SubnetNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: &f.nlbBare, Subnets: []string{"subnet-0nope"}})
			return err
		}},
		{"SetSubnets", "missing load balancer", "LoadBalancerNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: missing(f.nlb), Subnets: []string{f.subnetA}})
			return err
		}},
		{"SetIpAddressType", "ipv4", "", func(ctx cx, c cl, f fx) error {
			out, err := c.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: &f.alb, IpAddressType: types.IpAddressTypeIpv4})
			if err == nil && out.IpAddressType != types.IpAddressTypeIpv4 {
				return fmt.Errorf("IpAddressType %q", out.IpAddressType)
			}
			return err
		}},
		{"SetIpAddressType", "dualstack without IPv6 subnets", "InvalidSubnet", func(ctx cx, c cl, f fx) error {
			_, err := c.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: &f.alb, IpAddressType: types.IpAddressTypeDualstack})
			return err
		}},
		{"SetIpAddressType", "dualstack-without-public-ipv4 on an NLB", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: &f.nlb, IpAddressType: types.IpAddressTypeDualstackWithoutPublicIpv4})
			return err
		}},
		{"SetIpAddressType", "missing load balancer", "LoadBalancerNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: missing(f.alb), IpAddressType: types.IpAddressTypeIpv4})
			return err
		}},
		{"SetSecurityGroups", "an NLB created with groups", "", func(ctx cx, c cl, f fx) error {
			out, err := c.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: &f.nlb, SecurityGroups: []string{f.groups[2], f.groups[3]}})
			if err == nil && (len(out.SecurityGroupIds) != 2 || out.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic != "on") {
				return fmt.Errorf("answer %+v", out)
			}
			return err
		}},
		{"SetSecurityGroups", "an NLB created without groups", "InvalidConfigurationRequest", func(ctx cx, c cl, f fx) error {
			_, err := c.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: &f.nlbBare, SecurityGroups: []string{f.groups[2]}})
			return err
		}},
		{"SetSecurityGroups", "not a group id", "InvalidSecurityGroup", func(ctx cx, c cl, f fx) error {
			_, err := c.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: &f.alb, SecurityGroups: []string{"default"}})
			return err
		}},
		{"DeleteLoadBalancer", "a load balancer", "", func(ctx cx, c cl, f fx) error {
			out, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("conf-gone"), Type: types.LoadBalancerTypeEnumNetwork})
			if err != nil {
				return err
			}
			_, err = c.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: out.LoadBalancers[0].LoadBalancerArn})
			return err
		}},
		{"DeleteLoadBalancer", "one that does not exist", "", func(ctx cx, c cl, f fx) error {
			_, err := c.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: missing(f.nlb)})
			return err
		}},
		{"DescribeAccountLimits", "quotas", "", func(ctx cx, c cl, f fx) error {
			out, err := c.DescribeAccountLimits(ctx, &elbv2.DescribeAccountLimitsInput{})
			if err == nil && len(out.Limits) == 0 {
				return fmt.Errorf("no limits")
			}
			return err
		}},
		{"DescribeSSLPolicies", "every policy", "", func(ctx cx, c cl, f fx) error {
			out, err := c.DescribeSSLPolicies(ctx, &elbv2.DescribeSSLPoliciesInput{})
			if err == nil && len(out.SslPolicies) == 0 {
				return fmt.Errorf("no policies")
			}
			return err
		}},
		{"DescribeSSLPolicies", "unknown policy", "SSLPolicyNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.DescribeSSLPolicies(ctx, &elbv2.DescribeSSLPoliciesInput{Names: []string{"ELBSecurityPolicy-None"}})
			return err
		}},
	}
}

func targetGroupCases() []confCase {
	return []confCase{
		{"CreateTargetGroup", "no port", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("conf-x"), Protocol: types.ProtocolEnumTcp, VpcId: aws.String("vpc-0ce1b000000000000")})
			return errorMessage(err, "A port must be specified")
		}},
		{"CreateTargetGroup", "no protocol", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("conf-x"), Port: aws.Int32(80), VpcId: aws.String("vpc-0ce1b000000000000")})
			return errorMessage(err, "A protocol must be specified")
		}},
		{"CreateTargetGroup", "a VPC that is not kelb server's", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("conf-x"), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(80),
				TargetType: types.TargetTypeEnumIp, VpcId: aws.String("vpc-0123456789abcdef0")})
			return errorMessage(err, "The VPC ID 'vpc-0123456789abcdef0' is not found")
		}},
		{"CreateTargetGroup", "no VPC", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("conf-x"), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(80), TargetType: types.TargetTypeEnumIp})
			return errorMessage(err, "A VPC ID must be specified")
		}},
		{"CreateTargetGroup", "name with --", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("conf--x"), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(80), VpcId: aws.String("vpc-0ce1b000000000000")})
			return err
		}},
		{"CreateTargetGroup", "HTTP timeout equal to the interval", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("conf-x"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80), VpcId: aws.String("vpc-0ce1b000000000000"),
				HealthCheckIntervalSeconds: aws.Int32(10), HealthCheckTimeoutSeconds: aws.Int32(10)})
			return errorMessage(err, "Health check interval must be greater than the timeout.")
		}},
		{"CreateTargetGroup", "interval below 5", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("conf-x"), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(80), VpcId: aws.String("vpc-0ce1b000000000000"),
				HealthCheckIntervalSeconds: aws.Int32(4)})
			return err
		}},
		{"CreateTargetGroup", "same name, other port", "DuplicateTargetGroupName", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("conf-tcp"), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(81), TargetType: types.TargetTypeEnumIp, VpcId: aws.String("vpc-0ce1b000000000000")})
			return err
		}},
		{"DescribeTargetGroups", "of a load balancer", "", func(ctx cx, c cl, f fx) error {
			out, err := c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{LoadBalancerArn: &f.nlb})
			if err == nil && len(out.TargetGroups) != 2 {
				return fmt.Errorf("%d target groups, want 2", len(out.TargetGroups))
			}
			return err
		}},
		{"DescribeTargetGroups", "unknown name", "TargetGroupNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{"conf-none"}})
			return err
		}},
		{"ModifyTargetGroup", "interval", "", func(ctx cx, c cl, f fx) error {
			out, err := c.ModifyTargetGroup(ctx, &elbv2.ModifyTargetGroupInput{TargetGroupArn: &f.tgTCP, HealthCheckIntervalSeconds: aws.Int32(10)})
			if err == nil && aws.ToInt32(out.TargetGroups[0].HealthCheckIntervalSeconds) != 10 {
				return fmt.Errorf("interval %d", aws.ToInt32(out.TargetGroups[0].HealthCheckIntervalSeconds))
			}
			return err
		}},
		{"ModifyTargetGroup", "HTTP timeout above the interval", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyTargetGroup(ctx, &elbv2.ModifyTargetGroupInput{TargetGroupArn: &f.tgHTTP, HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(6)})
			return errorMessage(err, "Health check interval must be greater than the timeout.")
		}},
		{"ModifyTargetGroup", "missing target group", "TargetGroupNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyTargetGroup(ctx, &elbv2.ModifyTargetGroupInput{TargetGroupArn: missing(f.tgTCP), HealthCheckIntervalSeconds: aws.Int32(10)})
			return err
		}},
		{"DescribeTargetGroupAttributes", "a TCP group", "", func(ctx cx, c cl, f fx) error {
			_, err := c.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: &f.tgTCP})
			return err
		}},
		{"DescribeTargetGroupAttributes", "missing target group", "TargetGroupNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: missing(f.tgTCP)})
			return err
		}},
		{"ModifyTargetGroupAttributes", "deregistration delay", "", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: &f.tgTCP, Attributes: tgAttr("deregistration_delay.timeout_seconds", "0")})
			return err
		}},
		{"ModifyTargetGroupAttributes", "lb_cookie stickiness on TCP", "InvalidConfigurationRequest", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: &f.tgTCP, Attributes: tgAttr("stickiness.type", "lb_cookie")})
			return errorMessage(err, "Stickiness type 'lb_cookie' is not supported for target groups with the TCP protocol")
		}},
		{"ModifyTargetGroupAttributes", "stickiness on TLS", "InvalidConfigurationRequest", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: &f.tgTLS, Attributes: tgAttr("stickiness.enabled", "true", "stickiness.type", "source_ip")})
			return err
		}},
		{"ModifyTargetGroupAttributes", "source_ip stickiness on TCP", "", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: &f.tgTCP, Attributes: tgAttr("stickiness.enabled", "true", "stickiness.type", "source_ip")})
			return err
		}},
		{"RegisterTargets", "an address of the VPC", "", func(ctx cx, c cl, f fx) error {
			_, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: &f.tgTCP, Targets: []types.TargetDescription{{Id: &f.target}}})
			return err
		}},
		{"RegisterTargets", "a public address", "InvalidTarget", func(ctx cx, c cl, f fx) error {
			_, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: &f.tgTCP, Targets: []types.TargetDescription{{Id: aws.String("203.0.113.7")}}})
			return err
		}},
		{"RegisterTargets", "missing target group", "TargetGroupNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: missing(f.tgTCP), Targets: []types.TargetDescription{{Id: &f.target}}})
			return err
		}},
		{"DescribeTargetHealth", "an id that is not registered", "", func(ctx cx, c cl, f fx) error {
			out, err := c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: &f.tgTCP, Targets: []types.TargetDescription{{Id: aws.String("i-0123456789abcdef0")}}})
			if err != nil {
				return err
			}
			h := out.TargetHealthDescriptions[0].TargetHealth
			if h.State != types.TargetHealthStateEnumUnused || h.Reason != types.TargetHealthReasonEnumNotRegistered {
				return fmt.Errorf("health %s %s, want unused Target.NotRegistered", h.State, h.Reason)
			}
			return nil
		}},
		{"DescribeTargetHealth", "missing target group", "TargetGroupNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: missing(f.tgTCP)})
			return err
		}},
		{"DeregisterTargets", "a target that is not registered", "", func(ctx cx, c cl, f fx) error {
			_, err := c.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: &f.tgTCP, Targets: []types.TargetDescription{{Id: aws.String("127.0.0.99"), Port: aws.Int32(9)}}})
			return err
		}},
		{"DeregisterTargets", "a registered target", "", func(ctx cx, c cl, f fx) error {
			_, err := c.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: &f.tgTCP, Targets: []types.TargetDescription{{Id: &f.target}}})
			return err
		}},
		{"DeleteTargetGroup", "one a listener uses", "ResourceInUse", func(ctx cx, c cl, f fx) error {
			_, err := c.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: &f.tgTCP})
			return err
		}},
		{"DeleteTargetGroup", "an unused one", "", func(ctx cx, c cl, f fx) error {
			out, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("conf-gone"), Protocol: types.ProtocolEnumUdp, Port: aws.Int32(53), TargetType: types.TargetTypeEnumIp, VpcId: aws.String("vpc-0ce1b000000000000")})
			if err != nil {
				return err
			}
			_, err = c.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: out.TargetGroups[0].TargetGroupArn})
			return err
		}},
	}
}
