package deploy

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/kelb-io/kelb/internal/controller/certificates"
	"github.com/kelb-io/kelb/internal/controller/model"
)

// OIDCSecrets reads the client id and secret of an authenticate-oidc
// action's Kubernetes Secret ("<namespace>/<name>").
type OIDCSecrets interface {
	OIDCClient(ctx context.Context, namespacedName string) (id, secret string, err error)
}

// resolve returns a copy of st in which what the stack names outside
// itself is resolved, so that Diff compares like with like: listener
// certificates become ARNs (TLS Secrets imported, certificates discovered
// or requested), target groups named by name become ARNs, authenticate-oidc
// actions get their client id and secret, trust stores named by name
// become ARNs. It also returns the ARNs of the certificates requested for
// the stack. Nothing the stack's load balancer serves is written: a name
// that resolves to nothing fails the deploy before any change. st itself
// is not changed.
func (d *Deployer) resolve(ctx context.Context, st *model.Stack) (*model.Stack, map[string]bool, error) {
	out := *st
	out.Listeners = slices.Clone(st.Listeners)
	named, err := d.namedTargetGroups(ctx, st)
	if err != nil {
		return nil, nil, err
	}
	requested := map[string]bool{}
	for i := range out.Listeners {
		l := &out.Listeners[i]
		if len(l.Certificates) > 0 {
			arns, err := d.certificateARNs(ctx, st.ID, *l, requested)
			if err != nil {
				return nil, nil, err
			}
			l.Certificates = make([]model.Certificate, len(arns))
			for j, arn := range arns {
				l.Certificates[j] = model.Certificate{ARN: arn}
			}
		}
		if l.DefaultAction, err = d.resolveAction(ctx, l.DefaultAction, named); err != nil {
			return nil, nil, err
		}
		if len(l.Rules) > 0 {
			l.Rules = slices.Clone(l.Rules)
			for j := range l.Rules {
				if l.Rules[j].Action, err = d.resolveAction(ctx, l.Rules[j].Action, named); err != nil {
					return nil, nil, err
				}
			}
		}
		if m := l.MutualAuthentication; m != nil {
			arn, err := d.trustStoreARN(ctx, m)
			if err != nil {
				return nil, nil, err
			}
			resolved := *m
			resolved.TrustStore = arn
			l.MutualAuthentication = &resolved
		}
	}
	return &out, requested, nil
}

// resolveAction gives a's target groups named by name their ARNs and an
// authenticate-oidc action its client id and secret.
func (d *Deployer) resolveAction(ctx context.Context, a model.Action, named map[string]string) (model.Action, error) {
	if f := a.Forward; f != nil && slices.ContainsFunc(f.TargetGroups, func(wt model.WeightedTargetGroup) bool { return wt.Name != "" }) {
		n := *f
		n.TargetGroups = slices.Clone(f.TargetGroups)
		for i := range n.TargetGroups {
			if wt := &n.TargetGroups[i]; wt.Name != "" {
				wt.ARN, wt.Name = named[wt.Name], ""
			}
		}
		a.Forward = &n
	}
	if a.Authenticate == nil || a.Authenticate.OIDC == nil {
		return a, nil
	}
	if d.OIDCSecrets == nil {
		return a, fmt.Errorf("authenticate-oidc: no Secret reader configured for %s", a.Authenticate.OIDC.Secret)
	}
	id, secret, err := d.OIDCSecrets.OIDCClient(ctx, a.Authenticate.OIDC.Secret)
	if err != nil {
		return a, err
	}
	auth := *a.Authenticate
	o := *auth.OIDC
	o.ClientID, o.ClientSecret = id, secret
	auth.OIDC = &o
	a.Authenticate = &auth
	return a, nil
}

// namedTargetGroups resolves the target groups the stack's forward
// actions name (by Name) to their ARNs with DescribeTargetGroups. A name
// no target group has fails the deploy before anything changes.
func (d *Deployer) namedTargetGroups(ctx context.Context, st *model.Stack) (map[string]string, error) {
	var names []string
	collect := func(a model.Action) {
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
			return nil, fmt.Errorf("target group %q named by %s: %w", name, d.Frontend.TargetGroupNamesFrom, err)
		}
		if len(page.TargetGroups) != 1 {
			return nil, fmt.Errorf("target group %q named by %s: %d found", name, d.Frontend.TargetGroupNamesFrom, len(page.TargetGroups))
		}
		out[name] = aws.ToString(page.TargetGroups[0].TargetGroupArn)
	}
	return out, nil
}

// certificateARNs resolves the certificates of listener l of stack
// stackID to ARNs, in order, without duplicates, and adds those it
// requested to requested.
func (d *Deployer) certificateARNs(ctx context.Context, stackID string, l model.Listener, requested map[string]bool) ([]string, error) {
	var arns []string
	add := func(arn string) {
		if !slices.Contains(arns, arn) {
			arns = append(arns, arn)
		}
	}
	for _, c := range l.Certificates {
		switch {
		case c.ARN != "":
			add(c.ARN)
		case c.Secret != "":
			if d.Certificates == nil {
				return nil, fmt.Errorf("listener %d: TLS Secret %s cannot be used: no certificate store configured", l.Port, c.Secret)
			}
			arn, err := d.Certificates.Resolve(ctx, c.Secret)
			if err != nil {
				return nil, fmt.Errorf("listener %d: certificate from TLS Secret %s: %w", l.Port, c.Secret, err)
			}
			add(arn)
		case d.ACM == nil:
			return nil, fmt.Errorf("listener %d: certificates cannot be discovered or requested: no certificate store configured", l.Port)
		case c.Discover != nil:
			found, err := (&certificates.Discovery{ACM: d.ACM}).Discover(ctx, c.Discover, []string{model.TagCluster, d.Frontend.StackTag})
			if err != nil {
				return nil, fmt.Errorf("listener %d: certificate discovery: %w", l.Port, err)
			}
			for _, arn := range found {
				add(arn)
			}
		case c.Request != nil:
			arn, err := (&certificates.Requested{ACM: d.ACM}).Ensure(ctx, certificates.Request{
				DomainName: c.Request.DomainName, SubjectAlternativeNames: c.Request.SubjectAlternativeNames, Tags: c.Request.Tags,
			}, d.requestIdentity(stackID, c.Request.ResourceID))
			if err != nil {
				return nil, fmt.Errorf("listener %d: %s: %w", l.Port, d.Frontend.CertificateRequestFrom, err)
			}
			requested[arn] = true
			add(arn)
		}
	}
	return arns, nil
}

// requestIdentity is the tags that find the certificate requested for
// resource of stack again.
func (d *Deployer) requestIdentity(stack, resource string) map[string]string {
	tags := d.stackTags(stack)
	tags[d.Frontend.ResourceTag] = resource
	return tags
}

func (d *Deployer) stackTags(stack string) map[string]string {
	tags := map[string]string{d.Frontend.StackTag: stack}
	if d.ClusterName != "" {
		tags[model.TagCluster] = d.ClusterName
	}
	return tags
}

// releaseRequested deletes the certificates requested for stack that keep
// does not hold (nil: all of them, the stack is gone).
func (d *Deployer) releaseRequested(ctx context.Context, stack string, keep map[string]bool) error {
	if d.ACM == nil {
		return nil
	}
	if err := (&certificates.Requested{ACM: d.ACM}).Release(ctx, d.stackTags(stack), keep); err != nil {
		return fmt.Errorf("release certificates requested for %s: %w", stack, err)
	}
	return nil
}
