package elbv2deploy

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// ELBv2 is the part of the aws-sdk-go-v2 elasticloadbalancingv2 client that
// kelb controller's deployers use for load balancers, listeners and target
// groups; *elasticloadbalancingv2.Client implements it.
type ELBv2 interface {
	elbv2.DescribeLoadBalancersAPIClient
	elbv2.DescribeTargetGroupsAPIClient
	elbv2.DescribeListenersAPIClient
	DescribeTags(context.Context, *elbv2.DescribeTagsInput, ...func(*elbv2.Options)) (*elbv2.DescribeTagsOutput, error)
	DescribeLoadBalancerAttributes(context.Context, *elbv2.DescribeLoadBalancerAttributesInput, ...func(*elbv2.Options)) (*elbv2.DescribeLoadBalancerAttributesOutput, error)
	DescribeTargetGroupAttributes(context.Context, *elbv2.DescribeTargetGroupAttributesInput, ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupAttributesOutput, error)
	DescribeListenerAttributes(context.Context, *elbv2.DescribeListenerAttributesInput, ...func(*elbv2.Options)) (*elbv2.DescribeListenerAttributesOutput, error)
	CreateLoadBalancer(context.Context, *elbv2.CreateLoadBalancerInput, ...func(*elbv2.Options)) (*elbv2.CreateLoadBalancerOutput, error)
	DeleteLoadBalancer(context.Context, *elbv2.DeleteLoadBalancerInput, ...func(*elbv2.Options)) (*elbv2.DeleteLoadBalancerOutput, error)
	SetIpAddressType(context.Context, *elbv2.SetIpAddressTypeInput, ...func(*elbv2.Options)) (*elbv2.SetIpAddressTypeOutput, error)
	SetSubnets(context.Context, *elbv2.SetSubnetsInput, ...func(*elbv2.Options)) (*elbv2.SetSubnetsOutput, error)
	SetSecurityGroups(context.Context, *elbv2.SetSecurityGroupsInput, ...func(*elbv2.Options)) (*elbv2.SetSecurityGroupsOutput, error)
	ModifyLoadBalancerAttributes(context.Context, *elbv2.ModifyLoadBalancerAttributesInput, ...func(*elbv2.Options)) (*elbv2.ModifyLoadBalancerAttributesOutput, error)
	CreateTargetGroup(context.Context, *elbv2.CreateTargetGroupInput, ...func(*elbv2.Options)) (*elbv2.CreateTargetGroupOutput, error)
	ModifyTargetGroup(context.Context, *elbv2.ModifyTargetGroupInput, ...func(*elbv2.Options)) (*elbv2.ModifyTargetGroupOutput, error)
	ModifyTargetGroupAttributes(context.Context, *elbv2.ModifyTargetGroupAttributesInput, ...func(*elbv2.Options)) (*elbv2.ModifyTargetGroupAttributesOutput, error)
	DeleteTargetGroup(context.Context, *elbv2.DeleteTargetGroupInput, ...func(*elbv2.Options)) (*elbv2.DeleteTargetGroupOutput, error)
	CreateListener(context.Context, *elbv2.CreateListenerInput, ...func(*elbv2.Options)) (*elbv2.CreateListenerOutput, error)
	ModifyListener(context.Context, *elbv2.ModifyListenerInput, ...func(*elbv2.Options)) (*elbv2.ModifyListenerOutput, error)
	ModifyListenerAttributes(context.Context, *elbv2.ModifyListenerAttributesInput, ...func(*elbv2.Options)) (*elbv2.ModifyListenerAttributesOutput, error)
	DeleteListener(context.Context, *elbv2.DeleteListenerInput, ...func(*elbv2.Options)) (*elbv2.DeleteListenerOutput, error)
	AddTags(context.Context, *elbv2.AddTagsInput, ...func(*elbv2.Options)) (*elbv2.AddTagsOutput, error)
	RemoveTags(context.Context, *elbv2.RemoveTagsInput, ...func(*elbv2.Options)) (*elbv2.RemoveTagsOutput, error)
}

var _ ELBv2 = (*elbv2.Client)(nil)

// SetTargetGroupAttributes sets attrs on target group arn in one
// ModifyTargetGroupAttributes call, in key order; none makes no call.
func SetTargetGroupAttributes(ctx context.Context, c ELBv2, arn string, attrs map[string]string) error {
	if len(attrs) == 0 {
		return nil
	}
	var in []types.TargetGroupAttribute
	for _, k := range SortedKeys(attrs) {
		in = append(in, types.TargetGroupAttribute{Key: aws.String(k), Value: aws.String(attrs[k])})
	}
	if _, err := c.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: &arn, Attributes: in}); err != nil {
		return fmt.Errorf("modify attributes of %s: %w", arn, err)
	}
	return nil
}

// SetListenerAttributes sets attrs on listener arn in one
// ModifyListenerAttributes call, in key order.
func SetListenerAttributes(ctx context.Context, c ELBv2, arn string, attrs map[string]string) error {
	var in []types.ListenerAttribute
	for _, k := range SortedKeys(attrs) {
		in = append(in, types.ListenerAttribute{Key: aws.String(k), Value: aws.String(attrs[k])})
	}
	if _, err := c.ModifyListenerAttributes(ctx, &elbv2.ModifyListenerAttributesInput{ListenerArn: &arn, Attributes: in}); err != nil {
		return fmt.Errorf("modify attributes of %s: %w", arn, err)
	}
	return nil
}
