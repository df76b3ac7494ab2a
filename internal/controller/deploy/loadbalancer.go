package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/kelb-io/kelb/internal/controller/model"
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
	// EnablePrefixForIPv6SourceNat is a network load balancer's "on" or
	// "off"; SourceNatIPv6Prefixes the source NAT prefix of each of
	// Subnets ("" for none).
	EnablePrefixForIPv6SourceNat string
	SourceNatIPv6Prefixes        []string
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
			SecurityGroups: lb.SecurityGroups, EnablePrefixForIPv6SourceNat: string(lb.EnablePrefixForIpv6SourceNat),
		}
		for _, z := range lb.AvailabilityZones {
			a.Subnets = append(a.Subnets, aws.ToString(z.SubnetId))
			a.Zones = append(a.Zones, aws.ToString(z.ZoneName))
			a.SourceNatIPv6Prefixes = append(a.SourceNatIPv6Prefixes, strings.Join(z.SourceNatIpv6Prefixes, ","))
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

// SourceNatChange is what SetSubnets must change of a load balancer's
// source NAT: its setting (when not ""), and the prefixes of its subnets
// (when Prefixes is not nil).
type SourceNatChange struct {
	Setting  string   `json:"setting,omitempty"`
	Prefixes []string `json:"prefixes,omitempty"`
}

// diffSourceNat returns the source NAT change that makes lb what want
// asks, nil when there is none: a setting want names and lb does not
// have, or a prefix want names (auto_assigned takes any) that its subnet
// does not have. A load balancer without the setting reports "off".
func diffSourceNat(want model.LoadBalancer, lb *ActualLoadBalancer) *SourceNatChange {
	var c SourceNatChange
	if want.EnablePrefixForIPv6SourceNat != "" && want.EnablePrefixForIPv6SourceNat != cmp.Or(lb.EnablePrefixForIPv6SourceNat, "off") {
		c.Setting = want.EnablePrefixForIPv6SourceNat
	}
	for i, p := range want.SourceNatIPv6Prefixes {
		if i >= len(want.Subnets) {
			break
		}
		j := slices.IndexFunc(lb.Subnets, func(s string) bool { return s == want.Subnets[i] })
		if j < 0 {
			j = slices.Index(lb.Zones, want.Subnets[i])
		}
		have := ""
		if j >= 0 && j < len(lb.SourceNatIPv6Prefixes) {
			have = lb.SourceNatIPv6Prefixes[j]
		}
		if have == "" || p != model.SourceNatAutoAssigned && p != have {
			c.Prefixes = slices.Clone(want.SourceNatIPv6Prefixes)
			break
		}
	}
	if c.Setting == "" && c.Prefixes == nil {
		return nil
	}
	return &c
}

// subnetMappings are subnets, each with its source NAT prefix when
// prefixes (in the same order) name one; nil when no prefix is named, for
// a call that gives the subnets alone.
func subnetMappings(subnets, prefixes []string) []types.SubnetMapping {
	if len(prefixes) == 0 {
		return nil
	}
	out := make([]types.SubnetMapping, len(subnets))
	for i, s := range subnets {
		out[i].SubnetId = aws.String(s)
		if i < len(prefixes) {
			out[i].SourceNatIpv6Prefix = aws.String(prefixes[i])
		}
	}
	return out
}

// setSubnets changes the load balancer's zones to subnets (the desired
// ones, or else its own) and its source NAT as nat says, in one SetSubnets.
func setSubnets(ctx context.Context, c ELBv2, arn string, subnets []string, nat *SourceNatChange) error {
	in := &elbv2.SetSubnetsInput{LoadBalancerArn: &arn, Subnets: subnets}
	if nat != nil {
		in.EnablePrefixForIpv6SourceNat = types.EnablePrefixForIpv6SourceNatEnum(nat.Setting)
		if m := subnetMappings(subnets, nat.Prefixes); m != nil {
			in.Subnets, in.SubnetMappings = nil, m
		}
	}
	if _, err := c.SetSubnets(ctx, in); err != nil {
		return fmt.Errorf("set subnets of %s: %w", arn, err)
	}
	return nil
}

// createLoadBalancerInput is the CreateLoadBalancer call that makes lb with
// security groups groups: its subnets are given as subnet mappings when it
// names source NAT prefixes.
func createLoadBalancerInput(lb model.LoadBalancer, groups []string) *elbv2.CreateLoadBalancerInput {
	in := &elbv2.CreateLoadBalancerInput{
		Name:           aws.String(lb.Name),
		Type:           types.LoadBalancerTypeEnum(lb.Type),
		Scheme:         types.LoadBalancerSchemeEnum(lb.Scheme),
		IpAddressType:  types.IpAddressType(lb.IPAddressType),
		Subnets:        lb.Subnets,
		SecurityGroups: groups,
		Tags:           SDKTags(lb.Tags),

		EnablePrefixForIpv6SourceNat: types.EnablePrefixForIpv6SourceNatEnum(lb.EnablePrefixForIPv6SourceNat),
	}
	if m := subnetMappings(lb.Subnets, lb.SourceNatIPv6Prefixes); m != nil {
		in.Subnets, in.SubnetMappings = nil, m
	}
	return in
}
