package deploy

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/kelb-io/kelb/internal/controller/model"
)

// DescribedListener is an existing listener as DescribeListeners
// returns it, with its tags and attributes.
type DescribedListener struct {
	ARN        string
	Listener   types.Listener
	Attributes map[string]string
	Tags       map[string]string
}

// FindListeners returns the listeners of load balancer lbARN with their
// tags and attributes.
func FindListeners(ctx context.Context, c ELBv2, lbARN string) ([]DescribedListener, error) {
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
	var out []DescribedListener
	for _, l := range ls {
		arn := aws.ToString(l.ListenerArn)
		a := DescribedListener{ARN: arn, Listener: l, Tags: tags[arn], Attributes: map[string]string{}}
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

// ChangedListenerAttributes is ChangedAttributes, and it clears the source
// ranges attribute when the stack no longer restricts sources.
func ChangedListenerAttributes(want, have map[string]string) map[string]string {
	out := ChangedAttributes(want, have)
	if _, wanted := want[model.ListenerAttributeSourceRanges]; !wanted && have[model.ListenerAttributeSourceRanges] != "" {
		if out == nil {
			out = map[string]string{}
		}
		out[model.ListenerAttributeSourceRanges] = ""
	}
	return out
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

// listenerCertificateARNs are the ARNs of a listener's certificates, the default
// first: Deploy resolves TLS Secrets to ARNs before Diff.
func listenerCertificateARNs(l model.Listener) []string {
	out := make([]string, 0, len(l.Certificates))
	for _, c := range l.Certificates {
		if c.ARN != "" && !slices.Contains(out, c.ARN) {
			out = append(out, c.ARN)
		}
	}
	return out
}

// alpnPolicy is the ALPN policy a TLS listener is given: None for none.
func alpnPolicy(p string) string {
	if p == "" {
		return "None"
	}
	return p
}

// extraCertificates returns the certificates to add to a TLS listener and
// to remove from it so that its certificates besides the default (want[0])
// become want[1:]; have is what it holds, its default first.
func extraCertificates(want, have []string) (add, remove []string) {
	for _, c := range want[1:] {
		if len(have) == 0 || !slices.Contains(have[1:], c) {
			add = append(add, c)
		}
	}
	if len(have) > 1 {
		for _, c := range have[1:] {
			if c != want[0] && !slices.Contains(want[1:], c) {
				remove = append(remove, c)
			}
		}
	}
	return add, remove
}

// secure reports whether a listener of protocol carries certificates.
func secure(protocol string) bool { return protocol == "TLS" || protocol == "HTTPS" }

// diffListener returns the change that makes existing listener have the
// desired want, whose certificates are ARNs (resolve), and whether there is
// one. arns are the ARNs of the target groups the plan keeps, by
// ResourceID; a default action or rule forwarding to another one (which
// the plan creates) differs from what exists. lbType is the load
// balancer's type.
func diffListener(want model.Listener, have ActualListener, arns map[string]string, lbType string) (ListenerChange, bool) {
	change := ListenerChange{
		ARN:  have.ARN,
		Port: want.Port,
		Attributes: resetListenerAttributes(ChangedListenerAttributes(want.Attributes, have.Attributes),
			want.Attributes, have.Attributes, lbType),
		Tags: diffTags(want.Tags, have.Tags),
	}
	action := withARNs(want.DefaultAction, arns)
	wantCerts := listenerCertificateARNs(want)
	var sameAction bool
	if lbType == model.TypeNetwork {
		// A network listener forwards to one target group: its ARN is
		// all that matters, however the server reports the action.
		arn := singleARN(action)
		sameAction = arn != "" && arn == singleARN(have.DefaultAction)
	} else {
		sameAction = SameAction(action, have.DefaultAction)
	}
	defaultCert := func(certs []string) string {
		if len(certs) == 0 {
			return ""
		}
		return certs[0]
	}
	tlsChanged := secure(want.Protocol) && (have.SSLPolicy != want.SSLPolicy || defaultCert(have.Certificates) != defaultCert(wantCerts) ||
		want.Protocol == "TLS" && (alpnPolicy(have.ALPNPolicy) != alpnPolicy(want.ALPNPolicy) || len(wantCerts) == 0))
	mutualAuth := sdkMutualAuthentication(want.MutualAuthentication)
	if have.Protocol != want.Protocol || !sameAction || tlsChanged || mutualAuthenticationDiffers(mutualAuth, have.MutualAuthentication) {
		change.Protocol = want.Protocol
		change.DefaultAction = &action
		change.MutualAuthentication = mutualAuth
		if secure(want.Protocol) && len(wantCerts) > 0 {
			change.SSLPolicy, change.Certificate = want.SSLPolicy, wantCerts[0]
			if want.Protocol == "TLS" {
				change.ALPNPolicy = alpnPolicy(want.ALPNPolicy)
			}
		}
	}
	if secure(want.Protocol) && len(wantCerts) > 0 {
		change.AddCertificates, change.RemoveCertificates = extraCertificates(wantCerts, have.Certificates)
	}
	if lbType != model.TypeNetwork {
		rules := make([]model.Rule, len(want.Rules))
		for i, r := range want.Rules {
			r.Action = withARNs(r.Action, arns)
			rules[i] = r
		}
		change.Rules = PlanRules(rules, have.Rules)
	}
	changed := change.Protocol != "" || len(change.AddCertificates) > 0 || len(change.RemoveCertificates) > 0 ||
		len(change.Attributes) > 0 || !change.Tags.Empty() || !change.Rules.Empty()
	return change, changed
}

// withARNs returns a with the stack's target groups it forwards to given
// by their ARNs in arns; those arns lacks keep their ResourceID.
func withARNs(a model.Action, arns map[string]string) model.Action {
	if a.Forward == nil {
		return a
	}
	f := *a.Forward
	f.TargetGroups = slices.Clone(f.TargetGroups)
	for i := range f.TargetGroups {
		wt := &f.TargetGroups[i]
		if arn, ok := arns[wt.TargetGroup]; ok && wt.TargetGroup != "" {
			wt.ARN, wt.TargetGroup = arn, ""
		}
	}
	a.Forward = &f
	return a
}

// finalAction is a with every target group it forwards to given by ARN,
// for the API; a target group of the stack arns lacks is an error.
func finalAction(a model.Action, arns map[string]string) (model.Action, error) {
	a = withARNs(a, arns)
	if a.Forward != nil {
		for _, wt := range a.Forward.TargetGroups {
			if wt.TargetGroup != "" {
				return a, fmt.Errorf("no target group %s in the stack", wt.TargetGroup)
			}
		}
	}
	return a, nil
}

// singleARN is the ARN of the one target group a forward action sends
// to, "" for any other action.
func singleARN(a model.Action) string {
	if a.Type != model.ActionForward || a.Forward == nil || len(a.Forward.TargetGroups) != 1 {
		return ""
	}
	return a.Forward.TargetGroups[0].ARN
}

// createListener creates listener l on load balancer lbARN of type lbType,
// with its attributes, certificates besides the default and rules; arns
// are the ARNs of the stack's target groups.
func (d *Deployer) createListener(ctx context.Context, lbARN, lbType string, l model.Listener, arns map[string]string) error {
	action, err := finalAction(l.DefaultAction, arns)
	if err != nil {
		return fmt.Errorf("listener %d: %w", l.Port, err)
	}
	in := &elbv2.CreateListenerInput{
		LoadBalancerArn:      &lbARN,
		Port:                 aws.Int32(l.Port),
		Protocol:             types.ProtocolEnum(l.Protocol),
		SslPolicy:            optional(l.SSLPolicy),
		DefaultActions:       sdkActions(action, lbType),
		Tags:                 SDKTags(l.Tags),
		MutualAuthentication: sdkMutualAuthentication(l.MutualAuthentication),
	}
	certs := listenerCertificateARNs(l)
	if secure(l.Protocol) && len(certs) > 0 {
		in.Certificates = []types.Certificate{{CertificateArn: aws.String(certs[0])}}
		if l.Protocol == "TLS" {
			in.AlpnPolicy = []string{alpnPolicy(l.ALPNPolicy)}
		}
	}
	out, err := d.Client.CreateListener(ctx, in)
	if err != nil {
		return fmt.Errorf("create listener %d on %s: %w", l.Port, lbARN, err)
	}
	if len(out.Listeners) != 1 {
		return fmt.Errorf("create listener %d on %s: %d listeners in the reply", l.Port, lbARN, len(out.Listeners))
	}
	arn := aws.ToString(out.Listeners[0].ListenerArn)
	if len(l.Attributes) > 0 {
		if err := SetListenerAttributes(ctx, d.Client, arn, l.Attributes); err != nil {
			return err
		}
	}
	if len(certs) > 1 {
		if err := d.changeCertificates(ctx, arn, certs[1:], nil); err != nil {
			return err
		}
	}
	return d.applyRules(ctx, arn, RulePlan{Create: l.Rules}, l.Tags, arns)
}

// modifyListener runs change c on an existing listener of a load balancer
// of type lbType; tags are the listener's desired tags, arns the ARNs of
// the stack's target groups.
func (d *Deployer) modifyListener(ctx context.Context, lbType string, c ListenerChange, tags, arns map[string]string) error {
	if c.Protocol != "" {
		action, err := finalAction(*c.DefaultAction, arns)
		if err != nil {
			return fmt.Errorf("listener %d: %w", c.Port, err)
		}
		in := &elbv2.ModifyListenerInput{
			ListenerArn:          &c.ARN,
			Protocol:             types.ProtocolEnum(c.Protocol),
			DefaultActions:       sdkActions(action, lbType),
			SslPolicy:            optional(c.SSLPolicy),
			MutualAuthentication: c.MutualAuthentication,
		}
		if c.Certificate != "" {
			in.Certificates = []types.Certificate{{CertificateArn: aws.String(c.Certificate)}}
		}
		if c.ALPNPolicy != "" {
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
		if err := SetListenerAttributes(ctx, d.Client, c.ARN, c.Attributes); err != nil {
			return err
		}
	}
	if err := d.retag(ctx, c.ARN, c.Tags); err != nil {
		return err
	}
	return d.applyRules(ctx, c.ARN, c.Rules, tags, arns)
}
