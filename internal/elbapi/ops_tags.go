package elbapi

import (
	"context"

	"github.com/kelb-io/kelb/internal/elb"
)

type xTagDescription struct {
	ResourceArn string
	Tags        List[xTag]
}

type tagDescriptionsResult struct {
	TagDescriptions List[xTagDescription]
}

func (o *ops) addTags(ctx context.Context, p Params) (any, error) {
	return nil, o.svc.AddTags(ctx, p.StringList("ResourceArns"), decodeTags(p, "Tags"))
}

func (o *ops) removeTags(ctx context.Context, p Params) (any, error) {
	return nil, o.svc.RemoveTags(ctx, p.StringList("ResourceArns"), p.StringList("TagKeys"))
}

func (o *ops) describeTags(ctx context.Context, p Params) (any, error) {
	descs, err := o.svc.DescribeTags(ctx, p.StringList("ResourceArns"))
	if err != nil {
		return nil, err
	}
	out := tagDescriptionsResult{TagDescriptions: List[xTagDescription]{}}
	for _, d := range descs {
		out.TagDescriptions = append(out.TagDescriptions, xTagDescription{ResourceArn: d.ResourceARN, Tags: encodeTags(d.Tags)})
	}
	return out, nil
}

// Account limits and SSL policies.

type xLimit struct {
	Name string
	Max  string
}

type limitsResult struct {
	Limits     List[xLimit]
	NextMarker string `xml:",omitempty"`
}

func (o *ops) describeAccountLimits(ctx context.Context, p Params) (any, error) {
	limits, err := o.svc.DescribeAccountLimits(ctx)
	if err != nil {
		return nil, err
	}
	page, next, err := Paginate(limits, p, func(l elb.Limit) string { return l.Name })
	if err != nil {
		return nil, err
	}
	out := limitsResult{Limits: List[xLimit]{}, NextMarker: next}
	for _, l := range page {
		out.Limits = append(out.Limits, xLimit{Name: l.Name, Max: l.Max})
	}
	return out, nil
}

type xCipher struct {
	Name     string
	Priority int32
}

type xSSLPolicy struct {
	SslProtocols               List[string]
	Ciphers                    List[xCipher]
	Name                       string
	SupportedLoadBalancerTypes List[string]
}

type sslPoliciesResult struct {
	SslPolicies List[xSSLPolicy]
	NextMarker  string `xml:",omitempty"`
}

func (o *ops) describeSSLPolicies(ctx context.Context, p Params) (any, error) {
	policies, err := o.svc.DescribeSSLPolicies(ctx, p.StringList("Names"), p.String("LoadBalancerType"))
	if err != nil {
		return nil, err
	}
	page, next, err := Paginate(policies, p, func(sp elb.SSLPolicy) string { return sp.Name })
	if err != nil {
		return nil, err
	}
	out := sslPoliciesResult{SslPolicies: List[xSSLPolicy]{}, NextMarker: next}
	for _, sp := range page {
		x := xSSLPolicy{Name: sp.Name, SslProtocols: List[string](sp.Protocols), SupportedLoadBalancerTypes: List[string](sp.SupportedLoadBalancerTypes), Ciphers: List[xCipher]{}}
		for i, c := range sp.Ciphers {
			x.Ciphers = append(x.Ciphers, xCipher{Name: c, Priority: int32(i + 1)})
		}
		out.SslPolicies = append(out.SslPolicies, x)
	}
	return out, nil
}
