package deploy

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/kelb-io/kelb/internal/controller/model"
)

// ActualTargetGroup is an existing target group of a stack.
type ActualTargetGroup struct {
	// ResourceID is the value of its front-end's resource tag.
	ResourceID                                                      string
	ARN, Name, Protocol, ProtocolVersion, TargetType, IPAddressType string
	Port                                                            int32
	HealthCheck                                                     model.HealthCheck
	Attributes, Tags                                                map[string]string
}

// FindTargetGroups returns the target groups whose tags owns accepts, with
// their health checks and attributes.
func FindTargetGroups(ctx context.Context, c ELBv2, owns func(tags map[string]string) bool) ([]ActualTargetGroup, error) {
	return findTargetGroups(ctx, c, &elbv2.DescribeTargetGroupsInput{}, owns)
}

// findTargetGroupsOf is FindTargetGroups for the target groups load
// balancer lbARN forwards to.
func findTargetGroupsOf(ctx context.Context, c ELBv2, lbARN string, owns func(tags map[string]string) bool) ([]ActualTargetGroup, error) {
	return findTargetGroups(ctx, c, &elbv2.DescribeTargetGroupsInput{LoadBalancerArn: &lbARN}, owns)
}

func findTargetGroups(ctx context.Context, c ELBv2, in *elbv2.DescribeTargetGroupsInput, owns func(tags map[string]string) bool) ([]ActualTargetGroup, error) {
	var tgs []types.TargetGroup
	pages := elbv2.NewDescribeTargetGroupsPaginator(c, in)
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe target groups: %w", err)
		}
		tgs = append(tgs, out.TargetGroups...)
	}
	return ownedTargetGroups(ctx, c, tgs, owns)
}

// ownedTargetGroups returns those of tgs whose tags owns accepts, with
// their health checks and attributes.
func ownedTargetGroups(ctx context.Context, c ELBv2, tgs []types.TargetGroup, owns func(tags map[string]string) bool) ([]ActualTargetGroup, error) {
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
			HealthCheck: model.HealthCheck{
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

func (d *Deployer) deleteTargetGroups(ctx context.Context, arns []string) error {
	for _, arn := range arns {
		if _, err := d.Client.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: &arn}); err != nil && !NotFound(err) {
			return fmt.Errorf("delete target group %s: %w", arn, err)
		}
	}
	return nil
}

func (d *Deployer) createTargetGroup(ctx context.Context, tg model.TargetGroup, vpc string) (string, error) {
	hc := tg.HealthCheck
	in := &elbv2.CreateTargetGroupInput{
		Name:                       &tg.Name,
		VpcId:                      &vpc,
		Protocol:                   types.ProtocolEnum(tg.Protocol),
		ProtocolVersion:            optional(tg.ProtocolVersion),
		Port:                       aws.Int32(tg.Port),
		TargetType:                 types.TargetTypeEnum(tg.TargetType),
		IpAddressType:              types.TargetGroupIpAddressTypeEnum(tg.IPAddressType),
		HealthCheckEnabled:         aws.Bool(true),
		HealthCheckProtocol:        types.ProtocolEnum(hc.Protocol),
		HealthCheckPort:            aws.String(hc.Port),
		HealthCheckIntervalSeconds: aws.Int32(hc.IntervalSeconds),
		HealthCheckTimeoutSeconds:  aws.Int32(hc.TimeoutSeconds),
		HealthyThresholdCount:      aws.Int32(hc.HealthyThreshold),
		UnhealthyThresholdCount:    aws.Int32(hc.UnhealthyThreshold),
		Tags:                       SDKTags(tg.Tags),
	}
	if hc.Protocol != "TCP" {
		in.HealthCheckPath = aws.String(hc.Path)
		in.Matcher = matcher(hc)
	}
	out, err := d.Client.CreateTargetGroup(ctx, in)
	if err != nil {
		return "", fmt.Errorf("create target group %s for %s: %w", tg.Name, tg.ResourceID, err)
	}
	if len(out.TargetGroups) != 1 {
		return "", fmt.Errorf("create target group %s: %d target groups in the reply", tg.Name, len(out.TargetGroups))
	}
	arn := aws.ToString(out.TargetGroups[0].TargetGroupArn)
	if err := setNewTargetGroupAttributes(ctx, d.Client, arn, tg.Attributes); err != nil {
		return "", err
	}
	return arn, nil
}

// setNewTargetGroupAttributes gives the target group arn, just created
// with the server's defaults, the attributes of want that differ from
// them: one read, and a write only when there is something to change.
// A Service's attributes are mostly the defaults, and a write costs more
// than a read (it answers once the data planes have it), so a cold start
// of many Services saves one write per target group.
func setNewTargetGroupAttributes(ctx context.Context, c ELBv2, arn string, want map[string]string) error {
	if len(want) == 0 {
		return nil
	}
	out, err := c.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: &arn})
	if err != nil {
		return fmt.Errorf("describe attributes of %s: %w", arn, err)
	}
	have := make(map[string]string, len(out.Attributes))
	for _, at := range out.Attributes {
		have[aws.ToString(at.Key)] = aws.ToString(at.Value)
	}
	return SetTargetGroupAttributes(ctx, c, arn, ChangedAttributes(want, have))
}

func (d *Deployer) modifyTargetGroup(ctx context.Context, c TargetGroupChange) error {
	if hc := c.HealthCheck; hc != nil {
		in := &elbv2.ModifyTargetGroupInput{
			TargetGroupArn:             &c.ARN,
			HealthCheckProtocol:        types.ProtocolEnum(hc.Protocol),
			HealthCheckPort:            aws.String(hc.Port),
			HealthCheckIntervalSeconds: aws.Int32(hc.IntervalSeconds),
			HealthCheckTimeoutSeconds:  aws.Int32(hc.TimeoutSeconds),
			HealthyThresholdCount:      aws.Int32(hc.HealthyThreshold),
			UnhealthyThresholdCount:    aws.Int32(hc.UnhealthyThreshold),
		}
		if hc.Protocol != "TCP" {
			in.HealthCheckPath = aws.String(hc.Path)
			in.Matcher = matcher(*hc)
		}
		if _, err := d.Client.ModifyTargetGroup(ctx, in); err != nil {
			return fmt.Errorf("modify health check of %s: %w", c.ARN, err)
		}
	}
	if err := SetTargetGroupAttributes(ctx, d.Client, c.ARN, c.Attributes); err != nil {
		return err
	}
	return d.retag(ctx, c.ARN, c.Tags)
}

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

// matcher is the codes of a healthy answer of an HTTP, HTTPS or gRPC
// health check, as the API takes them.
func matcher(hc model.HealthCheck) *types.Matcher {
	if hc.GRPCCode != "" {
		return &types.Matcher{GrpcCode: aws.String(hc.GRPCCode)}
	}
	return &types.Matcher{HttpCode: aws.String(hc.HTTPCode)}
}
