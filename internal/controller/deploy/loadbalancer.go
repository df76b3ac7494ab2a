package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
)

// ActualLoadBalancer is an existing load balancer.
type ActualLoadBalancer struct {
	ARN           string
	Name          string
	Type          string
	Scheme        string
	IPAddressType string
	DNSName       string
	// Subnets and Zones are the subnet ids and zone names of the load
	// balancer's zones, in the same order.
	Subnets    []string
	Zones      []string
	Addresses  []string
	Attributes map[string]string
	Tags       map[string]string
	// SecurityGroups are the load balancer's security group IDs.
	SecurityGroups []string
}

// FindLoadBalancers returns the first load balancer whose tags owns
// accepts, with its attributes, and the ARNs of any further ones (leftovers
// of an interrupted replacement, which deployers delete).
func FindLoadBalancers(ctx context.Context, c ELBv2, owns func(tags map[string]string) bool) (*ActualLoadBalancer, []string, error) {
	var lbs []types.LoadBalancer
	pages := elbv2.NewDescribeLoadBalancersPaginator(c, &elbv2.DescribeLoadBalancersInput{})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("describe load balancers: %w", err)
		}
		lbs = append(lbs, out.LoadBalancers...)
	}
	return ownedLoadBalancers(ctx, c, lbs, owns)
}

// ownedLoadBalancers returns the first of lbs whose tags owns accepts, with
// its attributes, and the ARNs of any further ones.
func ownedLoadBalancers(ctx context.Context, c ELBv2, lbs []types.LoadBalancer, owns func(tags map[string]string) bool) (*ActualLoadBalancer, []string, error) {
	tags, err := describeTagsOf(ctx, c, lbs, func(lb types.LoadBalancer) *string { return lb.LoadBalancerArn })
	if err != nil {
		return nil, nil, err
	}
	var found *ActualLoadBalancer
	var others []string
	for _, lb := range lbs {
		arn := aws.ToString(lb.LoadBalancerArn)
		t := tags[arn]
		if !owns(t) {
			continue
		}
		if found != nil {
			others = append(others, arn)
			continue
		}
		a := &ActualLoadBalancer{
			ARN: arn, Name: aws.ToString(lb.LoadBalancerName), Type: string(lb.Type), Scheme: string(lb.Scheme),
			IPAddressType: string(lb.IpAddressType), DNSName: aws.ToString(lb.DNSName), Addresses: Addresses(lb), Tags: t,
			SecurityGroups: lb.SecurityGroups,
		}
		for _, z := range lb.AvailabilityZones {
			a.Subnets = append(a.Subnets, aws.ToString(z.SubnetId))
			a.Zones = append(a.Zones, aws.ToString(z.ZoneName))
		}
		out, err := c.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: &arn})
		if err != nil {
			return nil, nil, fmt.Errorf("describe attributes of %s: %w", arn, err)
		}
		a.Attributes = map[string]string{}
		for _, at := range out.Attributes {
			a.Attributes[aws.ToString(at.Key)] = aws.ToString(at.Value)
		}
		found = a
	}
	return found, others, nil
}

// Addresses are the IPv4 and IPv6 addresses of a load balancer's zones.
func Addresses(lb types.LoadBalancer) []string {
	var out []string
	for _, z := range lb.AvailabilityZones {
		for _, a := range z.LoadBalancerAddresses {
			if ip := aws.ToString(a.IpAddress); ip != "" {
				out = append(out, ip)
			}
			if ip := aws.ToString(a.IPv6Address); ip != "" {
				out = append(out, ip)
			}
		}
	}
	return out
}

// VpcOf returns the VPC of a load balancer: its target groups are created
// in it, since ELBv2 requires a VPC for instance and ip target groups.
func VpcOf(ctx context.Context, c elbv2.DescribeLoadBalancersAPIClient, lbARN string) (string, error) {
	out, err := c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{lbARN}})
	if err != nil {
		return "", fmt.Errorf("describe load balancer %s: %w", lbARN, err)
	}
	if len(out.LoadBalancers) != 1 || aws.ToString(out.LoadBalancers[0].VpcId) == "" {
		return "", fmt.Errorf("describe load balancer %s: no VPC in the reply", lbARN)
	}
	return aws.ToString(out.LoadBalancers[0].VpcId), nil
}

// NotFound reports whether err is an ELBv2 "not found" error: what a
// delete of something already gone returns.
func NotFound(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "LoadBalancerNotFound", "TargetGroupNotFound", "ListenerNotFound", "RuleNotFound":
		return true
	}
	return false
}

// SameZones reports whether the subnets a stack asks for (subnet ids or
// zone names) are exactly the load balancer's zones.
func SameZones(want []string, lb *ActualLoadBalancer) bool {
	if len(want) != len(lb.Subnets) {
		return false
	}
	for _, w := range want {
		if !slices.Contains(lb.Subnets, w) && !slices.Contains(lb.Zones, w) {
			return false
		}
	}
	return true
}

// ChangedAttributes returns the desired attributes whose actual value
// differs, nil when none does. Attributes the stack does not set are left
// alone.
func ChangedAttributes(want, have map[string]string) map[string]string {
	var out map[string]string
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}
