package elbapi

import (
	"context"
	"maps"
	"time"

	"github.com/kelb-io/kelb/internal/elb"
)

// Ops returns the ELBv2 operations of svc, ready for HandlerConfig.Ops. Each
// decodes its Params into the service's typed input (the handler has
// validated ranges, enums and required members against the model already),
// calls the service, and returns a result shaped exactly like the model's
// output shape so that encoding/xml renders it as AWS does.
func Ops(svc *elb.Service) map[string]OpFunc {
	o := &ops{svc: svc}
	m := map[string]OpFunc{
		"CreateLoadBalancer":             o.createLoadBalancer,
		"DescribeLoadBalancers":          o.describeLoadBalancers,
		"DeleteLoadBalancer":             o.deleteLoadBalancer,
		"DescribeLoadBalancerAttributes": o.describeLoadBalancerAttributes,
		"ModifyLoadBalancerAttributes":   o.modifyLoadBalancerAttributes,
		"CreateTargetGroup":              o.createTargetGroup,
		"DescribeTargetGroups":           o.describeTargetGroups,
		"ModifyTargetGroup":              o.modifyTargetGroup,
		"DeleteTargetGroup":              o.deleteTargetGroup,
		"DescribeTargetGroupAttributes":  o.describeTargetGroupAttributes,
		"ModifyTargetGroupAttributes":    o.modifyTargetGroupAttributes,
		"RegisterTargets":                o.registerTargets,
		"DeregisterTargets":              o.deregisterTargets,
		"DescribeTargetHealth":           o.describeTargetHealth,
		"CreateListener":                 o.createListener,
		"DescribeListeners":              o.describeListeners,
		"ModifyListener":                 o.modifyListener,
		"DeleteListener":                 o.deleteListener,
		"DescribeListenerAttributes":     o.describeListenerAttributes,
		"ModifyListenerAttributes":       o.modifyListenerAttributes,
		"AddTags":                        o.addTags,
		"RemoveTags":                     o.removeTags,
		"DescribeTags":                   o.describeTags,
		"CreateRule":                     o.createRule,
		"DescribeRules":                  o.describeRules,
		"ModifyRule":                     o.modifyRule,
		"DeleteRule":                     o.deleteRule,
		"SetRulePriorities":              o.setRulePriorities,
		"DescribeAccountLimits":          o.describeAccountLimits,
		"DescribeSSLPolicies":            o.describeSSLPolicies,
	}
	maps.Copy(m, loadBalancerSetOps(o))
	maps.Copy(m, trustStoreOps(o))
	return m
}

type ops struct {
	svc *elb.Service
}

// iso8601 formats a timestamp as the Query protocol does.
func iso8601(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// decoder reads typed members and keeps the first conversion error, so an
// operation decodes its whole input and checks once.
type decoder struct {
	err error
}

func (d *decoder) int32(p Params, key string) int32 {
	v, _, err := p.Int32(key)
	if err != nil && d.err == nil {
		d.err = err
	}
	return v
}

func (d *decoder) int32Ptr(p Params, key string) *int32 {
	v, ok, err := p.Int32(key)
	if err != nil && d.err == nil {
		d.err = err
	}
	if !ok || err != nil {
		return nil
	}
	return &v
}

func (d *decoder) boolPtr(p Params, key string) *bool {
	v, ok, err := p.Bool(key)
	if err != nil && d.err == nil {
		d.err = err
	}
	if !ok || err != nil {
		return nil
	}
	return &v
}

func (d *decoder) bool(p Params, key string) bool {
	v := d.boolPtr(p, key)
	return v != nil && *v
}

// Tags.

type xTag struct {
	Key   string
	Value string `xml:",omitempty"`
}

func decodeTags(p Params, key string) []elb.Tag {
	var out []elb.Tag
	for _, m := range p.StructList(key) {
		out = append(out, elb.Tag{Key: m.String("Key"), Value: m.String("Value")})
	}
	return out
}

func encodeTags(tags []elb.Tag) List[xTag] {
	out := List[xTag]{}
	for _, t := range tags {
		out = append(out, xTag{Key: t.Key, Value: t.Value})
	}
	return out
}

// Attributes.

type xAttribute struct {
	Key   string
	Value string
}

type attributesResult struct {
	Attributes List[xAttribute]
}

func decodeAttributes(p Params) []elb.Attribute {
	var out []elb.Attribute
	for _, m := range p.StructList("Attributes") {
		out = append(out, elb.Attribute{Key: m.String("Key"), Value: m.String("Value")})
	}
	return out
}

func encodeAttributes(attrs []elb.Attribute) attributesResult {
	out := List[xAttribute]{}
	for _, a := range attrs {
		out = append(out, xAttribute{Key: a.Key, Value: a.Value})
	}
	return attributesResult{Attributes: out}
}

// attributeOp adapts a modify-attributes method of the service.
func attributeOp(arnKey string, fn func(ctx context.Context, arn string, attrs []elb.Attribute) ([]elb.Attribute, error)) OpFunc {
	return func(ctx context.Context, p Params) (any, error) {
		attrs, err := fn(ctx, p.String(arnKey), decodeAttributes(p))
		if err != nil {
			return nil, err
		}
		return encodeAttributes(attrs), nil
	}
}
