package deploy

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/kelb-io/kelb/internal/controller/model"
)

// Find returns what kelb server holds for stack stackID: its load
// balancer, the listeners of it and the stack's target groups.
//
// With the desired stack, the load balancer is looked up by its
// deterministic name (DescribeLoadBalancers Names) and the target groups by
// its ARN (DescribeTargetGroups LoadBalancerArn), each kept only when its
// tags say it is the stack's: a steady reconcile lists nothing else. Only
// when the named load balancer is not the stack's (a first deploy, a name
// or scheme change) or a desired target group is not attached to it (a
// deploy interrupted before its listener was made) does Find fall back to
// the load balancers or target groups tagged with the stack's tags, which
// also finds leftovers of an interrupted replacement: GetResources of the
// Resource Groups Tagging API filtered on the stack and cluster tags, then
// DescribeLoadBalancers or DescribeTargetGroups of what it names, so a
// first deploy costs the same whatever else exists. Only a Deployer with
// no Tagging client (a server without GetResources) lists every load
// balancer or target group and reads their tags instead. Without a
// desired stack (Delete) it always looks up by tags.
func (d *Deployer) Find(ctx context.Context, stackID string, want *model.Stack) (*Actual, error) {
	owner := d.owner(stackID)
	ownsLB := func(t map[string]string) bool {
		return owner.Owns(t) && t[d.Frontend.ResourceTag] == ResourceLoadBalancer
	}
	actual := &Actual{}
	var err error
	if want != nil && want.LoadBalancer.Name != "" {
		if actual.LoadBalancer, err = findLoadBalancerNamed(ctx, d.Client, want.LoadBalancer.Name, ownsLB); err != nil {
			return nil, err
		}
	}
	byName := actual.LoadBalancer != nil
	// What GetResources finds of the stack, when it is asked: both kinds
	// in one call when the name found nothing.
	var tagged map[string][]string
	if !byName {
		if tagged, err = d.stackTagged(ctx, owner, resourceTypeLoadBalancer, resourceTypeTargetGroup); err != nil {
			return nil, err
		}
		if actual.LoadBalancer, actual.OtherLoadBalancers, err = d.findLoadBalancers(ctx, tagged, ownsLB); err != nil {
			return nil, err
		}
	}
	if lb := actual.LoadBalancer; lb != nil {
		if actual.Listeners, err = d.findListeners(ctx, lb.ARN, lb.Type); err != nil {
			return nil, err
		}
	}

	var tgs []ActualTargetGroup
	if byName {
		if tgs, err = findTargetGroupsOf(ctx, d.Client, actual.LoadBalancer.ARN, owner.Owns); err != nil {
			return nil, err
		}
	}
	if !byName || !allTargetGroups(want, tgs, d.Frontend.ResourceTag) {
		if byName {
			if tagged, err = d.stackTagged(ctx, owner, resourceTypeTargetGroup); err != nil {
				return nil, err
			}
		}
		if tgs, err = d.findTargetGroups(ctx, tagged, owner); err != nil {
			return nil, err
		}
	}
	for _, tg := range tgs {
		tg.ResourceID = tg.Tags[d.Frontend.ResourceTag]
		actual.TargetGroups = append(actual.TargetGroups, tg)
	}
	return actual, nil
}

// allTargetGroups reports whether found holds a target group tagged with
// each ResourceID of want's target groups.
func allTargetGroups(want *model.Stack, found []ActualTargetGroup, resourceTag string) bool {
	have := map[string]bool{}
	for _, tg := range found {
		have[tg.Tags[resourceTag]] = true
	}
	for _, tg := range want.TargetGroups {
		if !have[tg.ResourceID] {
			return false
		}
	}
	return true
}

// findListeners returns the listeners of load balancer lbARN of type
// lbType in the terms Diff compares: with their certificates, and the
// rules of an application load balancer's listeners.
func (d *Deployer) findListeners(ctx context.Context, lbARN, lbType string) ([]ActualListener, error) {
	ls, err := FindListeners(ctx, d.Client, lbARN)
	if err != nil {
		return nil, err
	}
	var out []ActualListener
	for _, l := range ls {
		a := ActualListener{
			ARN: l.ARN, Port: aws.ToInt32(l.Listener.Port), Protocol: string(l.Listener.Protocol),
			SSLPolicy: aws.ToString(l.Listener.SslPolicy), MutualAuthentication: l.Listener.MutualAuthentication,
			Tags: l.Tags, Attributes: l.Attributes,
		}
		if len(l.Listener.AlpnPolicy) > 0 {
			a.ALPNPolicy = l.Listener.AlpnPolicy[0]
		}
		if len(l.Listener.DefaultActions) > 0 {
			a.DefaultAction = fromSDKActions(l.Listener.DefaultActions)
		}
		if secure(a.Protocol) {
			if a.Certificates, err = d.listenerCertificates(ctx, l.Listener); err != nil {
				return nil, err
			}
		}
		if lbType == model.TypeApplication {
			if a.Rules, err = FindRules(ctx, d.Client, l.ARN); err != nil {
				return nil, err
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// findLoadBalancerNamed returns the load balancer named name when its tags
// owns accepts, nil when there is none or it is not the stack's.
func findLoadBalancerNamed(ctx context.Context, c ELBv2, name string, owns func(tags map[string]string) bool) (*ActualLoadBalancer, error) {
	out, err := c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{name}})
	if NotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describe load balancer %s: %w", name, err)
	}
	lb, _, err := ownedLoadBalancers(ctx, c, out.LoadBalancers, owns)
	return lb, err
}
