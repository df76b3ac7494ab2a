package elbapi

import (
	"cmp"
	"context"

	"github.com/kelb-io/kelb/internal/elb"
)

// loadBalancerSetOps are the operations that change a load balancer's
// zones, address type and security groups, and those that answer for AWS
// features kelb does not have (capacity reservations, IPAM pools, resource
// policies); see package elb's capacity.go for what they promise.
func loadBalancerSetOps(o *ops) map[string]OpFunc {
	return map[string]OpFunc{
		"SetSubnets":                  o.setSubnets,
		"SetIpAddressType":            o.setIPAddressType,
		"SetSecurityGroups":           o.setSecurityGroups,
		"DescribeCapacityReservation": o.describeCapacityReservation,
		"ModifyCapacityReservation":   o.modifyCapacityReservation,
		"ModifyIpPools":               o.modifyIPPools,
		"GetResourcePolicy":           o.getResourcePolicy,
	}
}

type setSubnetsResult struct {
	AvailabilityZones            List[xAvailabilityZone]
	IpAddressType                string
	EnablePrefixForIpv6SourceNat string `xml:",omitempty"`
}

func (o *ops) setSubnets(ctx context.Context, p Params) (any, error) {
	lb, err := o.svc.SetSubnets(ctx, elb.SetSubnetsInput{
		LoadBalancerARN:              p.String("LoadBalancerArn"),
		Subnets:                      p.StringList("Subnets"),
		SubnetMappings:               decodeSubnetMappings(p),
		IPAddressType:                p.String("IpAddressType"),
		EnablePrefixForIpv6SourceNat: p.String("EnablePrefixForIpv6SourceNat"),
	})
	if err != nil {
		return nil, err
	}
	out := setSubnetsResult{AvailabilityZones: encodeZones(lb), IpAddressType: lb.IPAddressType}
	if lb.Type == elb.TypeNetwork {
		out.EnablePrefixForIpv6SourceNat = cmp.Or(lb.EnablePrefixForIPv6SourceNat, elb.Off)
	}
	return out, nil
}

type setIPAddressTypeResult struct {
	IpAddressType string
}

func (o *ops) setIPAddressType(ctx context.Context, p Params) (any, error) {
	t, err := o.svc.SetIPAddressType(ctx, p.String("LoadBalancerArn"), p.String("IpAddressType"))
	if err != nil {
		return nil, err
	}
	return setIPAddressTypeResult{IpAddressType: t}, nil
}

type setSecurityGroupsResult struct {
	SecurityGroupIds                                     List[string]
	EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic string `xml:",omitempty"`
}

func (o *ops) setSecurityGroups(ctx context.Context, p Params) (any, error) {
	lb, err := o.svc.SetSecurityGroups(ctx, elb.SetSecurityGroupsInput{
		LoadBalancerARN:           p.String("LoadBalancerArn"),
		SecurityGroups:            p.StringList("SecurityGroups"),
		EnforcePrivateLinkInbound: p.String("EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"),
	})
	if err != nil {
		return nil, err
	}
	return setSecurityGroupsResult{
		SecurityGroupIds: List[string](lb.SecurityGroups),
		EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic: lb.EnforcePrivateLinkInbound,
	}, nil
}

// capacityReservationResult is the output of both capacity operations:
// no reservation, so no LastModifiedTime, minimum or zonal state.
type capacityReservationResult struct {
	DecreaseRequestsRemaining int32
	CapacityReservationState  List[struct{}]
}

func (o *ops) describeCapacityReservation(ctx context.Context, p Params) (any, error) {
	r, err := o.svc.DescribeCapacityReservation(ctx, p.String("LoadBalancerArn"))
	if err != nil {
		return nil, err
	}
	return capacityReservationResult{DecreaseRequestsRemaining: r.DecreaseRequestsRemaining}, nil
}

func (o *ops) modifyCapacityReservation(ctx context.Context, p Params) (any, error) {
	var d decoder
	in := elb.ModifyCapacityReservationInput{
		LoadBalancerARN: p.String("LoadBalancerArn"),
		Reset:           d.bool(p, "ResetCapacityReservation"),
	}
	if m, ok := p.Struct("MinimumLoadBalancerCapacity"); ok {
		in.MinimumCapacityUnits = d.int32Ptr(m, "CapacityUnits")
		if in.MinimumCapacityUnits == nil && d.err == nil {
			in.MinimumCapacityUnits = new(int32)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	r, err := o.svc.ModifyCapacityReservation(ctx, in)
	if err != nil {
		return nil, err
	}
	return capacityReservationResult{DecreaseRequestsRemaining: r.DecreaseRequestsRemaining}, nil
}

type modifyIPPoolsResult struct{}

func (o *ops) modifyIPPools(ctx context.Context, p Params) (any, error) {
	in := elb.IpamPoolsInput{
		LoadBalancerARN: p.String("LoadBalancerArn"),
		Remove:          p.StringList("RemoveIpamPools"),
	}
	if m, ok := p.Struct("IpamPools"); ok {
		in.IPv4Pool = m.String("Ipv4IpamPoolId")
	}
	if err := o.svc.ModifyIpPools(ctx, in); err != nil {
		return nil, err
	}
	return modifyIPPoolsResult{}, nil
}

func (o *ops) getResourcePolicy(ctx context.Context, p Params) (any, error) {
	_, err := o.svc.GetResourcePolicy(ctx, p.String("ResourceArn"))
	return nil, err
}
