package elbapi

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/secgroup"
)

func zoneAddrs(zones []types.AvailabilityZone) map[string]string {
	out := map[string]string{}
	for _, z := range zones {
		for _, a := range z.LoadBalancerAddresses {
			out[aws.ToString(z.SubnetId)] = aws.ToString(a.IpAddress)
		}
	}
	return out
}

func TestSetSubnets(t *testing.T) {
	srv := startELB(t)
	c := srv.client(t)
	ctx := t.Context()
	for i, typ := range []types.LoadBalancerTypeEnum{types.LoadBalancerTypeEnumNetwork, types.LoadBalancerTypeEnumApplication} {
		t.Run(string(typ), func(t *testing.T) {
			wantAddr := fmt.Sprintf("198.19.1.%d", 77+i)
			lb := must(c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
				Name: aws.String("sub-" + string(typ)), Type: typ, Subnets: []string{"subnet-0a"},
			}))(t).LoadBalancers[0]
			arn := lb.LoadBalancerArn
			first := zoneAddrs(lb.AvailabilityZones)
			if len(first) != 1 {
				t.Fatalf("created with zones %v", first)
			}

			// Adding a zone keeps the first zone's address.
			out := must(c.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: arn, Subnets: []string{"subnet-0a", "subnet-0c"}}))(t)
			added := zoneAddrs(out.AvailabilityZones)
			if len(added) != 2 || added["subnet-0a"] != first["subnet-0a"] || added["subnet-0c"] == "" {
				t.Fatalf("after adding subnet-0c: %v (first %v)", added, first)
			}
			if out.IpAddressType != types.IpAddressTypeIpv4 {
				t.Errorf("IpAddressType = %q", out.IpAddressType)
			}
			wantPrefix := ""
			if typ == types.LoadBalancerTypeEnumNetwork {
				wantPrefix = "off"
			}
			if string(out.EnablePrefixForIpv6SourceNat) != wantPrefix {
				t.Errorf("EnablePrefixForIpv6SourceNat = %q, want %q", out.EnablePrefixForIpv6SourceNat, wantPrefix)
			}
			desc := must(c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{*arn}}))(t).LoadBalancers[0]
			if diff := cmp.Diff(added, zoneAddrs(desc.AvailabilityZones)); diff != "" {
				t.Errorf("described zones differ from SetSubnets' answer (-set +described):\n%s", diff)
			}

			// Removing the first zone releases its address and keeps the
			// second's.
			out = must(c.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: arn, Subnets: []string{"subnet-0c"}}))(t)
			if got := zoneAddrs(out.AvailabilityZones); len(got) != 1 || got["subnet-0c"] != added["subnet-0c"] {
				t.Fatalf("after removing subnet-0a: %v", got)
			}
			snap, err := srv.svc.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range snap.LoadBalancers {
				if l.ARN == *arn && (len(l.Zones) != 1 || l.Zones[0].SubnetID != "subnet-0c") {
					t.Errorf("stored zones = %+v", l.Zones)
				}
			}

			// Bad requests change nothing.
			_, err = c.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: arn, Subnets: []string{"subnet-nope"}})
			wantAPIError(t, err, "SubnetNotFound")
			_, err = c.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: arn})
			wantAPIError(t, err, "ValidationError")
			_, err = c.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: arn, Subnets: []string{"subnet-0a", "subnet-0c"}, IpAddressType: types.IpAddressTypeDualstack})
			wantAPIError(t, err, "InvalidSubnet")
			_, err = c.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: arn, SubnetMappings: []types.SubnetMapping{
				{SubnetId: aws.String("subnet-0c"), PrivateIPv4Address: aws.String("198.19.3.200")}}})
			wantAPIError(t, err, "InvalidConfigurationRequest")
			_, err = c.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: arn, SubnetMappings: []types.SubnetMapping{
				{SubnetId: aws.String("subnet-0a"), AllocationId: aws.String("eipalloc-0123")}}})
			wantAPIError(t, err, "AllocationIdNotFound")
			_, err = c.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: aws.String(*arn + "0"), Subnets: []string{"subnet-0a"}})
			wantAPIError(t, err, "LoadBalancerNotFound")
			desc = must(c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{*arn}}))(t).LoadBalancers[0]
			if got := zoneAddrs(desc.AvailabilityZones); len(got) != 1 || got["subnet-0c"] != added["subnet-0c"] {
				t.Errorf("a refused SetSubnets changed the zones: %v", got)
			}

			// A requested address for a new zone is honoured.
			out = must(c.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: arn, SubnetMappings: []types.SubnetMapping{
				{SubnetId: aws.String("subnet-0a"), PrivateIPv4Address: aws.String(wantAddr)},
				{SubnetId: aws.String("subnet-0c")}}}))(t)
			if got := zoneAddrs(out.AvailabilityZones); got["subnet-0a"] != wantAddr || got["subnet-0c"] != added["subnet-0c"] {
				t.Errorf("with mappings: %v", got)
			}
		})
	}
}

func TestSetIPAddressType(t *testing.T) {
	srv := startELB(t)
	c := srv.client(t)
	ctx := t.Context()
	nlb := must(c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("ipt-nlb"), Type: types.LoadBalancerTypeEnumNetwork}))(t).LoadBalancers[0]
	alb := must(c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("ipt-alb"), Scheme: types.LoadBalancerSchemeEnumInternal}))(t).LoadBalancers[0]

	out := must(c.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: nlb.LoadBalancerArn, IpAddressType: types.IpAddressTypeIpv4}))(t)
	if out.IpAddressType != types.IpAddressTypeIpv4 {
		t.Errorf("IpAddressType = %q", out.IpAddressType)
	}
	_, err := c.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: nlb.LoadBalancerArn, IpAddressType: types.IpAddressTypeDualstack})
	wantAPIError(t, err, "InvalidSubnet")
	_, err = c.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: nlb.LoadBalancerArn, IpAddressType: types.IpAddressTypeDualstackWithoutPublicIpv4})
	wantAPIError(t, err, "ValidationError")
	_, err = c.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: alb.LoadBalancerArn, IpAddressType: types.IpAddressTypeDualstackWithoutPublicIpv4})
	wantAPIError(t, err, "ValidationError") // internal
	_, err = c.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: alb.LoadBalancerArn, IpAddressType: types.IpAddressTypeDualstack})
	wantAPIError(t, err, "InvalidSubnet")
	_, err = c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("ipt-dual"), IpAddressType: types.IpAddressTypeDualstack})
	wantAPIError(t, err, "InvalidSubnet")
	_, err = c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("ipt-snat"), Type: types.LoadBalancerTypeEnumNetwork,
		EnablePrefixForIpv6SourceNat: types.EnablePrefixForIpv6SourceNatEnumOn})
	wantAPIError(t, err, "InvalidConfigurationRequest")
	_, err = c.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: aws.String(*nlb.LoadBalancerArn + "0"), IpAddressType: types.IpAddressTypeIpv4})
	wantAPIError(t, err, "LoadBalancerNotFound")
	for _, lb := range must(c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{}))(t).LoadBalancers {
		if lb.IpAddressType != types.IpAddressTypeIpv4 {
			t.Errorf("%s: IpAddressType %q after refused changes", aws.ToString(lb.LoadBalancerName), lb.IpAddressType)
		}
	}
}

func TestSetSecurityGroups(t *testing.T) {
	srv := startELB(t)
	c := srv.client(t)
	ctx := t.Context()
	// The groups exist, as AWS requires: kelb's EC2 side keeps them.
	sgs := secgroup.New(secgroup.Config{Store: srv.store, VpcID: elb.DefaultVpcID})
	var g []string
	for _, name := range []string{"a", "b", "c", "d"} {
		sg, err := sgs.Create(ctx, secgroup.CreateInput{Name: name, Description: name})
		if err != nil {
			t.Fatal(err)
		}
		g = append(g, sg.ID)
	}
	bare := must(c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("sg-bare"), Type: types.LoadBalancerTypeEnumNetwork}))(t).LoadBalancers[0]
	nlb := must(c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("sg-nlb"), Type: types.LoadBalancerTypeEnumNetwork,
		SecurityGroups: []string{g[0]}}))(t).LoadBalancers[0]
	alb := must(c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("sg-alb"), SecurityGroups: []string{g[0]}}))(t).LoadBalancers[0]
	if got := aws.ToString(nlb.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic); got != "on" {
		t.Errorf("new NLB with groups: EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic = %q, want on", got)
	}
	if len(bare.SecurityGroups) != 0 || bare.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic != nil {
		t.Errorf("NLB without groups reports %v, %v", bare.SecurityGroups, aws.ToString(bare.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic))
	}

	_, err := c.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: bare.LoadBalancerArn, SecurityGroups: []string{g[1]}})
	wantAPIError(t, err, "InvalidConfigurationRequest")
	out := must(c.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: nlb.LoadBalancerArn, SecurityGroups: []string{g[1], g[2]},
		EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic: types.EnforceSecurityGroupInboundRulesOnPrivateLinkTrafficEnumOff}))(t)
	if diff := cmp.Diff([]string{g[1], g[2]}, out.SecurityGroupIds); diff != "" || out.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic != "off" {
		t.Errorf("SetSecurityGroups = %v %q (-want +got):\n%s", out.SecurityGroupIds, out.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic, diff)
	}
	groups, err := srv.svc.LoadBalancerSecurityGroups(ctx, *nlb.LoadBalancerArn)
	if err != nil || !cmp.Equal(groups, []string{g[1], g[2]}) {
		t.Errorf("LoadBalancerSecurityGroups = %v, %v", groups, err)
	}
	desc := must(c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"sg-nlb"}}))(t).LoadBalancers[0]
	if !cmp.Equal(desc.SecurityGroups, []string{g[1], g[2]}) || aws.ToString(desc.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic) != "off" {
		t.Errorf("described %v %q", desc.SecurityGroups, aws.ToString(desc.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic))
	}

	_, err = c.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: alb.LoadBalancerArn, SecurityGroups: []string{}})
	wantAPIError(t, err, "ValidationError")
	_, err = c.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: alb.LoadBalancerArn, SecurityGroups: []string{"default"}})
	wantAPIError(t, err, "InvalidSecurityGroup")
	_, err = c.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: alb.LoadBalancerArn, SecurityGroups: []string{g[3], "sg-0000000000000000f"}})
	wantAPIError(t, err, "InvalidSecurityGroup")
	_, err = c.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: alb.LoadBalancerArn, SecurityGroups: []string{"sg-1", "sg-2", "sg-3", "sg-4", "sg-5", "sg-6"}})
	wantAPIError(t, err, "ValidationError")
	_, err = c.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: alb.LoadBalancerArn, SecurityGroups: []string{"sg-1"},
		EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic: types.EnforceSecurityGroupInboundRulesOnPrivateLinkTrafficEnumOn})
	wantAPIError(t, err, "ValidationError")
	aout := must(c.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: alb.LoadBalancerArn, SecurityGroups: []string{g[3]}}))(t)
	if !cmp.Equal(aout.SecurityGroupIds, []string{g[3]}) || aout.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic != "" {
		t.Errorf("ALB SetSecurityGroups = %v %q", aout.SecurityGroupIds, aout.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic)
	}
	_, err = c.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: aws.String(*alb.LoadBalancerArn + "0"), SecurityGroups: []string{"sg-1"}})
	wantAPIError(t, err, "LoadBalancerNotFound")
}

func TestDescribeLoadBalancerFields(t *testing.T) {
	srv := startELB(t)
	c := srv.client(t)
	ctx := t.Context()
	must(c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("f-nlb"), Type: types.LoadBalancerTypeEnumNetwork, Scheme: types.LoadBalancerSchemeEnumInternal}))(t)
	sg, err := secgroup.New(secgroup.Config{Store: srv.store, VpcID: elb.DefaultVpcID}).Create(ctx, secgroup.CreateInput{Name: "f", Description: "f"})
	if err != nil {
		t.Fatal(err)
	}
	must(c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("f-alb"), SecurityGroups: []string{sg.ID}}))(t)
	lbs := must(c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{}))(t).LoadBalancers
	if len(lbs) != 2 {
		t.Fatalf("%d load balancers", len(lbs))
	}
	for _, lb := range lbs {
		name := aws.ToString(lb.LoadBalancerName)
		if lb.LoadBalancerArn == nil || lb.DNSName == nil || lb.CanonicalHostedZoneId == nil || lb.CreatedTime == nil ||
			lb.VpcId == nil || lb.State == nil || lb.Scheme == "" || lb.Type == "" || lb.IpAddressType == "" || len(lb.AvailabilityZones) != 2 {
			t.Errorf("%s lacks a field: %+v", name, lb)
		}
		for _, z := range lb.AvailabilityZones {
			if z.ZoneName == nil || z.SubnetId == nil || len(z.LoadBalancerAddresses) != 1 {
				t.Errorf("%s zone %+v", name, z)
			}
		}
		switch lb.Type {
		case types.LoadBalancerTypeEnumNetwork:
			if lb.EnablePrefixForIpv6SourceNat != types.EnablePrefixForIpv6SourceNatEnumOff {
				t.Errorf("%s: EnablePrefixForIpv6SourceNat = %q, want off", name, lb.EnablePrefixForIpv6SourceNat)
			}
			a := lb.AvailabilityZones[0].LoadBalancerAddresses[0]
			if aws.ToString(a.PrivateIPv4Address) == "" || aws.ToString(a.PrivateIPv4Address) != aws.ToString(a.IpAddress) {
				t.Errorf("%s: internal NLB address %+v", name, a)
			}
		case types.LoadBalancerTypeEnumApplication:
			if lb.EnablePrefixForIpv6SourceNat != "" || !cmp.Equal(lb.SecurityGroups, []string{sg.ID}) {
				t.Errorf("%s: prefix %q, groups %v", name, lb.EnablePrefixForIpv6SourceNat, lb.SecurityGroups)
			}
		}
	}
}

func TestCapacityIPPoolsPolicy(t *testing.T) {
	srv := startELB(t)
	c := srv.client(t)
	ctx := t.Context()
	alb := must(c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("cap-alb")}))(t).LoadBalancers[0]
	nlb := must(c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("cap-nlb"), Type: types.LoadBalancerTypeEnumNetwork}))(t).LoadBalancers[0]
	missing := aws.String(*alb.LoadBalancerArn + "0")

	d := must(c.DescribeCapacityReservation(ctx, &elbv2.DescribeCapacityReservationInput{LoadBalancerArn: alb.LoadBalancerArn}))(t)
	if aws.ToInt32(d.DecreaseRequestsRemaining) != 2 || d.MinimumLoadBalancerCapacity != nil || len(d.CapacityReservationState) != 0 || d.LastModifiedTime != nil {
		t.Errorf("DescribeCapacityReservation = %+v", d)
	}
	_, err := c.DescribeCapacityReservation(ctx, &elbv2.DescribeCapacityReservationInput{LoadBalancerArn: missing})
	wantAPIError(t, err, "LoadBalancerNotFound")
	_, err = c.ModifyCapacityReservation(ctx, &elbv2.ModifyCapacityReservationInput{LoadBalancerArn: alb.LoadBalancerArn})
	wantAPIError(t, err, "ValidationError")
	_, err = c.ModifyCapacityReservation(ctx, &elbv2.ModifyCapacityReservationInput{LoadBalancerArn: alb.LoadBalancerArn,
		MinimumLoadBalancerCapacity: &types.MinimumLoadBalancerCapacity{CapacityUnits: aws.Int32(100)}, ResetCapacityReservation: aws.Bool(true)})
	wantAPIError(t, err, "ValidationError")
	_, err = c.ModifyCapacityReservation(ctx, &elbv2.ModifyCapacityReservationInput{LoadBalancerArn: alb.LoadBalancerArn,
		MinimumLoadBalancerCapacity: &types.MinimumLoadBalancerCapacity{CapacityUnits: aws.Int32(100)}})
	wantAPIError(t, err, "InsufficientCapacity")
	must(c.ModifyCapacityReservation(ctx, &elbv2.ModifyCapacityReservationInput{LoadBalancerArn: alb.LoadBalancerArn, ResetCapacityReservation: aws.Bool(true)}))(t)

	_, err = c.ModifyIpPools(ctx, &elbv2.ModifyIpPoolsInput{LoadBalancerArn: alb.LoadBalancerArn, IpamPools: &types.IpamPools{Ipv4IpamPoolId: aws.String("ipam-pool-0123")}})
	wantAPIError(t, err, "InvalidConfigurationRequest")
	_, err = c.ModifyIpPools(ctx, &elbv2.ModifyIpPoolsInput{LoadBalancerArn: nlb.LoadBalancerArn, RemoveIpamPools: []types.RemoveIpamPoolEnum{types.RemoveIpamPoolEnumIpv4}})
	wantAPIError(t, err, "ValidationError")
	p := must(c.ModifyIpPools(ctx, &elbv2.ModifyIpPoolsInput{LoadBalancerArn: alb.LoadBalancerArn, RemoveIpamPools: []types.RemoveIpamPoolEnum{types.RemoveIpamPoolEnumIpv4}}))(t)
	if p.IpamPools != nil {
		t.Errorf("ModifyIpPools = %+v", p.IpamPools)
	}
	_, err = c.ModifyIpPools(ctx, &elbv2.ModifyIpPoolsInput{LoadBalancerArn: missing})
	wantAPIError(t, err, "LoadBalancerNotFound")

	_, err = c.GetResourcePolicy(ctx, &elbv2.GetResourcePolicyInput{ResourceArn: alb.LoadBalancerArn})
	wantAPIError(t, err, "ResourceNotFound")
}
