package elb

import (
	"context"
	"net/netip"
	"testing"
)

// dualZones are testZones with IPv6 networks in zones a and b (zone c has
// none).
func dualZones() []Zone {
	zones := append([]Zone(nil), testZones...)
	zones[0].IPv6Pool = netip.MustParsePrefix("fd00:19:1::/64")
	zones[1].IPv6Pool = netip.MustParsePrefix("fd00:19:2::/64")
	return zones
}

func newDualEnv(t *testing.T) *testEnv {
	return newTestEnv(t, func(c *Config) {
		c.Zones = dualZones()
		c.VPCCIDRs = append(append([]netip.Prefix(nil), testVPC...), netip.MustParsePrefix("fd00:18::/48"))
	})
}

func TestDualstackLoadBalancers(t *testing.T) {
	ab := []string{"subnet-a", "subnet-b"}
	for _, tc := range []struct {
		name     string
		in       CreateLoadBalancerInput
		wantCode string
		want6    []string // IPv6 address per zone
		wantNat  []string // source NAT prefix per zone
	}{
		{name: "dualstack NLB", in: CreateLoadBalancerInput{Type: TypeNetwork, IPAddressType: IPAddressTypeDual, Subnets: ab},
			want6: []string{"fd00:19:1::1", "fd00:19:2::1"}},
		{name: "internal dualstack NLB", in: CreateLoadBalancerInput{Type: TypeNetwork, Scheme: SchemeInternal, IPAddressType: IPAddressTypeDual, Subnets: ab},
			want6: []string{"fd00:19:1::1", "fd00:19:2::1"}},
		{name: "dualstack ALB", in: CreateLoadBalancerInput{Type: TypeApplication, IPAddressType: IPAddressTypeDual, Subnets: ab},
			want6: []string{"fd00:19:1::1", "fd00:19:2::1"}},
		{name: "ALB without public IPv4", in: CreateLoadBalancerInput{Type: TypeApplication, IPAddressType: IPAddressTypeDualNoPublicIPv4, Subnets: ab},
			want6: []string{"fd00:19:1::1", "fd00:19:2::1"}},
		{name: "internal ALB without public IPv4", in: CreateLoadBalancerInput{Type: TypeApplication, Scheme: SchemeInternal, IPAddressType: IPAddressTypeDualNoPublicIPv4, Subnets: ab},
			wantCode: CodeValidationError},
		{name: "NLB without public IPv4", in: CreateLoadBalancerInput{Type: TypeNetwork, IPAddressType: IPAddressTypeDualNoPublicIPv4, Subnets: ab},
			wantCode: CodeValidationError},
		{name: "subnet without IPv6", in: CreateLoadBalancerInput{Type: TypeNetwork, IPAddressType: IPAddressTypeDual},
			wantCode: CodeInvalidSubnet},
		{name: "unknown address type", in: CreateLoadBalancerInput{Type: TypeNetwork, IPAddressType: "ipv6", Subnets: ab},
			wantCode: CodeValidationError},
		{name: "IPv6 address asked", in: CreateLoadBalancerInput{Type: TypeNetwork, IPAddressType: IPAddressTypeDual,
			SubnetMappings: []SubnetMapping{{SubnetID: "subnet-a", IPv6Address: "fd00:19:1::77"}}},
			want6: []string{"fd00:19:1::77"}},
		{name: "IPv6 address outside the subnet", in: CreateLoadBalancerInput{Type: TypeNetwork, IPAddressType: IPAddressTypeDual,
			SubnetMappings: []SubnetMapping{{SubnetID: "subnet-a", IPv6Address: "fd00:19:2::77"}}},
			wantCode: CodeInvalidConfigurationRequest},
		{name: "IPv6 address of an ipv4 load balancer", in: CreateLoadBalancerInput{Type: TypeNetwork,
			SubnetMappings: []SubnetMapping{{SubnetID: "subnet-a", IPv6Address: "fd00:19:1::77"}}},
			wantCode: CodeInvalidConfigurationRequest},
		{name: "IPv6 address of an ALB", in: CreateLoadBalancerInput{Type: TypeApplication, IPAddressType: IPAddressTypeDual,
			SubnetMappings: []SubnetMapping{{SubnetID: "subnet-a", IPv6Address: "fd00:19:1::77"}}},
			wantCode: CodeValidationError},
		{name: "source NAT prefixes", in: CreateLoadBalancerInput{Type: TypeNetwork, IPAddressType: IPAddressTypeDual, Subnets: ab, EnablePrefixForIpv6SourceNat: On},
			want6: []string{"fd00:19:1::1", "fd00:19:2::1"}, wantNat: []string{"fd00:19:1:0:1::/80", "fd00:19:2:0:1::/80"}},
		{name: "source NAT prefix asked", in: CreateLoadBalancerInput{Type: TypeNetwork, IPAddressType: IPAddressTypeDual, EnablePrefixForIpv6SourceNat: On,
			SubnetMappings: []SubnetMapping{{SubnetID: "subnet-a", SourceNatIPv6Prefix: "fd00:19:1:0:7::/80"}}},
			want6: []string{"fd00:19:1::1"}, wantNat: []string{"fd00:19:1:0:7::/80"}},
		{name: "source NAT prefix not a /80", in: CreateLoadBalancerInput{Type: TypeNetwork, IPAddressType: IPAddressTypeDual, EnablePrefixForIpv6SourceNat: On,
			SubnetMappings: []SubnetMapping{{SubnetID: "subnet-a", SourceNatIPv6Prefix: "fd00:19:1::/64"}}},
			wantCode: CodeValidationError},
		{name: "source NAT prefix without the setting", in: CreateLoadBalancerInput{Type: TypeNetwork, IPAddressType: IPAddressTypeDual,
			SubnetMappings: []SubnetMapping{{SubnetID: "subnet-a", SourceNatIPv6Prefix: SourceNatAutoAssigned}}},
			wantCode: CodeInvalidConfigurationRequest},
		{name: "source NAT on an ipv4 NLB", in: CreateLoadBalancerInput{Type: TypeNetwork, Subnets: ab, EnablePrefixForIpv6SourceNat: On},
			wantCode: CodeInvalidConfigurationRequest},
		{name: "source NAT on an ALB", in: CreateLoadBalancerInput{Type: TypeApplication, IPAddressType: IPAddressTypeDual, Subnets: ab, EnablePrefixForIpv6SourceNat: On},
			wantCode: CodeValidationError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newDualEnv(t)
			tc.in.Name = "lb"
			lb, err := e.svc.CreateLoadBalancer(context.Background(), tc.in)
			wantCode(t, err, tc.wantCode)
			if err != nil {
				return
			}
			for i, z := range lb.Zones {
				if !z.Address.Is4() {
					t.Errorf("zone %s: IPv4 address %v", z.Zone, z.Address)
				}
				if got := z.IPv6Address.String(); got != tc.want6[i] {
					t.Errorf("zone %s: IPv6 address %s, want %s", z.Zone, got, tc.want6[i])
				}
				var wantNat string
				if tc.wantNat != nil {
					wantNat = tc.wantNat[i]
				}
				if z.SourceNatIPv6Prefix != wantNat {
					t.Errorf("zone %s: source NAT prefix %q, want %q", z.Zone, z.SourceNatIPv6Prefix, wantNat)
				}
			}
			wantOn := Off
			if tc.wantNat != nil {
				wantOn = On
			}
			if lb.Type == TypeNetwork && lb.EnablePrefixForIPv6SourceNat != wantOn {
				t.Errorf("EnablePrefixForIpv6SourceNat = %q, want %q", lb.EnablePrefixForIPv6SourceNat, wantOn)
			}
		})
	}
}

// TestSetIPAddressType: a live load balancer goes dualstack and back;
// IPv6 addresses come and go with the type, and what would break a
// listener is refused without changing anything.
func TestSetIPAddressType(t *testing.T) {
	ctx := context.Background()
	e := newDualEnv(t)
	lb, err := e.svc.CreateLoadBalancer(ctx, CreateLoadBalancerInput{Name: "lb", Type: TypeNetwork, Subnets: []string{"subnet-a", "subnet-b"}})
	if err != nil {
		t.Fatal(err)
	}
	zonesOf := func() []ZoneAddress {
		t.Helper()
		lbs, err := e.svc.DescribeLoadBalancers(ctx, DescribeLoadBalancersInput{LoadBalancerARNs: []string{lb.ARN}})
		if err != nil {
			t.Fatal(err)
		}
		return lbs[0].Zones
	}
	if _, err := e.svc.SetIPAddressType(ctx, lb.ARN, IPAddressTypeDualNoPublicIPv4); err == nil {
		t.Fatal("an NLB took dualstack-without-public-ipv4")
	}
	if _, err := e.svc.SetIPAddressType(ctx, lb.ARN, IPAddressTypeDual); err != nil {
		t.Fatal(err)
	}
	z := zonesOf()
	if z[0].IPv6Address.String() != "fd00:19:1::1" || z[1].IPv6Address.String() != "fd00:19:2::1" || z[0].Address != lb.Zones[0].Address {
		t.Fatalf("dualstack zones %+v", z)
	}

	// An IPv6 target group: only IPv6 targets, only on a dualstack load
	// balancer, and a UDP listener needs source NAT prefixes.
	tg6, err := e.svc.CreateTargetGroup(ctx, CreateTargetGroupInput{Name: "tg6", Protocol: "TCP_UDP", Port: 80, VpcID: "vpc-0ce1b000000000000", TargetType: TargetTypeIP, IPAddressType: IPAddressTypeIPv6})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.svc.RegisterTargets(ctx, tg6.ARN, []TargetDescription{{ID: "198.18.1.7"}}), CodeInvalidTarget)
	wantCode(t, e.svc.RegisterTargets(ctx, tg6.ARN, []TargetDescription{{ID: "::ffff:198.18.1.7"}}), CodeInvalidTarget)
	wantCode(t, e.svc.RegisterTargets(ctx, tg6.ARN, []TargetDescription{{ID: "fd00:18::7", Port: 8080}}), "")
	_, err = e.svc.CreateListener(ctx, CreateListenerInput{LoadBalancerARN: lb.ARN, Protocol: "TCP_UDP", Port: 53,
		DefaultActions: []Action{{Type: ActionForward, TargetGroupARN: tg6.ARN}}})
	wantCode(t, err, CodeInvalidConfigurationRequest)
	e.listener(t, lb.ARN, tg6.ARN, "TCP", 80)

	_, err = e.svc.SetIPAddressType(ctx, lb.ARN, IPAddressTypeIPv4)
	wantCode(t, err, CodeInvalidConfigurationRequest)
	if z := zonesOf(); !z[0].IPv6Address.IsValid() {
		t.Fatalf("a refused SetIpAddressType dropped the IPv6 addresses: %+v", z)
	}
	_, err = e.svc.SetSubnets(ctx, SetSubnetsInput{LoadBalancerARN: lb.ARN, Subnets: []string{"subnet-a", "subnet-c"}})
	wantCode(t, err, CodeInvalidSubnet)

	// Source NAT prefixes on, then the UDP listener is allowed; off again
	// is refused while it exists.
	if _, err := e.svc.SetSubnets(ctx, SetSubnetsInput{LoadBalancerARN: lb.ARN, Subnets: []string{"subnet-a", "subnet-b"}, EnablePrefixForIpv6SourceNat: On}); err != nil {
		t.Fatal(err)
	}
	if z := zonesOf(); z[0].SourceNatIPv6Prefix != "fd00:19:1:0:1::/80" || z[0].IPv6Address.String() != "fd00:19:1::1" {
		t.Fatalf("zones after source NAT on: %+v", z)
	}
	e.listener(t, lb.ARN, tg6.ARN, "TCP_UDP", 53)
	_, err = e.svc.SetSubnets(ctx, SetSubnetsInput{LoadBalancerARN: lb.ARN, Subnets: []string{"subnet-a", "subnet-b"}, EnablePrefixForIpv6SourceNat: Off})
	wantCode(t, err, CodeInvalidConfigurationRequest)

	// An ipv4 load balancer cannot forward to the IPv6 group.
	lb4 := e.nlb(t, "lb4")
	_, err = e.svc.CreateListener(ctx, CreateListenerInput{LoadBalancerARN: lb4.ARN, Protocol: "TCP", Port: 80,
		DefaultActions: []Action{{Type: ActionForward, TargetGroupARN: tg6.ARN}}})
	wantCode(t, err, CodeInvalidConfigurationRequest)
}

func TestIPv6TargetGroups(t *testing.T) {
	for _, tc := range []struct {
		name, addrType, targetType, wantCode string
	}{
		{name: "ipv6 ip", addrType: IPAddressTypeIPv6, targetType: TargetTypeIP},
		{name: "ipv4 ip", addrType: IPAddressTypeIPv4, targetType: TargetTypeIP},
		{name: "ipv6 instance", addrType: IPAddressTypeIPv6, targetType: TargetTypeInstance, wantCode: CodeValidationError},
		{name: "dualstack", addrType: IPAddressTypeDual, targetType: TargetTypeIP, wantCode: CodeValidationError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newDualEnv(t)
			tg, err := e.svc.CreateTargetGroup(context.Background(), CreateTargetGroupInput{Name: "tg", Protocol: "TCP", Port: 80,
				VpcID: "vpc-0ce1b000000000000", TargetType: tc.targetType, IPAddressType: tc.addrType})
			wantCode(t, err, tc.wantCode)
			if err == nil && tg.IPAddressType != tc.addrType {
				t.Errorf("IpAddressType = %q, want %q", tg.IPAddressType, tc.addrType)
			}
		})
	}
}

func TestPickSourceNatPrefix(t *testing.T) {
	pool := netip.MustParsePrefix("fd00:19:1::/78")
	used := []netip.Prefix{netip.MustParsePrefix("fd00:19:1:0:1::/80")}
	p, err := pickSourceNatPrefix(pool, netip.Prefix{}, used, "subnet-a")
	if err != nil || p.String() != "fd00:19:1:0:2::/80" {
		t.Fatalf("pick = %v, %v; want fd00:19:1:0:2::/80", p, err)
	}
	used = append(used, p, netip.MustParsePrefix("fd00:19:1:0:3::/80"))
	if p, err := pickSourceNatPrefix(pool, netip.Prefix{}, used, "subnet-a"); err == nil {
		t.Fatalf("pick in a full pool = %v, want an error", p)
	}
	if p, err := pickSourceNatPrefix(netip.MustParsePrefix("::/126"), netip.Prefix{}, nil, "subnet-a"); err == nil {
		t.Fatalf("pick in a /126 = %v, want an error", p)
	}
}
