package elbapi

import (
	"cmp"
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
	// EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic and
	// EnablePrefixForIpv6SourceNat are NLB fields, as AWS reports them.
	EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic string `xml:",omitempty"`
	EnablePrefixForIpv6SourceNat                         string `xml:",omitempty"`
}

type xLoadBalancerState struct {
	Code   string
	Reason string `xml:",omitempty"`
}

type xAvailabilityZone struct {
	ZoneName              string
	SubnetId              string
	LoadBalancerAddresses List[xLoadBalancerAddress]
	// SourceNatIpv6Prefixes are a dualstack NLB's source NAT prefixes,
	// with EnablePrefixForIpv6SourceNat on.
	SourceNatIpv6Prefixes List[string] `xml:",omitempty"`
}

type xLoadBalancerAddress struct {
	IpAddress string
	// PrivateIPv4Address is the address of an internal load balancer's
	// zone, reported as AWS reports an internal NLB's.
	PrivateIPv4Address string `xml:",omitempty"`
	// IPv6Address is a dualstack load balancer's IPv6 address in the zone.
	IPv6Address string `xml:",omitempty"`
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
	x.AvailabilityZones = encodeZones(lb)
	if lb.Type == elb.TypeNetwork {
		x.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic = lb.EnforcePrivateLinkInbound
		x.EnablePrefixForIpv6SourceNat = cmp.Or(lb.EnablePrefixForIPv6SourceNat, elb.Off)
	}
	return x
}

func encodeZones(lb elb.LoadBalancer) List[xAvailabilityZone] {
	out := List[xAvailabilityZone]{}
	for _, z := range lb.Zones {
		a := xLoadBalancerAddress{IpAddress: z.Address.String()}
		if lb.Scheme == elb.SchemeInternal && lb.Type == elb.TypeNetwork {
			a.PrivateIPv4Address = a.IpAddress
		}
		if z.IPv6Address.IsValid() {
			a.IPv6Address = z.IPv6Address.String()
		}
		x := xAvailabilityZone{
			ZoneName:              z.Zone,
			SubnetId:              z.SubnetID,
			LoadBalancerAddresses: List[xLoadBalancerAddress]{a},
		}
		if z.SourceNatIPv6Prefix != "" {
			x.SourceNatIpv6Prefixes = List[string]{z.SourceNatIPv6Prefix}
		}
		out = append(out, x)
	}
	return out
}

func decodeSubnetMappings(p Params) []elb.SubnetMapping {
	var out []elb.SubnetMapping
	for _, m := range p.StructList("SubnetMappings") {
		out = append(out, elb.SubnetMapping{
			SubnetID:            m.String("SubnetId"),
			PrivateIPv4Address:  m.String("PrivateIPv4Address"),
			AllocationID:        m.String("AllocationId"),
			IPv6Address:         m.String("IPv6Address"),
			SourceNatIPv6Prefix: m.String("SourceNatIpv6Prefix"),
		})
	}
	return out
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
		SubnetMappings: decodeSubnetMappings(p),

		EnablePrefixForIpv6SourceNat: p.String("EnablePrefixForIpv6SourceNat"),
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
