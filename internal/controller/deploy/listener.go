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
