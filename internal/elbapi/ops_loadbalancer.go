package elbapi

import (
	"context"

	"github.com/kelb-io/kelb/internal/elb"
)

type xLoadBalancer struct {
	LoadBalancerArn       string
	DNSName               string
	CanonicalHostedZoneId string
	CreatedTime           string
	LoadBalancerName      string
	Scheme                string
	VpcId                 string
	State                 xLoadBalancerState
	Type                  string
	AvailabilityZones     List[xAvailabilityZone]
	SecurityGroups        []string `xml:"SecurityGroups>member"`
	IpAddressType         string
}

type xLoadBalancerState struct {
	Code   string
	Reason string `xml:",omitempty"`
}

type xAvailabilityZone struct {
	ZoneName              string
	SubnetId              string
	LoadBalancerAddresses List[xLoadBalancerAddress]
}

type xLoadBalancerAddress struct {
	IpAddress string
}

type loadBalancersResult struct {
	LoadBalancers List[xLoadBalancer]
	NextMarker    string `xml:",omitempty"`
}

func (o *ops) encodeLoadBalancer(lb elb.LoadBalancer) xLoadBalancer {
	x := xLoadBalancer{
		LoadBalancerArn:       lb.ARN,
		DNSName:               lb.DNSName,
		CanonicalHostedZoneId: o.svc.CanonicalHostedZoneID(lb.Type),
		CreatedTime:           iso8601(lb.CreatedTime),
		LoadBalancerName:      lb.Name,
		Scheme:                lb.Scheme,
		VpcId:                 o.svc.VpcID(),
		State:                 xLoadBalancerState{Code: lb.State},
		Type:                  lb.Type,
		AvailabilityZones:     List[xAvailabilityZone]{},
		SecurityGroups:        lb.SecurityGroups,
		IpAddressType:         lb.IPAddressType,
	}
	for _, z := range lb.Zones {
		x.AvailabilityZones = append(x.AvailabilityZones, xAvailabilityZone{
			ZoneName:              z.Zone,
			SubnetId:              z.SubnetID,
			LoadBalancerAddresses: List[xLoadBalancerAddress]{{IpAddress: z.Address.String()}},
		})
	}
	return x
}

func (o *ops) createLoadBalancer(ctx context.Context, p Params) (any, error) {
	in := elb.CreateLoadBalancerInput{
		Name:           p.String("Name"),
		Type:           p.String("Type"),
		Scheme:         p.String("Scheme"),
		IPAddressType:  p.String("IpAddressType"),
		Subnets:        p.StringList("Subnets"),
		SecurityGroups: p.StringList("SecurityGroups"),
		Tags:           decodeTags(p, "Tags"),
	}
	for _, m := range p.StructList("SubnetMappings") {
		in.SubnetMappings = append(in.SubnetMappings, elb.SubnetMapping{
			SubnetID:           m.String("SubnetId"),
			PrivateIPv4Address: m.String("PrivateIPv4Address"),
		})
	}
	lb, err := o.svc.CreateLoadBalancer(ctx, in)
	if err != nil {
		return nil, err
	}
	return loadBalancersResult{LoadBalancers: List[xLoadBalancer]{o.encodeLoadBalancer(lb)}}, nil
}

func (o *ops) describeLoadBalancers(ctx context.Context, p Params) (any, error) {
	lbs, err := o.svc.DescribeLoadBalancers(ctx, elb.DescribeLoadBalancersInput{
		LoadBalancerARNs: p.StringList("LoadBalancerArns"),
		Names:            p.StringList("Names"),
	})
	if err != nil {
		return nil, err
	}
	page, next, err := Paginate(lbs, p, func(lb elb.LoadBalancer) string { return lb.Name })
	if err != nil {
		return nil, err
	}
	out := loadBalancersResult{LoadBalancers: List[xLoadBalancer]{}, NextMarker: next}
	for _, lb := range page {
		out.LoadBalancers = append(out.LoadBalancers, o.encodeLoadBalancer(lb))
	}
	return out, nil
}

func (o *ops) deleteLoadBalancer(ctx context.Context, p Params) (any, error) {
	return nil, o.svc.DeleteLoadBalancer(ctx, p.String("LoadBalancerArn"))
}

func (o *ops) describeLoadBalancerAttributes(ctx context.Context, p Params) (any, error) {
	attrs, err := o.svc.DescribeLoadBalancerAttributes(ctx, p.String("LoadBalancerArn"))
	if err != nil {
		return nil, err
	}
	return encodeAttributes(attrs), nil
}

func (o *ops) modifyLoadBalancerAttributes(ctx context.Context, p Params) (any, error) {
	return attributeOp("LoadBalancerArn", o.svc.ModifyLoadBalancerAttributes)(ctx, p)
}
