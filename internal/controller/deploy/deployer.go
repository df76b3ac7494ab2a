package deploy

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/kelb-io/kelb/internal/controller/certificates"
	"github.com/kelb-io/kelb/internal/controller/model"
)

// Frontend is what tells one front-end's stacks apart: its tag keys and
// how its errors name the security groups' source.
type Frontend struct {
	// StackTag is the tag key holding the stack ID, such as
	// "service.k8s.aws/stack"; ResourceTag the one holding a resource's ID
	// in the stack ("LoadBalancer", a target group's ResourceID, a
	// listener's port).
	StackTag    string
	ResourceTag string
	// SecurityGroupsFrom names where a stack's security groups come from
	// ("annotation service.beta.kubernetes.io/..."), in errors.
	SecurityGroupsFrom string
	// Kind is the kind of Kubernetes object a stack is made for
	// ("Service"), in warnings.
	Kind string
	// MutualAuthenticationFrom, CertificateRequestFrom and
	// TargetGroupNamesFrom name, in errors, where a listener's mutual TLS,
	// a requested certificate and target groups named by name come from.
	MutualAuthenticationFrom string
	CertificateRequestFrom   string
	TargetGroupNamesFrom     string
}

// ResourceLoadBalancer is the resource tag value of a stack's load
// balancer.
const ResourceLoadBalancer = "LoadBalancer"

// Deployer makes kelb server hold a desired stack, through the ELBv2 API
// only. It keeps no state: what exists is found from the stack's load
// balancer name and its tags on every reconcile (Find).
type Deployer struct {
	Client ELBv2
	// Tagging finds a stack's resources by their tags (GetResources) when
	// Find cannot find them by name; nil lists every load balancer or
	// target group and reads their tags instead, which costs calls in
	// proportion to everything that exists.
	Tagging Tagging
	// EC2 resolves the stack's security groups; nil refuses them.
	EC2 EC2
	// ClusterName is the value of TagCluster on every resource; it must
	// match the one the front-end built the stack with.
	ClusterName string
	// Certificates resolves the TLS Secrets of listeners; a stack that
	// names one fails to deploy without it.
	Certificates certificates.Resolver
	// ACM is kelb server's certificate store, where certificates are
	// discovered by host and requested; a stack that needs either fails
	// to deploy without it.
	ACM certificates.CertificateStore
	// OIDCSecrets reads the client id and secret of authenticate-oidc
	// actions; a stack with one fails to deploy without it.
	OIDCSecrets OIDCSecrets
	Frontend    Frontend
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
	// Warnings are what deploy could not do as the stack asks and leaves
	// as it is, for Warning events.
	Warnings []string
}

// Deploy reconciles kelb server with st. It finds the stack's resources,
// diffs them against st and runs the plan. A failure leaves the work done
// so far in place; the next Deploy continues from what exists.
func (d *Deployer) Deploy(ctx context.Context, st *model.Stack) (*Result, error) {
	resolved, requested, err := d.resolve(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("deploy %s: %w", st.ID, err)
	}
	st = resolved
	actual, err := d.Find(ctx, st.ID, st)
	if err != nil {
		return nil, err
	}
	plan := Diff(st, actual)
	if !d.carriesManagedGroup(actual, plan) {
		st = WithSourceRanges(st)
		plan = Diff(st, actual)
	}
	res := &Result{TargetGroupARNs: plan.TargetGroupARNs, Changed: !plan.Empty()}
	if err := d.apply(ctx, st.ID, st, actual, plan, res); err != nil {
		return nil, fmt.Errorf("deploy %s: %w", st.ID, err)
	}
	// The listeners have let go of the certificates requested for
	// objects that no longer ask for them.
	if err := d.releaseRequested(ctx, st.ID, requested); err != nil {
		return nil, fmt.Errorf("deploy %s: %w", st.ID, err)
	}
	return res, nil
}

// Delete removes every resource of the stack.
func (d *Deployer) Delete(ctx context.Context, stackID string) error {
	actual, err := d.Find(ctx, stackID, nil)
	if err != nil {
		return err
	}
	if err := d.apply(ctx, stackID, nil, actual, Diff(nil, actual), &Result{}); err != nil {
		return fmt.Errorf("delete %s: %w", stackID, err)
	}
	if err := d.releaseRequested(ctx, stackID, nil); err != nil {
		return fmt.Errorf("delete %s: %w", stackID, err)
	}
	return nil
}

func (d *Deployer) apply(ctx context.Context, stackID string, st *model.Stack, actual *Actual, p *Plan, res *Result) error {
	fg, err := d.frontendGroups(ctx, stackID, st, actual, p, res)
	if err != nil {
		return err
	}
	for _, arn := range p.DeleteListeners {
		if _, err := d.Client.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: &arn}); err != nil && !NotFound(err) {
			return fmt.Errorf("delete listener %s: %w", arn, err)
		}
	}
	for _, arn := range p.DeleteLoadBalancers {
		if _, err := d.Client.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: &arn}); err != nil && !NotFound(err) {
			return fmt.Errorf("delete load balancer %s: %w", arn, err)
		}
	}
	if st == nil {
		if err := d.sweepManagedGroups(ctx, fg, res); err != nil {
			return err
		}
		return d.deleteTargetGroups(ctx, p.DeleteTargetGroups)
	}

	lbARN := p.LoadBalancerARN
	if actual.LoadBalancer != nil && lbARN == actual.LoadBalancer.ARN {
		res.DNSName, res.Addresses = actual.LoadBalancer.DNSName, actual.LoadBalancer.Addresses
	}
	if p.CreateLoadBalancer {
		lb := st.LoadBalancer
		out, err := d.Client.CreateLoadBalancer(ctx, createLoadBalancerInput(lb, fg.ids))
		if err != nil {
			return fmt.Errorf("create load balancer %s: %w", lb.Name, err)
		}
		if len(out.LoadBalancers) != 1 {
			return fmt.Errorf("create load balancer %s: %d load balancers in the reply", lb.Name, len(out.LoadBalancers))
		}
		created := out.LoadBalancers[0]
		lbARN = aws.ToString(created.LoadBalancerArn)
		res.DNSName = aws.ToString(created.DNSName)
		res.Addresses = Addresses(created)
		// A new load balancer has the server's default attributes.
		p.SetLBAttributes = lb.Attributes
	}
	res.LoadBalancerARN = lbARN
	if !p.CreateLoadBalancer && actual.LoadBalancer != nil && actual.LoadBalancer.ARN == lbARN {
		changed, err := SyncSecurityGroups(ctx, d.Client, actual.LoadBalancer, fg.ids)
		if err != nil {
			return err
		}
		res.Changed = res.Changed || changed
	}
	if err := d.sweepManagedGroups(ctx, fg, res); err != nil {
		return err
	}
	if p.SetIPAddressType != "" {
		if _, err := d.Client.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: &lbARN, IpAddressType: types.IpAddressType(p.SetIPAddressType)}); err != nil {
			return fmt.Errorf("set address type of %s: %w", lbARN, err)
		}
	}
	if p.SetSubnets != nil {
		if err := setSubnets(ctx, d.Client, lbARN, p.SetSubnets, p.SetSourceNat); err != nil {
			return err
		}
	}
	if len(p.SetLBAttributes) > 0 {
		var attrs []types.LoadBalancerAttribute
		for _, k := range SortedKeys(p.SetLBAttributes) {
			attrs = append(attrs, types.LoadBalancerAttribute{Key: aws.String(k), Value: aws.String(p.SetLBAttributes[k])})
		}
		if _, err := d.Client.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{LoadBalancerArn: &lbARN, Attributes: attrs}); err != nil {
			return fmt.Errorf("modify attributes of %s: %w", lbARN, err)
		}
	}
	if err := d.retag(ctx, lbARN, p.LBTags); err != nil {
		return err
	}

	tgByID := map[string]model.TargetGroup{}
	for _, tg := range st.TargetGroups {
		tgByID[tg.ResourceID] = tg
	}
	vpc := ""
	for _, id := range p.CreateTargetGroups {
		if vpc == "" {
			v, err := VpcOf(ctx, d.Client, lbARN)
			if err != nil {
				return err
			}
			vpc = v
		}
		arn, err := d.createTargetGroup(ctx, tgByID[id], vpc)
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

	lsByPort := map[int32]model.Listener{}
	for _, l := range st.Listeners {
		lsByPort[l.Port] = l
	}
	for _, port := range p.CreateListeners {
		if err := d.createListener(ctx, lbARN, st.LoadBalancer.Type, lsByPort[port], res.TargetGroupARNs); err != nil {
			return err
		}
	}
	for _, c := range p.ModifyListeners {
		if err := d.modifyListener(ctx, st.LoadBalancer.Type, c, lsByPort[c.Port].Tags, res.TargetGroupARNs); err != nil {
			return err
		}
	}
	return d.deleteTargetGroups(ctx, p.DeleteTargetGroups)
}

// owner tells the resources of stack stackID.
func (d *Deployer) owner(stackID string) Owner {
	return Owner{StackTag: d.Frontend.StackTag, StackID: stackID, ClusterName: d.ClusterName}
}
