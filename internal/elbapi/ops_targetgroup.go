package elbapi

import (
	"context"

	"github.com/kelb-io/kelb/internal/elb"
)

type xTargetGroup struct {
	TargetGroupArn             string
	TargetGroupName            string
	Protocol                   string
	Port                       int32
	VpcId                      string
	HealthCheckProtocol        string
	HealthCheckPort            string
	HealthCheckEnabled         bool
	HealthCheckIntervalSeconds int32
	HealthCheckTimeoutSeconds  int32
	HealthyThresholdCount      int32
	UnhealthyThresholdCount    int32
	HealthCheckPath            string    `xml:",omitempty"`
	Matcher                    *xMatcher `xml:",omitempty"`
	LoadBalancerArns           List[string]
	TargetType                 string
	ProtocolVersion            string `xml:",omitempty"`
	IpAddressType              string
}

type xMatcher struct {
	HttpCode string `xml:",omitempty"`
	GrpcCode string `xml:",omitempty"`
}

type targetGroupsResult struct {
	TargetGroups List[xTargetGroup]
	NextMarker   string `xml:",omitempty"`
}

func encodeTargetGroup(tg elb.TargetGroupDescription) xTargetGroup {
	hc := tg.HealthCheck
	x := xTargetGroup{
		TargetGroupArn:             tg.ARN,
		TargetGroupName:            tg.Name,
		Protocol:                   tg.Protocol,
		Port:                       tg.Port,
		VpcId:                      tg.VpcID,
		HealthCheckProtocol:        hc.Protocol,
		HealthCheckPort:            hc.Port,
		HealthCheckEnabled:         hc.Enabled,
		HealthCheckIntervalSeconds: hc.IntervalSeconds,
		HealthCheckTimeoutSeconds:  hc.TimeoutSeconds,
		HealthyThresholdCount:      hc.HealthyThreshold,
		UnhealthyThresholdCount:    hc.UnhealthyThreshold,
		HealthCheckPath:            hc.Path,
		LoadBalancerArns:           List[string](tg.LoadBalancerARNs),
		TargetType:                 tg.TargetType,
		ProtocolVersion:            tg.ProtocolVersion,
		IpAddressType:              tg.IPAddressType,
	}
	if hc.Matcher != (elb.Matcher{}) {
		x.Matcher = &xMatcher{HttpCode: hc.Matcher.HTTPCode, GrpcCode: hc.Matcher.GrpcCode}
	}
	return x
}

func decodeHealthCheck(d *decoder, p Params) elb.HealthCheckInput {
	in := elb.HealthCheckInput{
		Protocol:           p.String("HealthCheckProtocol"),
		Port:               p.String("HealthCheckPort"),
		Path:               p.String("HealthCheckPath"),
		Enabled:            d.boolPtr(p, "HealthCheckEnabled"),
		IntervalSeconds:    d.int32Ptr(p, "HealthCheckIntervalSeconds"),
		TimeoutSeconds:     d.int32Ptr(p, "HealthCheckTimeoutSeconds"),
		HealthyThreshold:   d.int32Ptr(p, "HealthyThresholdCount"),
		UnhealthyThreshold: d.int32Ptr(p, "UnhealthyThresholdCount"),
	}
	if m, ok := p.Struct("Matcher"); ok {
		in.Matcher = &elb.Matcher{HTTPCode: m.String("HttpCode"), GrpcCode: m.String("GrpcCode")}
	}
	return in
}

func (o *ops) createTargetGroup(ctx context.Context, p Params) (any, error) {
	var d decoder
	in := elb.CreateTargetGroupInput{
		Name:            p.String("Name"),
		Protocol:        p.String("Protocol"),
		ProtocolVersion: p.String("ProtocolVersion"),
		Port:            d.int32(p, "Port"),
		VpcID:           p.String("VpcId"),
		TargetType:      p.String("TargetType"),
		IPAddressType:   p.String("IpAddressType"),
		HealthCheck:     decodeHealthCheck(&d, p),
		Tags:            decodeTags(p, "Tags"),
	}
	if d.err != nil {
		return nil, d.err
	}
	tg, err := o.svc.CreateTargetGroup(ctx, in)
	if err != nil {
		return nil, err
	}
	return targetGroupsResult{TargetGroups: List[xTargetGroup]{encodeTargetGroup(elb.TargetGroupDescription{TargetGroup: tg})}}, nil
}

func (o *ops) describeTargetGroups(ctx context.Context, p Params) (any, error) {
	tgs, err := o.svc.DescribeTargetGroups(ctx, elb.DescribeTargetGroupsInput{
		LoadBalancerARN: p.String("LoadBalancerArn"),
		TargetGroupARNs: p.StringList("TargetGroupArns"),
		Names:           p.StringList("Names"),
	})
	if err != nil {
		return nil, err
	}
	page, next, err := Paginate(tgs, p, func(tg elb.TargetGroupDescription) string { return tg.Name })
	if err != nil {
		return nil, err
	}
	out := targetGroupsResult{TargetGroups: List[xTargetGroup]{}, NextMarker: next}
	for _, tg := range page {
		out.TargetGroups = append(out.TargetGroups, encodeTargetGroup(tg))
	}
	return out, nil
}

func (o *ops) modifyTargetGroup(ctx context.Context, p Params) (any, error) {
	var d decoder
	in := decodeHealthCheck(&d, p)
	if d.err != nil {
		return nil, d.err
	}
	tg, err := o.svc.ModifyTargetGroup(ctx, p.String("TargetGroupArn"), in)
	if err != nil {
		return nil, err
	}
	return targetGroupsResult{TargetGroups: List[xTargetGroup]{encodeTargetGroup(tg)}}, nil
}

func (o *ops) deleteTargetGroup(ctx context.Context, p Params) (any, error) {
	return nil, o.svc.DeleteTargetGroup(ctx, p.String("TargetGroupArn"))
}

func (o *ops) describeTargetGroupAttributes(ctx context.Context, p Params) (any, error) {
	attrs, err := o.svc.DescribeTargetGroupAttributes(ctx, p.String("TargetGroupArn"))
	if err != nil {
		return nil, err
	}
	return encodeAttributes(attrs), nil
}

func (o *ops) modifyTargetGroupAttributes(ctx context.Context, p Params) (any, error) {
	return attributeOp("TargetGroupArn", o.svc.ModifyTargetGroupAttributes)(ctx, p)
}

// Targets.

type xTargetDescription struct {
	Id               string
	Port             int32  `xml:",omitempty"`
	AvailabilityZone string `xml:",omitempty"`
}

type xTargetHealth struct {
	State       string
	Reason      string `xml:",omitempty"`
	Description string `xml:",omitempty"`
}

type xTargetHealthDescription struct {
	Target          xTargetDescription
	HealthCheckPort string `xml:",omitempty"`
	TargetHealth    xTargetHealth
}

type targetHealthResult struct {
	TargetHealthDescriptions List[xTargetHealthDescription]
}

func decodeTargets(d *decoder, p Params) []elb.TargetDescription {
	var out []elb.TargetDescription
	for _, m := range p.StructList("Targets") {
		out = append(out, elb.TargetDescription{
			ID:               m.String("Id"),
			Port:             d.int32(m, "Port"),
			AvailabilityZone: m.String("AvailabilityZone"),
		})
	}
	return out
}

func (o *ops) registerTargets(ctx context.Context, p Params) (any, error) {
	var d decoder
	targets := decodeTargets(&d, p)
	if d.err != nil {
		return nil, d.err
	}
	return nil, o.svc.RegisterTargets(ctx, p.String("TargetGroupArn"), targets)
}

func (o *ops) deregisterTargets(ctx context.Context, p Params) (any, error) {
	var d decoder
	targets := decodeTargets(&d, p)
	if d.err != nil {
		return nil, d.err
	}
	return nil, o.svc.DeregisterTargets(ctx, p.String("TargetGroupArn"), targets)
}

func (o *ops) describeTargetHealth(ctx context.Context, p Params) (any, error) {
	var d decoder
	targets := decodeTargets(&d, p)
	if d.err != nil {
		return nil, d.err
	}
	descs, err := o.svc.DescribeTargetHealth(ctx, p.String("TargetGroupArn"), targets)
	if err != nil {
		return nil, err
	}
	out := targetHealthResult{TargetHealthDescriptions: List[xTargetHealthDescription]{}}
	for _, h := range descs {
		out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, xTargetHealthDescription{
			Target: xTargetDescription{
				Id:               h.Target.ID,
				Port:             h.Target.Port,
				AvailabilityZone: h.Target.AvailabilityZone,
			},
			HealthCheckPort: h.HealthCheckPort,
			TargetHealth: xTargetHealth{
				State:       h.TargetHealth.State,
				Reason:      h.TargetHealth.Reason,
				Description: h.TargetHealth.Description,
			},
		})
	}
	return out, nil
}
