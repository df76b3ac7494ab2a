package elbv2deploy

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/kelb-io/kelb/internal/controller/model"
)

// TagCluster is the tag naming the cluster a resource was made for, the
// AWS Load Balancer Controller's.
const TagCluster = model.TagCluster

// describeTagsBatch is the most ARNs one DescribeTags call accepts.
const describeTagsBatch = 20

// Owner tells which resources belong to one stack: those tagged with the
// stack's ID under StackTag and, when ClusterName is set, with the cluster.
type Owner struct {
	// StackTag is the tag key holding the stack ID, such as
	// "service.k8s.aws/stack".
	StackTag    string
	StackID     string
	ClusterName string
}

// Owns reports whether a resource with tags belongs to the stack.
func (o Owner) Owns(tags map[string]string) bool {
	if tags[o.StackTag] != o.StackID {
		return false
	}
	return o.ClusterName == "" || tags[TagCluster] == o.ClusterName
}

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

// ActualListener is an existing listener with its tags and attributes.
type ActualListener struct {
	ARN        string
	Listener   types.Listener
	Attributes map[string]string
	Tags       map[string]string
}

// ActualTargetGroup is an existing target group.
type ActualTargetGroup struct {
	ARN, Name, Protocol, ProtocolVersion, TargetType, IPAddressType string
	Port                                                            int32
	HealthCheck                                                     HealthCheck
	Attributes, Tags                                                map[string]string
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

// FindListeners returns the listeners of load balancer lbARN with their
// tags and attributes.
func FindListeners(ctx context.Context, c ELBv2, lbARN string) ([]ActualListener, error) {
	var ls []types.Listener
	pages := elbv2.NewDescribeListenersPaginator(c, &elbv2.DescribeListenersInput{LoadBalancerArn: &lbARN})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe listeners of %s: %w", lbARN, err)
		}
		ls = append(ls, out.Listeners...)
	}
	tags, err := describeTagsOf(ctx, c, ls, func(l types.Listener) *string { return l.ListenerArn })
	if err != nil {
		return nil, err
	}
	var out []ActualListener
	for _, l := range ls {
		arn := aws.ToString(l.ListenerArn)
		a := ActualListener{ARN: arn, Listener: l, Tags: tags[arn], Attributes: map[string]string{}}
		attrs, err := c.DescribeListenerAttributes(ctx, &elbv2.DescribeListenerAttributesInput{ListenerArn: &arn})
		if err != nil {
			return nil, fmt.Errorf("describe attributes of %s: %w", arn, err)
		}
		for _, at := range attrs.Attributes {
			a.Attributes[aws.ToString(at.Key)] = aws.ToString(at.Value)
		}
		out = append(out, a)
	}
	return out, nil
}

// FindTargetGroups returns the target groups whose tags owns accepts, with
// their health checks and attributes.
func FindTargetGroups(ctx context.Context, c ELBv2, owns func(tags map[string]string) bool) ([]ActualTargetGroup, error) {
	var tgs []types.TargetGroup
	pages := elbv2.NewDescribeTargetGroupsPaginator(c, &elbv2.DescribeTargetGroupsInput{})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe target groups: %w", err)
		}
		tgs = append(tgs, out.TargetGroups...)
	}
	tags, err := describeTagsOf(ctx, c, tgs, func(tg types.TargetGroup) *string { return tg.TargetGroupArn })
	if err != nil {
		return nil, err
	}
	var out []ActualTargetGroup
	for _, tg := range tgs {
		arn := aws.ToString(tg.TargetGroupArn)
		if !owns(tags[arn]) {
			continue
		}
		a := ActualTargetGroup{
			ARN: arn, Name: aws.ToString(tg.TargetGroupName), Protocol: string(tg.Protocol), ProtocolVersion: aws.ToString(tg.ProtocolVersion),
			Port: aws.ToInt32(tg.Port), TargetType: string(tg.TargetType), IPAddressType: string(tg.IpAddressType), Tags: tags[arn],
			HealthCheck: HealthCheck{
				Protocol:           string(tg.HealthCheckProtocol),
				Port:               aws.ToString(tg.HealthCheckPort),
				Path:               aws.ToString(tg.HealthCheckPath),
				IntervalSeconds:    aws.ToInt32(tg.HealthCheckIntervalSeconds),
				TimeoutSeconds:     aws.ToInt32(tg.HealthCheckTimeoutSeconds),
				HealthyThreshold:   aws.ToInt32(tg.HealthyThresholdCount),
				UnhealthyThreshold: aws.ToInt32(tg.UnhealthyThresholdCount),
			},
			Attributes: map[string]string{},
		}
		if tg.Matcher != nil {
			a.HealthCheck.HTTPCode = aws.ToString(tg.Matcher.HttpCode)
			a.HealthCheck.GRPCCode = aws.ToString(tg.Matcher.GrpcCode)
		}
		attrs, err := c.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: &arn})
		if err != nil {
			return nil, fmt.Errorf("describe attributes of %s: %w", arn, err)
		}
		for _, at := range attrs.Attributes {
			a.Attributes[aws.ToString(at.Key)] = aws.ToString(at.Value)
		}
		out = append(out, a)
	}
	return out, nil
}

// DescribeTags describes the tags of arns, 20 at a time (the API's limit),
// and returns them by ARN.
func DescribeTags(ctx context.Context, c ELBv2, arns []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for start := 0; start < len(arns); start += describeTagsBatch {
		batch := arns[start:min(start+describeTagsBatch, len(arns))]
		res, err := c.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: batch})
		if err != nil {
			return nil, fmt.Errorf("describe tags: %w", err)
		}
		for _, td := range res.TagDescriptions {
			m := map[string]string{}
			for _, t := range td.Tags {
				m[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
			out[aws.ToString(td.ResourceArn)] = m
		}
	}
	return out, nil
}

// describeTagsOf describes the tags of items, whose ARNs arn returns.
func describeTagsOf[T any](ctx context.Context, c ELBv2, items []T, arn func(T) *string) (map[string]map[string]string, error) {
	arns := make([]string, len(items))
	for i, it := range items {
		arns[i] = aws.ToString(arn(it))
	}
	return DescribeTags(ctx, c, arns)
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

// SDKTags is m as API tags, in key order.
func SDKTags(m map[string]string) []types.Tag {
	var out []types.Tag
	for _, k := range SortedKeys(m) {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

// SortedKeys returns the keys of m in order.
func SortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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
