package service

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
)

// ELBv2 is the part of the aws-sdk-go-v2 elasticloadbalancingv2 client that
// deploy uses; *elasticloadbalancingv2.Client implements it.
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

// Deployer makes kelb server hold a Service's desired stack, through the
// ELBv2 API only. It keeps no state: what exists is found by the
// elbv2.k8s.aws/cluster and service.k8s.aws/stack tags on every reconcile.
type Deployer struct {
	Client ELBv2
	// ClusterName must match BuildOptions.ClusterName.
	ClusterName string
}

// Result is what a deploy leaves in place.
type Result struct {
	LoadBalancerARN string
	DNSName         string
	// Addresses are the load balancer's addresses, one per zone.
	Addresses []string
	// TargetGroupARNs maps each target group's ResourceID to its ARN.
	TargetGroupARNs map[string]string
	// Changed reports whether deploy wrote anything.
	Changed bool
}

// Deploy reconciles kelb server with st. It finds the stack's resources,
// diffs them against st and runs the plan. A failure leaves the work done
// so far in place; the next Deploy continues from what exists.
func (d *Deployer) Deploy(ctx context.Context, st *Stack) (*Result, error) {
	actual, err := d.Find(ctx, st.ID)
	if err != nil {
		return nil, err
	}
	plan := Diff(st, actual)
	res := &Result{TargetGroupARNs: plan.TargetGroupARNs, Changed: !plan.Empty()}
	if err := d.apply(ctx, st, actual, plan, res); err != nil {
		return nil, fmt.Errorf("deploy %s: %w", st.ID, err)
	}
	return res, nil
}

// Delete removes every resource of the stack.
func (d *Deployer) Delete(ctx context.Context, stackID string) error {
	actual, err := d.Find(ctx, stackID)
	if err != nil {
		return err
	}
	if err := d.apply(ctx, nil, actual, Diff(nil, actual), &Result{}); err != nil {
		return fmt.Errorf("delete %s: %w", stackID, err)
	}
	return nil
}

func (d *Deployer) apply(ctx context.Context, st *Stack, actual *Actual, p *Plan, res *Result) error {
	for _, arn := range p.DeleteListeners {
		if _, err := d.Client.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: &arn}); err != nil && !notFound(err) {
			return fmt.Errorf("delete listener %s: %w", arn, err)
		}
	}
	for _, arn := range p.DeleteLoadBalancers {
		if _, err := d.Client.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: &arn}); err != nil && !notFound(err) {
			return fmt.Errorf("delete load balancer %s: %w", arn, err)
		}
	}
	if st == nil {
		return d.deleteTargetGroups(ctx, p.DeleteTargetGroups)
	}

	lbARN := p.LoadBalancerARN
	if actual.LoadBalancer != nil && lbARN == actual.LoadBalancer.ARN {
		res.DNSName, res.Addresses = actual.LoadBalancer.DNSName, actual.LoadBalancer.Addresses
	}
	if p.CreateLoadBalancer {
		lb := st.LoadBalancer
		out, err := d.Client.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
			Name:          &lb.Name,
			Type:          types.LoadBalancerTypeEnum(lb.Type),
			Scheme:        types.LoadBalancerSchemeEnum(lb.Scheme),
			IpAddressType: types.IpAddressType(lb.IPAddressType),
			Subnets:       lb.Subnets,
			Tags:          sdkTags(lb.Tags),
		})
		if err != nil {
			return fmt.Errorf("create load balancer %s: %w", lb.Name, err)
		}
		if len(out.LoadBalancers) != 1 {
			return fmt.Errorf("create load balancer %s: %d load balancers in the reply", lb.Name, len(out.LoadBalancers))
		}
		created := out.LoadBalancers[0]
		lbARN = aws.ToString(created.LoadBalancerArn)
		res.DNSName = aws.ToString(created.DNSName)
		res.Addresses = addresses(created)
		// A new load balancer has the server's default attributes.
		p.SetLBAttributes = lb.Attributes
	}
	res.LoadBalancerARN = lbARN
	if p.SetIPAddressType != "" {
		if _, err := d.Client.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: &lbARN, IpAddressType: types.IpAddressType(p.SetIPAddressType)}); err != nil {
			return fmt.Errorf("set address type of %s: %w", lbARN, err)
		}
	}
	if p.SetSubnets != nil {
		if _, err := d.Client.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: &lbARN, Subnets: p.SetSubnets}); err != nil {
			return fmt.Errorf("set subnets of %s: %w", lbARN, err)
		}
	}
	if len(p.SetLBAttributes) > 0 {
		var attrs []types.LoadBalancerAttribute
		for _, k := range sortedKeys(p.SetLBAttributes) {
			attrs = append(attrs, types.LoadBalancerAttribute{Key: aws.String(k), Value: aws.String(p.SetLBAttributes[k])})
		}
		if _, err := d.Client.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{LoadBalancerArn: &lbARN, Attributes: attrs}); err != nil {
			return fmt.Errorf("modify attributes of %s: %w", lbARN, err)
		}
	}
	if err := d.retag(ctx, lbARN, p.LBTags); err != nil {
		return err
	}

	tgByID := map[string]TargetGroup{}
	for _, tg := range st.TargetGroups {
		tgByID[tg.ResourceID] = tg
	}
	for _, id := range p.CreateTargetGroups {
		arn, err := d.createTargetGroup(ctx, tgByID[id])
		if err != nil {
			return err
		}
		res.TargetGroupARNs[id] = arn
	}
	for _, c := range p.ModifyTargetGroups {
		if err := d.modifyTargetGroup(ctx, c); err != nil {
			return err
		}
	}

	lsByPort := map[int32]Listener{}
	for _, l := range st.Listeners {
		lsByPort[l.Port] = l
	}
	for _, port := range p.CreateListeners {
		l := lsByPort[port]
		out, err := d.Client.CreateListener(ctx, &elbv2.CreateListenerInput{
			LoadBalancerArn: &lbARN,
			Port:            aws.Int32(port),
			Protocol:        types.ProtocolEnum(l.Protocol),
			DefaultActions:  forward(res.TargetGroupARNs[l.TargetGroup]),
			Tags:            sdkTags(l.Tags),
		})
		if err != nil {
			return fmt.Errorf("create listener %d on %s: %w", port, lbARN, err)
		}
		if len(l.Attributes) > 0 && len(out.Listeners) == 1 {
			if err := d.setListenerAttributes(ctx, aws.ToString(out.Listeners[0].ListenerArn), l.Attributes); err != nil {
				return err
			}
		}
	}
	for _, c := range p.ModifyListeners {
		if c.Protocol != "" {
			_, err := d.Client.ModifyListener(ctx, &elbv2.ModifyListenerInput{
				ListenerArn:    &c.ARN,
				Protocol:       types.ProtocolEnum(c.Protocol),
				DefaultActions: forward(res.TargetGroupARNs[c.TargetGroup]),
			})
			if err != nil {
				return fmt.Errorf("modify listener %s: %w", c.ARN, err)
			}
		}
		if len(c.Attributes) > 0 {
			if err := d.setListenerAttributes(ctx, c.ARN, c.Attributes); err != nil {
				return err
			}
		}
		if err := d.retag(ctx, c.ARN, c.Tags); err != nil {
			return err
		}
	}
	return d.deleteTargetGroups(ctx, p.DeleteTargetGroups)
}

func (d *Deployer) deleteTargetGroups(ctx context.Context, arns []string) error {
	for _, arn := range arns {
		if _, err := d.Client.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: &arn}); err != nil && !notFound(err) {
			return fmt.Errorf("delete target group %s: %w", arn, err)
		}
	}
	return nil
}

func (d *Deployer) createTargetGroup(ctx context.Context, tg TargetGroup) (string, error) {
	hc := tg.HealthCheck
	in := &elbv2.CreateTargetGroupInput{
		Name:                       &tg.Name,
		Protocol:                   types.ProtocolEnum(tg.Protocol),
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
		Tags:                       sdkTags(tg.Tags),
	}
	if hc.Protocol != "TCP" {
		in.HealthCheckPath = aws.String(hc.Path)
		in.Matcher = &types.Matcher{HttpCode: aws.String(hc.Matcher)}
	}
	out, err := d.Client.CreateTargetGroup(ctx, in)
	if err != nil {
		return "", fmt.Errorf("create target group %s for %s: %w", tg.Name, tg.ResourceID, err)
	}
	if len(out.TargetGroups) != 1 {
		return "", fmt.Errorf("create target group %s: %d target groups in the reply", tg.Name, len(out.TargetGroups))
	}
	arn := aws.ToString(out.TargetGroups[0].TargetGroupArn)
	if err := d.setTargetGroupAttributes(ctx, arn, tg.Attributes); err != nil {
		return "", err
	}
	return arn, nil
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
			in.Matcher = &types.Matcher{HttpCode: aws.String(hc.Matcher)}
		}
		if _, err := d.Client.ModifyTargetGroup(ctx, in); err != nil {
			return fmt.Errorf("modify health check of %s: %w", c.ARN, err)
		}
	}
	if err := d.setTargetGroupAttributes(ctx, c.ARN, c.Attributes); err != nil {
		return err
	}
	return d.retag(ctx, c.ARN, c.Tags)
}

func (d *Deployer) setTargetGroupAttributes(ctx context.Context, arn string, attrs map[string]string) error {
	if len(attrs) == 0 {
		return nil
	}
	var in []types.TargetGroupAttribute
	for _, k := range sortedKeys(attrs) {
		in = append(in, types.TargetGroupAttribute{Key: aws.String(k), Value: aws.String(attrs[k])})
	}
	if _, err := d.Client.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: &arn, Attributes: in}); err != nil {
		return fmt.Errorf("modify attributes of %s: %w", arn, err)
	}
	return nil
}

func (d *Deployer) setListenerAttributes(ctx context.Context, arn string, attrs map[string]string) error {
	var in []types.ListenerAttribute
	for _, k := range sortedKeys(attrs) {
		in = append(in, types.ListenerAttribute{Key: aws.String(k), Value: aws.String(attrs[k])})
	}
	if _, err := d.Client.ModifyListenerAttributes(ctx, &elbv2.ModifyListenerAttributesInput{ListenerArn: &arn, Attributes: in}); err != nil {
		return fmt.Errorf("modify attributes of %s: %w", arn, err)
	}
	return nil
}

func (d *Deployer) retag(ctx context.Context, arn string, c TagChange) error {
	if len(c.Set) > 0 {
		if _, err := d.Client.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{arn}, Tags: sdkTags(c.Set)}); err != nil {
			return fmt.Errorf("tag %s: %w", arn, err)
		}
	}
	if len(c.Remove) > 0 {
		if _, err := d.Client.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: []string{arn}, TagKeys: c.Remove}); err != nil {
			return fmt.Errorf("untag %s: %w", arn, err)
		}
	}
	return nil
}

// Find returns the resources of stack stackID: the load balancers and
// target groups tagged with the cluster and the stack, and the listeners
// of the load balancer.
func (d *Deployer) Find(ctx context.Context, stackID string) (*Actual, error) {
	actual := &Actual{}
	var lbs []types.LoadBalancer
	pages := elbv2.NewDescribeLoadBalancersPaginator(d.Client, &elbv2.DescribeLoadBalancersInput{})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe load balancers: %w", err)
		}
		lbs = append(lbs, out.LoadBalancers...)
	}
	arns := make([]string, len(lbs))
	for i, lb := range lbs {
		arns[i] = aws.ToString(lb.LoadBalancerArn)
	}
	tags, err := d.tags(ctx, arns)
	if err != nil {
		return nil, err
	}
	for _, lb := range lbs {
		arn := aws.ToString(lb.LoadBalancerArn)
		t := tags[arn]
		if !d.ours(t, stackID) || t[TagResource] != ResourceLoadBalancer {
			continue
		}
		if actual.LoadBalancer != nil {
			actual.OtherLoadBalancers = append(actual.OtherLoadBalancers, arn)
			continue
		}
		a := &ActualLoadBalancer{
			ARN: arn, Name: aws.ToString(lb.LoadBalancerName), Type: string(lb.Type), Scheme: string(lb.Scheme),
			IPAddressType: string(lb.IpAddressType), DNSName: aws.ToString(lb.DNSName), Addresses: addresses(lb), Tags: t,
		}
		for _, z := range lb.AvailabilityZones {
			a.Subnets = append(a.Subnets, aws.ToString(z.SubnetId))
			a.Zones = append(a.Zones, aws.ToString(z.ZoneName))
		}
		out, err := d.Client.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: &arn})
		if err != nil {
			return nil, fmt.Errorf("describe attributes of %s: %w", arn, err)
		}
		a.Attributes = map[string]string{}
		for _, at := range out.Attributes {
			a.Attributes[aws.ToString(at.Key)] = aws.ToString(at.Value)
		}
		actual.LoadBalancer = a
	}
	if actual.LoadBalancer != nil {
		if actual.Listeners, err = d.listeners(ctx, actual.LoadBalancer.ARN); err != nil {
			return nil, err
		}
	}
	if actual.TargetGroups, err = d.targetGroups(ctx, stackID); err != nil {
		return nil, err
	}
	return actual, nil
}

func (d *Deployer) ours(tags map[string]string, stackID string) bool {
	if tags[TagStack] != stackID {
		return false
	}
	return d.ClusterName == "" || tags[TagCluster] == d.ClusterName
}

func (d *Deployer) listeners(ctx context.Context, lbARN string) ([]ActualListener, error) {
	var ls []types.Listener
	pages := elbv2.NewDescribeListenersPaginator(d.Client, &elbv2.DescribeListenersInput{LoadBalancerArn: &lbARN})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe listeners of %s: %w", lbARN, err)
		}
		ls = append(ls, out.Listeners...)
	}
	arns := make([]string, len(ls))
	for i, l := range ls {
		arns[i] = aws.ToString(l.ListenerArn)
	}
	tags, err := d.tags(ctx, arns)
	if err != nil {
		return nil, err
	}
	var out []ActualListener
	for _, l := range ls {
		arn := aws.ToString(l.ListenerArn)
		a := ActualListener{ARN: arn, Port: aws.ToInt32(l.Port), Protocol: string(l.Protocol), Tags: tags[arn], Attributes: map[string]string{}}
		if len(l.DefaultActions) == 1 && l.DefaultActions[0].Type == types.ActionTypeEnumForward {
			a.TargetGroupARN = forwardTarget(l.DefaultActions[0])
		}
		attrs, err := d.Client.DescribeListenerAttributes(ctx, &elbv2.DescribeListenerAttributesInput{ListenerArn: &arn})
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

// forwardTarget is the only target group of a forward action, "" if it
// forwards to several.
func forwardTarget(a types.Action) string {
	if a.TargetGroupArn != nil {
		return *a.TargetGroupArn
	}
	if a.ForwardConfig != nil && len(a.ForwardConfig.TargetGroups) == 1 {
		return aws.ToString(a.ForwardConfig.TargetGroups[0].TargetGroupArn)
	}
	return ""
}

func (d *Deployer) targetGroups(ctx context.Context, stackID string) ([]ActualTargetGroup, error) {
	var tgs []types.TargetGroup
	pages := elbv2.NewDescribeTargetGroupsPaginator(d.Client, &elbv2.DescribeTargetGroupsInput{})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe target groups: %w", err)
		}
		tgs = append(tgs, out.TargetGroups...)
	}
	arns := make([]string, len(tgs))
	for i, tg := range tgs {
		arns[i] = aws.ToString(tg.TargetGroupArn)
	}
	tags, err := d.tags(ctx, arns)
	if err != nil {
		return nil, err
	}
	var out []ActualTargetGroup
	for _, tg := range tgs {
		arn := aws.ToString(tg.TargetGroupArn)
		if !d.ours(tags[arn], stackID) {
			continue
		}
		a := ActualTargetGroup{
			ARN: arn, Name: aws.ToString(tg.TargetGroupName), Protocol: string(tg.Protocol), Port: aws.ToInt32(tg.Port),
			TargetType: string(tg.TargetType), IPAddressType: string(tg.IpAddressType), Tags: tags[arn],
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
			a.HealthCheck.Matcher = aws.ToString(tg.Matcher.HttpCode)
		}
		attrs, err := d.Client.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: &arn})
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

// tags describes the tags of arns, 20 at a time (the API's limit).
func (d *Deployer) tags(ctx context.Context, arns []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for start := 0; start < len(arns); start += 20 {
		batch := arns[start:min(start+20, len(arns))]
		res, err := d.Client.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: batch})
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

func addresses(lb types.LoadBalancer) []string {
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

func forward(tgARN string) []types.Action {
	return []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tgARN)}}
}

func sdkTags(m map[string]string) []types.Tag {
	var out []types.Tag
	for _, k := range sortedKeys(m) {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// notFound reports whether err is an ELBv2 "not found" error: what a
// delete of something already gone returns.
func notFound(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "LoadBalancerNotFound", "TargetGroupNotFound", "ListenerNotFound":
		return true
	}
	return false
}
