package ingress

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/kelb-io/kelb/internal/controller/certificates"
	"github.com/kelb-io/kelb/internal/controller/deploy"
)

// ELBv2 is the part of the aws-sdk-go-v2 elasticloadbalancingv2 client that
// deploy uses; *elasticloadbalancingv2.Client implements it.
type ELBv2 interface {
	deploy.ELBv2
	elbv2.DescribeRulesAPIClient
	CreateRule(context.Context, *elbv2.CreateRuleInput, ...func(*elbv2.Options)) (*elbv2.CreateRuleOutput, error)
	ModifyRule(context.Context, *elbv2.ModifyRuleInput, ...func(*elbv2.Options)) (*elbv2.ModifyRuleOutput, error)
	DeleteRule(context.Context, *elbv2.DeleteRuleInput, ...func(*elbv2.Options)) (*elbv2.DeleteRuleOutput, error)
	SetRulePriorities(context.Context, *elbv2.SetRulePrioritiesInput, ...func(*elbv2.Options)) (*elbv2.SetRulePrioritiesOutput, error)
	elbv2.DescribeListenerCertificatesAPIClient
	AddListenerCertificates(context.Context, *elbv2.AddListenerCertificatesInput, ...func(*elbv2.Options)) (*elbv2.AddListenerCertificatesOutput, error)
	RemoveListenerCertificates(context.Context, *elbv2.RemoveListenerCertificatesInput, ...func(*elbv2.Options)) (*elbv2.RemoveListenerCertificatesOutput, error)
	DescribeTrustStores(context.Context, *elbv2.DescribeTrustStoresInput, ...func(*elbv2.Options)) (*elbv2.DescribeTrustStoresOutput, error)
}

var _ ELBv2 = (*elbv2.Client)(nil)

// CertificateResolver turns a TLS Secret ("<namespace>/<name>") named by a
// stack into the ARN of its certificate in kelb's certificate store,
// importing it when needed.
type CertificateResolver interface {
	Resolve(ctx context.Context, secret string) (string, error)
}

// Deployer makes kelb server hold an IngressGroup's desired stack, through
// the ELBv2 API only. It keeps no state: what exists is found by the
// elbv2.k8s.aws/cluster and ingress.k8s.aws/stack tags on every deploy.
type Deployer struct {
	Client ELBv2
	// EC2 resolves the security-groups annotation; nil refuses it.
	EC2 deploy.EC2
	// ClusterName must match BuildOptions.ClusterName.
	ClusterName string
	// Certificates resolves the TLS Secrets of HTTPS listeners; a stack
	// that names one fails to deploy without it.
	Certificates CertificateResolver
	// ACM is kelb server's certificate store, where certificates are
	// discovered by host and requested for create-acm-cert; a stack that
	// needs either fails to deploy without it.
	ACM certificates.CertificateStore
	// OIDCSecrets reads the client id and secret of authenticate-oidc
	// actions; a stack with one fails to deploy without it.
	OIDCSecrets OIDCSecrets
}

// Result is what a deploy leaves in place.
type Result struct {
	LoadBalancerARN string
	DNSName         string
	// TargetGroupARNs maps the ResourceID of every target group to its ARN.
	TargetGroupARNs map[string]string
	// Changed reports whether deploy wrote anything.
	Changed bool
	// namedGroups maps the target groups the stack's actions name
	// (targetGroupName) to their ARNs.
	namedGroups map[string]string
	// securityGroups are the IDs of the stack's security groups;
	// managedGroup is the managed one among them, staleGroups other
	// managed groups of the stack made under another name.
	securityGroups []string
	managedGroup   string
	staleGroups    []string
}

// actualLoadBalancer is an existing load balancer of the stack.
type actualLoadBalancer = deploy.ActualLoadBalancer

// actualListener is an existing listener of the stack's load balancer.
type actualListener struct {
	ARN, Protocol, SSLPolicy string
	Port                     int32
	DefaultCertificate       string
	DefaultAction            Action
	Attributes, Tags         map[string]string
	MutualAuthentication     *types.MutualAuthenticationAttributes
}

// actualTargetGroup is an existing target group tagged for the stack.
type actualTargetGroup = deploy.ActualTargetGroup

// actual is what kelb server holds for one stack.
type actual struct {
	lb           *actualLoadBalancer
	otherLBs     []string
	listeners    []actualListener
	targetGroups []actualTargetGroup
}

// Deploy makes kelb server hold st. A failure leaves the work done so far
// in place; the next Deploy continues from what exists.
func (d *Deployer) Deploy(ctx context.Context, st *Stack) (*Result, error) {
	a, err := d.find(ctx, st.ID)
	if err != nil {
		return nil, err
	}
	if d.EC2 == nil {
		// No EC2 API for the managed group: kelb server enforces its
		// rules on the listeners.
		st = deploy.WithSourceRanges(st)
	}
	res := &Result{TargetGroupARNs: map[string]string{}}
	if err := d.deploy(ctx, st, a, res); err != nil {
		return nil, fmt.Errorf("deploy %s: %w", st.ID, err)
	}
	return res, nil
}

// Delete removes every resource of the stack.
func (d *Deployer) Delete(ctx context.Context, stackID string) error {
	a, err := d.find(ctx, stackID)
	if err != nil {
		return err
	}
	lbs := a.otherLBs
	if a.lb != nil {
		lbs = append(lbs, a.lb.ARN)
	}
	for _, arn := range lbs {
		if err := d.deleteLoadBalancer(ctx, arn); err != nil {
			return fmt.Errorf("delete %s: %w", stackID, err)
		}
	}
	for _, tg := range a.targetGroups {
		if _, err := d.Client.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: &tg.ARN}); err != nil && !deploy.NotFound(err) {
			return fmt.Errorf("delete %s: delete target group %s: %w", stackID, tg.ARN, err)
		}
	}
	if d.EC2 != nil {
		if _, err := deploy.DeleteManagedSecurityGroups(ctx, d.EC2, d.owner(stackID), TagResource, ""); err != nil {
			return fmt.Errorf("delete %s: %w", stackID, err)
		}
	}
	if err := d.releaseRequested(ctx, stackID, nil); err != nil {
		return fmt.Errorf("delete %s: %w", stackID, err)
	}
	return nil
}

func (d *Deployer) deleteLoadBalancer(ctx context.Context, arn string) error {
	// Deleting the load balancer deletes its listeners and rules.
	if _, err := d.Client.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: &arn}); err != nil && !deploy.NotFound(err) {
		return fmt.Errorf("delete load balancer %s: %w", arn, err)
	}
	return nil
}

func (d *Deployer) deploy(ctx context.Context, st *Stack, a *actual, res *Result) error {
	// Named target groups and certificates first: a name no target group
	// has, or a host no certificate covers, fails the deploy before
	// anything changes.
	var err error
	if res.namedGroups, err = d.namedTargetGroups(ctx, st); err != nil {
		return err
	}
	if err := d.frontendGroups(ctx, st, res); err != nil {
		return err
	}
	certs, requested, err := d.resolveCertificates(ctx, st)
	if err != nil {
		return err
	}
	for _, arn := range a.otherLBs {
		res.Changed = true
		if err := d.deleteLoadBalancer(ctx, arn); err != nil {
			return err
		}
	}
	lb, err := d.loadBalancer(ctx, st, a, res)
	if err != nil {
		return err
	}
	if err := d.sweepManagedGroups(ctx, st.ID, res); err != nil {
		return err
	}
	keepTG, err := d.targetGroups(ctx, st, a, res)
	if err != nil {
		return err
	}
	wanted := map[int32]bool{}
	for _, l := range st.Listeners {
		wanted[l.Port] = true
		if err := d.listener(ctx, lb, l, certs[l.Port], a, res); err != nil {
			return err
		}
	}
	for _, l := range a.listeners {
		if !wanted[l.Port] {
			res.Changed = true
			if _, err := d.Client.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: &l.ARN}); err != nil && !deploy.NotFound(err) {
				return fmt.Errorf("delete listener %s: %w", l.ARN, err)
			}
		}
	}
	for _, tg := range a.targetGroups {
		if keepTG[tg.ARN] {
			continue
		}
		res.Changed = true
		if _, err := d.Client.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: &tg.ARN}); err != nil && !deploy.NotFound(err) {
			return fmt.Errorf("delete target group %s: %w", tg.ARN, err)
		}
	}
	// The listeners have let go of the certificates requested for
	// Ingresses that no longer ask for them.
	return d.releaseRequested(ctx, st.ID, requested)
}

// loadBalancer creates, replaces or updates the load balancer and returns
// its ARN. It is replaced only when its name, scheme or type change.
func (d *Deployer) loadBalancer(ctx context.Context, st *Stack, a *actual, res *Result) (string, error) {
	want := st.LoadBalancer
	have := a.lb
	if have != nil && (have.Name != want.Name || have.Scheme != want.Scheme || have.Type != want.Type) {
		res.Changed = true
		if err := d.deleteLoadBalancer(ctx, have.ARN); err != nil {
			return "", err
		}
		a.listeners = nil
		have = nil
	}
	if have == nil {
		res.Changed = true
		out, err := d.Client.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
			Name:           &want.Name,
			Type:           types.LoadBalancerTypeEnum(want.Type),
			Scheme:         types.LoadBalancerSchemeEnum(want.Scheme),
			IpAddressType:  types.IpAddressType(want.IPAddressType),
			Subnets:        want.Subnets,
			SecurityGroups: res.securityGroups,
			Tags:           deploy.SDKTags(want.Tags),
		})
		if err != nil {
			return "", fmt.Errorf("create load balancer %s: %w", want.Name, err)
		}
		if len(out.LoadBalancers) != 1 {
			return "", fmt.Errorf("create load balancer %s: %d load balancers in the reply", want.Name, len(out.LoadBalancers))
		}
		arn := aws.ToString(out.LoadBalancers[0].LoadBalancerArn)
		res.LoadBalancerARN, res.DNSName = arn, aws.ToString(out.LoadBalancers[0].DNSName)
		return arn, d.setLBAttributes(ctx, arn, want.Attributes)
	}
	arn := have.ARN
	res.LoadBalancerARN, res.DNSName = arn, have.DNSName
	if have.IPAddressType != want.IPAddressType {
		res.Changed = true
		if _, err := d.Client.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: &arn, IpAddressType: types.IpAddressType(want.IPAddressType)}); err != nil {
			return "", fmt.Errorf("set address type of %s: %w", arn, err)
		}
	}
	if len(want.Subnets) > 0 && !deploy.SameZones(want.Subnets, have) {
		res.Changed = true
		if _, err := d.Client.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: &arn, Subnets: want.Subnets}); err != nil {
			return "", fmt.Errorf("set subnets of %s: %w", arn, err)
		}
	}
	if changed := deploy.ChangedAttributes(want.Attributes, have.Attributes); len(changed) > 0 {
		res.Changed = true
		if err := d.setLBAttributes(ctx, arn, changed); err != nil {
			return "", err
		}
	}
	if changed, err := deploy.SyncSecurityGroups(ctx, d.Client, have, res.securityGroups); err != nil {
		return "", err
	} else if changed {
		res.Changed = true
	}
	return arn, d.retag(ctx, arn, want.Tags, have.Tags, res)
}

func (d *Deployer) setLBAttributes(ctx context.Context, arn string, attrs map[string]string) error {
	if len(attrs) == 0 {
		return nil
	}
	var in []types.LoadBalancerAttribute
	for _, k := range deploy.SortedKeys(attrs) {
		in = append(in, types.LoadBalancerAttribute{Key: aws.String(k), Value: aws.String(attrs[k])})
	}
	if _, err := d.Client.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{LoadBalancerArn: &arn, Attributes: in}); err != nil {
		return fmt.Errorf("modify attributes of %s: %w", arn, err)
	}
	return nil
}

// targetGroups creates or updates the stack's target groups, filling
// res.TargetGroupARNs, and returns the existing ones to keep. A target
// group is replaced only when what ELBv2 cannot modify changes.
func (d *Deployer) targetGroups(ctx context.Context, st *Stack, a *actual, res *Result) (map[string]bool, error) {
	kept := map[string]bool{}
	vpc := ""
	for _, want := range st.TargetGroups {
		var match *actualTargetGroup
		for i := range a.targetGroups {
			tg := &a.targetGroups[i]
			if !kept[tg.ARN] && tg.Tags[TagResource] == want.ResourceID && want.Name == tg.Name && want.Protocol == tg.Protocol &&
				want.Port == tg.Port && want.TargetType == tg.TargetType && (tg.ProtocolVersion == "" || want.ProtocolVersion == tg.ProtocolVersion) &&
				(tg.IPAddressType == "" || want.IPAddressType == tg.IPAddressType) {
				match = tg
				break
			}
		}
		if match == nil {
			res.Changed = true
			if vpc == "" {
				var err error
				if vpc, err = deploy.VpcOf(ctx, d.Client, res.LoadBalancerARN); err != nil {
					return nil, err
				}
			}
			arn, err := d.createTargetGroup(ctx, want, vpc)
			if err != nil {
				return nil, err
			}
			res.TargetGroupARNs[want.ResourceID] = arn
			continue
		}
		kept[match.ARN] = true
		res.TargetGroupARNs[want.ResourceID] = match.ARN
		if want.HealthCheck != match.HealthCheck {
			res.Changed = true
			if _, err := d.Client.ModifyTargetGroup(ctx, modifyHealthCheck(match.ARN, want.HealthCheck)); err != nil {
				return nil, fmt.Errorf("modify health check of %s: %w", match.ARN, err)
			}
		}
		if changed := deploy.ChangedAttributes(want.Attributes, match.Attributes); len(changed) > 0 {
			res.Changed = true
			if err := deploy.SetTargetGroupAttributes(ctx, d.Client, match.ARN, changed); err != nil {
				return nil, err
			}
		}
		if err := d.retag(ctx, match.ARN, want.Tags, match.Tags, res); err != nil {
			return nil, err
		}
	}
	return kept, nil
}

func (d *Deployer) createTargetGroup(ctx context.Context, tg TargetGroup, vpc string) (string, error) {
	hc := tg.HealthCheck
	in := &elbv2.CreateTargetGroupInput{
		Name:                       &tg.Name,
		VpcId:                      &vpc,
		Protocol:                   types.ProtocolEnum(tg.Protocol),
		ProtocolVersion:            aws.String(tg.ProtocolVersion),
		Port:                       aws.Int32(tg.Port),
		TargetType:                 types.TargetTypeEnum(tg.TargetType),
		IpAddressType:              types.TargetGroupIpAddressTypeEnum(tg.IPAddressType),
		HealthCheckEnabled:         aws.Bool(true),
		HealthCheckProtocol:        types.ProtocolEnum(hc.Protocol),
		HealthCheckPort:            aws.String(hc.Port),
		HealthCheckPath:            aws.String(hc.Path),
		HealthCheckIntervalSeconds: aws.Int32(hc.IntervalSeconds),
		HealthCheckTimeoutSeconds:  aws.Int32(hc.TimeoutSeconds),
		HealthyThresholdCount:      aws.Int32(hc.HealthyThreshold),
		UnhealthyThresholdCount:    aws.Int32(hc.UnhealthyThreshold),
		Matcher:                    matcher(hc),
		Tags:                       deploy.SDKTags(tg.Tags),
	}
	out, err := d.Client.CreateTargetGroup(ctx, in)
	if err != nil {
		return "", fmt.Errorf("create target group %s for %s: %w", tg.Name, tg.ResourceID, err)
	}
	if len(out.TargetGroups) != 1 {
		return "", fmt.Errorf("create target group %s: %d target groups in the reply", tg.Name, len(out.TargetGroups))
	}
	arn := aws.ToString(out.TargetGroups[0].TargetGroupArn)
	return arn, deploy.SetTargetGroupAttributes(ctx, d.Client, arn, tg.Attributes)
}

func matcher(hc HealthCheck) *types.Matcher {
	if hc.GRPCCode != "" {
		return &types.Matcher{GrpcCode: aws.String(hc.GRPCCode)}
	}
	return &types.Matcher{HttpCode: aws.String(hc.HTTPCode)}
}

func modifyHealthCheck(arn string, hc HealthCheck) *elbv2.ModifyTargetGroupInput {
	return &elbv2.ModifyTargetGroupInput{
		TargetGroupArn:             &arn,
		HealthCheckProtocol:        types.ProtocolEnum(hc.Protocol),
		HealthCheckPort:            aws.String(hc.Port),
		HealthCheckPath:            aws.String(hc.Path),
		HealthCheckIntervalSeconds: aws.Int32(hc.IntervalSeconds),
		HealthCheckTimeoutSeconds:  aws.Int32(hc.TimeoutSeconds),
		HealthyThresholdCount:      aws.Int32(hc.HealthyThreshold),
		UnhealthyThresholdCount:    aws.Int32(hc.UnhealthyThreshold),
		Matcher:                    matcher(hc),
	}
}

// resolveAction replaces the stack's target group ResourceIDs with ARNs.
func resolveAction(a Action, arns, named map[string]string) (Action, error) {
	if a.Forward == nil {
		return a, nil
	}
	f := *a.Forward
	f.TargetGroups = slices.Clone(f.TargetGroups)
	for i := range f.TargetGroups {
		wt := &f.TargetGroups[i]
		if wt.Name != "" {
			arn, ok := named[wt.Name]
			if !ok {
				return Action{}, fmt.Errorf("no target group named %q", wt.Name)
			}
			wt.ARN, wt.Name = arn, ""
			continue
		}
		if wt.TargetGroup == "" {
			continue
		}
		arn, ok := arns[wt.TargetGroup]
		if !ok {
			return Action{}, fmt.Errorf("no target group %s in the stack", wt.TargetGroup)
		}
		wt.ARN, wt.TargetGroup = arn, ""
	}
	a.Forward = &f
	return a, nil
}

// namedTargetGroups resolves the target groups the stack's forward
// actions name (targetGroupName) to their ARNs with DescribeTargetGroups.
// A name no target group has fails the deploy before anything changes.
func (d *Deployer) namedTargetGroups(ctx context.Context, st *Stack) (map[string]string, error) {
	var names []string
	collect := func(a Action) {
		if a.Forward == nil {
			return
		}
		for _, wt := range a.Forward.TargetGroups {
			if wt.Name != "" && !slices.Contains(names, wt.Name) {
				names = append(names, wt.Name)
			}
		}
	}
	for _, l := range st.Listeners {
		collect(l.DefaultAction)
		for _, r := range l.Rules {
			collect(r.Action)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(names))
	for _, name := range names {
		page, err := d.Client.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{name}})
		if err != nil {
			return nil, fmt.Errorf("target group %q named by an actions annotation: %w", name, err)
		}
		if len(page.TargetGroups) != 1 {
			return nil, fmt.Errorf("target group %q named by an actions annotation: %d found", name, len(page.TargetGroups))
		}
		out[name] = aws.ToString(page.TargetGroups[0].TargetGroupArn)
	}
	return out, nil
}

func (d *Deployer) listener(ctx context.Context, lbARN string, want Listener, certs []string, a *actual, res *Result) error {
	defAction, err := resolveAction(want.DefaultAction, res.TargetGroupARNs, res.namedGroups)
	if err != nil {
		return err
	}
	mutualAuth, err := d.sdkMutualAuthentication(ctx, want.MutualAuthentication)
	if err != nil {
		return err
	}
	if defAction, err = d.resolveAuthenticate(ctx, defAction); err != nil {
		return err
	}
	var defaultCert []types.Certificate
	if len(certs) > 0 {
		defaultCert = []types.Certificate{{CertificateArn: aws.String(certs[0])}}
	}
	var have *actualListener
	for i := range a.listeners {
		if a.listeners[i].Port == want.Port {
			have = &a.listeners[i]
		}
	}
	var arn string
	var rules []ActualRule
	if have == nil {
		res.Changed = true
		out, err := d.Client.CreateListener(ctx, &elbv2.CreateListenerInput{
			LoadBalancerArn:      &lbARN,
			Port:                 aws.Int32(want.Port),
			Protocol:             types.ProtocolEnum(want.Protocol),
			SslPolicy:            optional(want.SSLPolicy),
			Certificates:         defaultCert,
			DefaultActions:       sdkActions(defAction),
			Tags:                 deploy.SDKTags(want.Tags),
			MutualAuthentication: mutualAuth,
		})
		if err != nil {
			return fmt.Errorf("create listener %d on %s: %w", want.Port, lbARN, err)
		}
		if len(out.Listeners) != 1 {
			return fmt.Errorf("create listener %d on %s: %d listeners in the reply", want.Port, lbARN, len(out.Listeners))
		}
		arn = aws.ToString(out.Listeners[0].ListenerArn)
		if len(want.Attributes) > 0 {
			if err := deploy.SetListenerAttributes(ctx, d.Client, arn, want.Attributes); err != nil {
				return err
			}
		}
	} else {
		arn = have.ARN
		wantCert := ""
		if len(certs) > 0 {
			wantCert = certs[0]
		}
		if have.Protocol != want.Protocol || have.SSLPolicy != want.SSLPolicy || have.DefaultCertificate != wantCert || !SameAction(defAction, have.DefaultAction) ||
			mutualAuthenticationDiffers(mutualAuth, have.MutualAuthentication) {
			res.Changed = true
			_, err := d.Client.ModifyListener(ctx, &elbv2.ModifyListenerInput{
				ListenerArn:          &arn,
				Protocol:             types.ProtocolEnum(want.Protocol),
				SslPolicy:            optional(want.SSLPolicy),
				Certificates:         defaultCert,
				DefaultActions:       sdkActions(defAction),
				MutualAuthentication: mutualAuth,
			})
			if err != nil {
				return fmt.Errorf("modify listener %s: %w", arn, err)
			}
		}
		changed := resetListenerAttributes(deploy.ChangedListenerAttributes(want.Attributes, have.Attributes), want.Attributes, have.Attributes)
		if len(changed) > 0 {
			res.Changed = true
			if err := deploy.SetListenerAttributes(ctx, d.Client, arn, changed); err != nil {
				return err
			}
		}
		if err := d.retag(ctx, arn, want.Tags, have.Tags, res); err != nil {
			return err
		}
		if rules, err = d.rules(ctx, arn); err != nil {
			return err
		}
	}
	if len(certs) > 1 {
		if err := d.extraCertificates(ctx, arn, certs, res); err != nil {
			return err
		}
	}
	desired := make([]Rule, len(want.Rules))
	for i, r := range want.Rules {
		act, err := resolveAction(r.Action, res.TargetGroupARNs, res.namedGroups)
		if err != nil {
			return err
		}
		if act, err = d.resolveAuthenticate(ctx, act); err != nil {
			return err
		}
		desired[i] = Rule{Priority: r.Priority, Conditions: r.Conditions, Action: act, Transforms: r.Transforms}
	}
	return d.applyRules(ctx, arn, PlanRules(desired, rules), want.Tags, res)
}

// extraCertificates makes the listener's non-default certificates the
// given ones after the first.
func (d *Deployer) extraCertificates(ctx context.Context, arn string, certs []string, res *Result) error {
	have := map[string]bool{}
	pages := elbv2.NewDescribeListenerCertificatesPaginator(d.Client, &elbv2.DescribeListenerCertificatesInput{ListenerArn: &arn})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("describe certificates of %s: %w", arn, err)
		}
		// ELBv2 lists the default certificate twice, once as a
		// member of the certificate list: it is not an extra one.
		for _, c := range out.Certificates {
			if arn := aws.ToString(c.CertificateArn); !aws.ToBool(c.IsDefault) && (len(certs) == 0 || arn != certs[0]) {
				have[arn] = true
			}
		}
	}
	var add []types.Certificate
	for _, c := range certs[1:] {
		if !have[c] {
			add = append(add, types.Certificate{CertificateArn: aws.String(c)})
		}
		delete(have, c)
	}
	if len(add) > 0 {
		res.Changed = true
		if _, err := d.Client.AddListenerCertificates(ctx, &elbv2.AddListenerCertificatesInput{ListenerArn: &arn, Certificates: add}); err != nil {
			return fmt.Errorf("add certificates to %s: %w", arn, err)
		}
	}
	if len(have) > 0 {
		res.Changed = true
		var remove []types.Certificate
		for _, c := range deploy.SortedKeys(boolKeys(have)) {
			remove = append(remove, types.Certificate{CertificateArn: aws.String(c)})
		}
		if _, err := d.Client.RemoveListenerCertificates(ctx, &elbv2.RemoveListenerCertificatesInput{ListenerArn: &arn, Certificates: remove}); err != nil {
			return fmt.Errorf("remove certificates from %s: %w", arn, err)
		}
	}
	return nil
}

func boolKeys(m map[string]bool) map[string]string {
	out := make(map[string]string, len(m))
	for k := range m {
		out[k] = ""
	}
	return out
}

func (d *Deployer) applyRules(ctx context.Context, listenerARN string, p RulePlan, tags map[string]string, res *Result) error {
	if p.Empty() {
		return nil
	}
	res.Changed = true
	for _, arn := range p.Delete {
		if _, err := d.Client.DeleteRule(ctx, &elbv2.DeleteRuleInput{RuleArn: &arn}); err != nil && !deploy.NotFound(err) {
			return fmt.Errorf("delete rule %s: %w", arn, err)
		}
	}
	if len(p.Priorities) > 0 {
		in := &elbv2.SetRulePrioritiesInput{}
		for _, c := range p.Priorities {
			in.RulePriorities = append(in.RulePriorities, types.RulePriorityPair{RuleArn: aws.String(c.ARN), Priority: aws.Int32(c.Priority)})
		}
		if _, err := d.Client.SetRulePriorities(ctx, in); err != nil {
			return fmt.Errorf("set rule priorities on %s: %w", listenerARN, err)
		}
	}
	for _, c := range p.Modify {
		in := &elbv2.ModifyRuleInput{
			RuleArn:    aws.String(c.ARN),
			Conditions: sdkConditions(c.Rule.Conditions),
			Actions:    sdkActions(c.Rule.Action),
			Transforms: sdkTransforms(c.Rule.Transforms),
		}
		if len(c.Rule.Transforms) == 0 {
			in.ResetTransforms = aws.Bool(true)
		}
		_, err := d.Client.ModifyRule(ctx, in)
		if err != nil {
			return fmt.Errorf("modify rule %s: %w", c.ARN, err)
		}
	}
	ruleTags := map[string]string{}
	for k, v := range tags {
		if k != TagResource {
			ruleTags[k] = v
		}
	}
	for _, r := range p.Create {
		_, err := d.Client.CreateRule(ctx, &elbv2.CreateRuleInput{
			ListenerArn: &listenerARN,
			Priority:    aws.Int32(r.Priority),
			Conditions:  sdkConditions(r.Conditions),
			Actions:     sdkActions(r.Action),
			Transforms:  sdkTransforms(r.Transforms),
			Tags:        deploy.SDKTags(ruleTags),
		})
		if err != nil {
			return fmt.Errorf("create rule %d on %s: %w", r.Priority, listenerARN, err)
		}
	}
	return nil
}

// retag makes the tags of arn want.
func (d *Deployer) retag(ctx context.Context, arn string, want, have map[string]string, res *Result) error {
	set, remove := deploy.DiffTags(want, have)
	if len(set) > 0 {
		res.Changed = true
		if _, err := d.Client.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{arn}, Tags: deploy.SDKTags(set)}); err != nil {
			return fmt.Errorf("tag %s: %w", arn, err)
		}
	}
	if len(remove) > 0 {
		res.Changed = true
		if _, err := d.Client.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: []string{arn}, TagKeys: remove}); err != nil {
			return fmt.Errorf("untag %s: %w", arn, err)
		}
	}
	return nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
