package service

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/kelb-io/kelb/internal/controller/certificates"
	"github.com/kelb-io/kelb/internal/controller/elbv2deploy"
	"github.com/kelb-io/kelb/internal/controller/model"
)

// ELBv2 is the part of the aws-sdk-go-v2 elasticloadbalancingv2 client that
// deploy uses; *elasticloadbalancingv2.Client implements it.
type ELBv2 interface {
	elbv2deploy.ELBv2
	elbv2.DescribeListenerCertificatesAPIClient
	AddListenerCertificates(context.Context, *elbv2.AddListenerCertificatesInput, ...func(*elbv2.Options)) (*elbv2.AddListenerCertificatesOutput, error)
	RemoveListenerCertificates(context.Context, *elbv2.RemoveListenerCertificatesInput, ...func(*elbv2.Options)) (*elbv2.RemoveListenerCertificatesOutput, error)
}

var _ ELBv2 = (*elbv2.Client)(nil)

// Deployer makes kelb server hold a Service's desired stack, through the
// ELBv2 API only. It keeps no state: what exists is found by the
// elbv2.k8s.aws/cluster and service.k8s.aws/stack tags on every reconcile.
type Deployer struct {
	Client ELBv2
	// EC2 resolves the security-groups annotation; nil refuses it.
	EC2 elbv2deploy.EC2
	// ClusterName must match BuildOptions.ClusterName.
	ClusterName string
	// Certificates resolves the TLS Secrets of TLS listeners
	// (kelb-ssl-cert-secrets); a stack that names one fails to deploy
	// without it.
	Certificates certificates.Resolver
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
	// Warnings are what deploy could not do as the Service asks and
	// leaves as it is, for Warning events.
	Warnings []string
}

// Deploy reconciles kelb server with st. It finds the stack's resources,
// diffs them against st and runs the plan. A failure leaves the work done
// so far in place; the next Deploy continues from what exists.
func (d *Deployer) Deploy(ctx context.Context, st *Stack) (*Result, error) {
	st, err := d.resolveCertificates(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("deploy %s: %w", st.ID, err)
	}
	actual, err := d.Find(ctx, st.ID)
	if err != nil {
		return nil, err
	}
	plan := Diff(st, actual)
	if !d.carriesManagedGroup(actual, plan) {
		st = withSourceRanges(st)
		plan = Diff(st, actual)
	}
	res := &Result{TargetGroupARNs: plan.TargetGroupARNs, Changed: !plan.Empty()}
	if err := d.apply(ctx, st.ID, st, actual, plan, res); err != nil {
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
	if err := d.apply(ctx, stackID, nil, actual, Diff(nil, actual), &Result{}); err != nil {
		return fmt.Errorf("delete %s: %w", stackID, err)
	}
	return nil
}

func (d *Deployer) apply(ctx context.Context, stackID string, st *Stack, actual *Actual, p *Plan, res *Result) error {
	fg, err := d.frontendGroups(ctx, stackID, st, actual, p, res)
	if err != nil {
		return err
	}
	for _, arn := range p.DeleteListeners {
		if _, err := d.Client.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: &arn}); err != nil && !elbv2deploy.NotFound(err) {
			return fmt.Errorf("delete listener %s: %w", arn, err)
		}
	}
	for _, arn := range p.DeleteLoadBalancers {
		if _, err := d.Client.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: &arn}); err != nil && !elbv2deploy.NotFound(err) {
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
		out, err := d.Client.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
			Name:           &lb.Name,
			Type:           types.LoadBalancerTypeEnum(lb.Type),
			Scheme:         types.LoadBalancerSchemeEnum(lb.Scheme),
			IpAddressType:  types.IpAddressType(lb.IPAddressType),
			Subnets:        lb.Subnets,
			SecurityGroups: fg.ids,
			Tags:           elbv2deploy.SDKTags(lb.Tags),
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
		res.Addresses = elbv2deploy.Addresses(created)
		// A new load balancer has the server's default attributes.
		p.SetLBAttributes = lb.Attributes
	}
	res.LoadBalancerARN = lbARN
	if !p.CreateLoadBalancer && actual.LoadBalancer != nil && actual.LoadBalancer.ARN == lbARN {
		changed, err := elbv2deploy.SyncSecurityGroups(ctx, d.Client, actual.LoadBalancer, fg.ids)
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
		if _, err := d.Client.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: &lbARN, Subnets: p.SetSubnets}); err != nil {
			return fmt.Errorf("set subnets of %s: %w", lbARN, err)
		}
	}
	if len(p.SetLBAttributes) > 0 {
		var attrs []types.LoadBalancerAttribute
		for _, k := range elbv2deploy.SortedKeys(p.SetLBAttributes) {
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
	vpc := ""
	for _, id := range p.CreateTargetGroups {
		if vpc == "" {
			v, err := elbv2deploy.VpcOf(ctx, d.Client, lbARN)
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

	lsByPort := map[int32]Listener{}
	for _, l := range st.Listeners {
		lsByPort[l.Port] = l
	}
	for _, port := range p.CreateListeners {
		l := lsByPort[port]
		in := &elbv2.CreateListenerInput{
			LoadBalancerArn: &lbARN,
			Port:            aws.Int32(port),
			Protocol:        types.ProtocolEnum(l.Protocol),
			DefaultActions:  forward(res.TargetGroupARNs[forwardedGroup(l)]),
			Tags:            elbv2deploy.SDKTags(l.Tags),
		}
		certs := certificateARNs(l)
		if l.Protocol == "TLS" && len(certs) > 0 {
			in.SslPolicy = aws.String(l.SSLPolicy)
			in.Certificates = []types.Certificate{{CertificateArn: aws.String(certs[0])}}
			in.AlpnPolicy = []string{alpnPolicy(l.ALPNPolicy)}
		}
		out, err := d.Client.CreateListener(ctx, in)
		if err != nil {
			return fmt.Errorf("create listener %d on %s: %w", port, lbARN, err)
		}
		if len(out.Listeners) != 1 {
			return fmt.Errorf("create listener %d on %s: %d listeners in the reply", port, lbARN, len(out.Listeners))
		}
		arn := aws.ToString(out.Listeners[0].ListenerArn)
		if len(l.Attributes) > 0 {
			if err := elbv2deploy.SetListenerAttributes(ctx, d.Client, arn, l.Attributes); err != nil {
				return err
			}
		}
		if l.Protocol == "TLS" && len(certs) > 1 {
			if err := d.changeCertificates(ctx, arn, certs[1:], nil); err != nil {
				return err
			}
		}
	}
	for _, c := range p.ModifyListeners {
		if c.Protocol != "" {
			in := &elbv2.ModifyListenerInput{
				ListenerArn:    &c.ARN,
				Protocol:       types.ProtocolEnum(c.Protocol),
				DefaultActions: forward(res.TargetGroupARNs[c.TargetGroup]),
			}
			if c.Certificate != "" {
				in.SslPolicy = aws.String(c.SSLPolicy)
				in.Certificates = []types.Certificate{{CertificateArn: aws.String(c.Certificate)}}
				in.AlpnPolicy = []string{c.ALPNPolicy}
			}
			if _, err := d.Client.ModifyListener(ctx, in); err != nil {
				return fmt.Errorf("modify listener %s: %w", c.ARN, err)
			}
		}
		if err := d.changeCertificates(ctx, c.ARN, c.AddCertificates, c.RemoveCertificates); err != nil {
			return err
		}
		if len(c.Attributes) > 0 {
			if err := elbv2deploy.SetListenerAttributes(ctx, d.Client, c.ARN, c.Attributes); err != nil {
				return err
			}
		}
		if err := d.retag(ctx, c.ARN, c.Tags); err != nil {
			return err
		}
	}
	return d.deleteTargetGroups(ctx, p.DeleteTargetGroups)
}

// resolveCertificates returns st with the TLS Secrets of its listeners
// resolved to certificate ARNs (imported into kelb's certificate store
// when needed); st itself is not changed.
func (d *Deployer) resolveCertificates(ctx context.Context, st *Stack) (*Stack, error) {
	if !slices.ContainsFunc(st.Listeners, func(l Listener) bool { return len(l.Certificates) > 0 }) {
		return st, nil
	}
	out := *st
	out.Listeners = slices.Clone(st.Listeners)
	for i, l := range out.Listeners {
		if len(l.Certificates) == 0 {
			continue
		}
		arns, err := certificates.ARNs(ctx, d.Certificates, l.Certificates)
		if err != nil {
			return st, fmt.Errorf("listener %d: %w", l.Port, err)
		}
		out.Listeners[i].Certificates = make([]model.Certificate, len(arns))
		for j, arn := range arns {
			out.Listeners[i].Certificates[j] = model.Certificate{ARN: arn}
		}
	}
	return &out, nil
}

// changeCertificates adds and removes certificates of TLS listener arn
// besides its default one.
func (d *Deployer) changeCertificates(ctx context.Context, arn string, add, remove []string) error {
	sdk := func(arns []string) []types.Certificate {
		out := make([]types.Certificate, len(arns))
		for i, a := range arns {
			out[i] = types.Certificate{CertificateArn: aws.String(a)}
		}
		return out
	}
	if len(add) > 0 {
		if _, err := d.Client.AddListenerCertificates(ctx, &elbv2.AddListenerCertificatesInput{ListenerArn: &arn, Certificates: sdk(add)}); err != nil {
			return fmt.Errorf("add certificates to %s: %w", arn, err)
		}
	}
	if len(remove) > 0 {
		if _, err := d.Client.RemoveListenerCertificates(ctx, &elbv2.RemoveListenerCertificatesInput{ListenerArn: &arn, Certificates: sdk(remove)}); err != nil {
			return fmt.Errorf("remove certificates from %s: %w", arn, err)
		}
	}
	return nil
}

// listenerCertificates returns the certificates of TLS listener arn: the
// default first, then the others sorted.
func (d *Deployer) listenerCertificates(ctx context.Context, l types.Listener) ([]string, error) {
	var def string
	if len(l.Certificates) > 0 {
		def = aws.ToString(l.Certificates[0].CertificateArn)
	}
	var extra []string
	pages := elbv2.NewDescribeListenerCertificatesPaginator(d.Client, &elbv2.DescribeListenerCertificatesInput{ListenerArn: l.ListenerArn})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe certificates of %s: %w", aws.ToString(l.ListenerArn), err)
		}
		for _, c := range out.Certificates {
			arn := aws.ToString(c.CertificateArn)
			if aws.ToBool(c.IsDefault) {
				def = arn
			} else if arn != def && !slices.Contains(extra, arn) {
				extra = append(extra, arn)
			}
		}
	}
	slices.Sort(extra)
	extra = slices.DeleteFunc(extra, func(a string) bool { return a == def })
	return append([]string{def}, extra...), nil
}

func (d *Deployer) deleteTargetGroups(ctx context.Context, arns []string) error {
	for _, arn := range arns {
		if _, err := d.Client.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: &arn}); err != nil && !elbv2deploy.NotFound(err) {
			return fmt.Errorf("delete target group %s: %w", arn, err)
		}
	}
	return nil
}

func (d *Deployer) createTargetGroup(ctx context.Context, tg TargetGroup, vpc string) (string, error) {
	hc := tg.HealthCheck
	in := &elbv2.CreateTargetGroupInput{
		Name:                       &tg.Name,
		VpcId:                      &vpc,
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
		Tags:                       elbv2deploy.SDKTags(tg.Tags),
	}
	if hc.Protocol != "TCP" {
		in.HealthCheckPath = aws.String(hc.Path)
		in.Matcher = &types.Matcher{HttpCode: aws.String(hc.HTTPCode)}
	}
	out, err := d.Client.CreateTargetGroup(ctx, in)
	if err != nil {
		return "", fmt.Errorf("create target group %s for %s: %w", tg.Name, tg.ResourceID, err)
	}
	if len(out.TargetGroups) != 1 {
		return "", fmt.Errorf("create target group %s: %d target groups in the reply", tg.Name, len(out.TargetGroups))
	}
	arn := aws.ToString(out.TargetGroups[0].TargetGroupArn)
	if err := elbv2deploy.SetTargetGroupAttributes(ctx, d.Client, arn, tg.Attributes); err != nil {
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
			in.Matcher = &types.Matcher{HttpCode: aws.String(hc.HTTPCode)}
		}
		if _, err := d.Client.ModifyTargetGroup(ctx, in); err != nil {
			return fmt.Errorf("modify health check of %s: %w", c.ARN, err)
		}
	}
	if err := elbv2deploy.SetTargetGroupAttributes(ctx, d.Client, c.ARN, c.Attributes); err != nil {
		return err
	}
	return d.retag(ctx, c.ARN, c.Tags)
}

func (d *Deployer) retag(ctx context.Context, arn string, c TagChange) error {
	if len(c.Set) > 0 {
		if _, err := d.Client.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{arn}, Tags: elbv2deploy.SDKTags(c.Set)}); err != nil {
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

// owner tells the resources of stack stackID.
func (d *Deployer) owner(stackID string) elbv2deploy.Owner {
	return elbv2deploy.Owner{StackTag: TagStack, StackID: stackID, ClusterName: d.ClusterName}
}

// Find returns the resources of stack stackID: the load balancers and
// target groups tagged with the cluster and the stack, and the listeners
// of the load balancer.
func (d *Deployer) Find(ctx context.Context, stackID string) (*Actual, error) {
	owner := d.owner(stackID)
	lb, others, err := elbv2deploy.FindLoadBalancers(ctx, d.Client, func(t map[string]string) bool {
		return owner.Owns(t) && t[TagResource] == ResourceLoadBalancer
	})
	if err != nil {
		return nil, err
	}
	actual := &Actual{LoadBalancer: lb, OtherLoadBalancers: others}
	if lb != nil {
		ls, err := elbv2deploy.FindListeners(ctx, d.Client, lb.ARN)
		if err != nil {
			return nil, err
		}
		for _, l := range ls {
			a := ActualListener{ARN: l.ARN, Port: aws.ToInt32(l.Listener.Port), Protocol: string(l.Listener.Protocol), Tags: l.Tags, Attributes: l.Attributes}
			if a.Protocol == "TLS" {
				a.SSLPolicy = aws.ToString(l.Listener.SslPolicy)
				if len(l.Listener.AlpnPolicy) > 0 {
					a.ALPNPolicy = l.Listener.AlpnPolicy[0]
				}
				if a.Certificates, err = d.listenerCertificates(ctx, l.Listener); err != nil {
					return nil, err
				}
			}
			if acts := l.Listener.DefaultActions; len(acts) == 1 && acts[0].Type == types.ActionTypeEnumForward {
				a.TargetGroupARN = forwardTarget(acts[0])
			}
			actual.Listeners = append(actual.Listeners, a)
		}
	}
	tgs, err := elbv2deploy.FindTargetGroups(ctx, d.Client, owner.Owns)
	if err != nil {
		return nil, err
	}
	for _, tg := range tgs {
		hc := tg.HealthCheck
		actual.TargetGroups = append(actual.TargetGroups, ActualTargetGroup{
			ARN: tg.ARN, Name: tg.Name, Protocol: tg.Protocol, Port: tg.Port,
			TargetType: tg.TargetType, IPAddressType: tg.IPAddressType, Tags: tg.Tags,
			HealthCheck: HealthCheck{
				Protocol: hc.Protocol, Port: hc.Port, Path: hc.Path, HTTPCode: hc.HTTPCode,
				IntervalSeconds: hc.IntervalSeconds, TimeoutSeconds: hc.TimeoutSeconds,
				HealthyThreshold: hc.HealthyThreshold, UnhealthyThreshold: hc.UnhealthyThreshold,
			},
			Attributes: tg.Attributes,
		})
	}
	return actual, nil
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

func forward(tgARN string) []types.Action {
	return []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tgARN)}}
}
