package server_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/miekg/dns"
)

// dualstackZoneFlags are tn's zones with an IPv6 pool in zone a only: the
// loopback network ::/126, whose first usable address, ::1, a dualstack
// load balancer in zone a gets. The VPC holds ::1 too, for IPv6 targets.
func dualstackZoneFlags(tn testNet) []string {
	return []string{
		"--zone", fmt.Sprintf("%sa=127.%d.1.0/24,ipv6=::/126", region, tn.n),
		"--zone", fmt.Sprintf("%sb=127.%d.2.0/24", region, tn.n),
		"--zone-targets", fmt.Sprintf("%sa=127.%d.0.0/25", region, tn.n),
		"--zone-targets", fmt.Sprintf("%sb=127.%d.0.128/25", region, tn.n),
		"--vpc-cidr", "127.0.0.0/8",
		"--vpc-cidr", "::1/128",
	}
}

// freePort6 returns a port of [::1] that was free a moment ago.
func freePort6(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// resolveAAAA asks the DNS server at server for name's AAAA records, sorted.
func resolveAAAA(server, name string) ([]string, error) {
	msg := new(dns.Msg)
	msg.SetQuestion(dns.Fqdn(name), dns.TypeAAAA)
	c := &dns.Client{Timeout: 2 * time.Second}
	in, _, err := c.Exchange(msg, server)
	if err != nil {
		return nil, fmt.Errorf("query %s at %s: %w", name, server, err)
	}
	if in.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("query %s: %s", name, dns.RcodeToString[in.Rcode])
	}
	var addrs []string
	for _, rr := range in.Answer {
		if a, ok := rr.(*dns.AAAA); ok {
			addrs = append(addrs, a.AAAA.String())
		}
	}
	sort.Strings(addrs)
	return addrs, nil
}

// TestDualstackConformance checks dual-stack validation with the SDK
// against a real kelb server, as ELBv2 answers: which load balancers may be
// dualstack, in which subnets, and what IPv6 target groups accept.
func TestDualstackConformance(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{zoneFlags: dualstackZoneFlags(tn)})
	ctx := context.Background()
	subnets, err := s.ec2Client().DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{})
	if err != nil {
		t.Fatal(err)
	}
	subnetOf := map[string]string{}
	for _, sn := range subnets.Subnets {
		subnetOf[aws.ToString(sn.AvailabilityZone)] = aws.ToString(sn.SubnetId)
		var v6 []string
		for _, b := range sn.Ipv6CidrBlockAssociationSet {
			v6 = append(v6, aws.ToString(b.Ipv6CidrBlock))
		}
		want := []string(nil)
		if aws.ToString(sn.AvailabilityZone) == region+"a" {
			want = []string{"::/126"}
		}
		if !slices.Equal(v6, want) {
			t.Errorf("subnet %s: IPv6 CIDR blocks %v, want %v", aws.ToString(sn.SubnetId), v6, want)
		}
	}
	a, b := subnetOf[region+"a"], subnetOf[region+"b"]

	for _, tc := range []struct {
		name     string
		in       elbv2.CreateLoadBalancerInput
		wantCode string
	}{
		{"NLB in a subnet without IPv6", elbv2.CreateLoadBalancerInput{Type: types.LoadBalancerTypeEnumNetwork, IpAddressType: types.IpAddressTypeDualstack, Subnets: []string{a, b}}, "InvalidSubnet"},
		{"NLB without public IPv4", elbv2.CreateLoadBalancerInput{Type: types.LoadBalancerTypeEnumNetwork, IpAddressType: types.IpAddressTypeDualstackWithoutPublicIpv4, Subnets: []string{a}}, "ValidationError"},
		{"internal ALB without public IPv4", elbv2.CreateLoadBalancerInput{Scheme: types.LoadBalancerSchemeEnumInternal, IpAddressType: types.IpAddressTypeDualstackWithoutPublicIpv4, Subnets: []string{a}}, "ValidationError"},
		{"source NAT on an ipv4 NLB", elbv2.CreateLoadBalancerInput{Type: types.LoadBalancerTypeEnumNetwork, Subnets: []string{a}, EnablePrefixForIpv6SourceNat: types.EnablePrefixForIpv6SourceNatEnumOn}, "InvalidConfigurationRequest"},
		{"source NAT in a /126", elbv2.CreateLoadBalancerInput{Type: types.LoadBalancerTypeEnumNetwork, IpAddressType: types.IpAddressTypeDualstack, Subnets: []string{a}, EnablePrefixForIpv6SourceNat: types.EnablePrefixForIpv6SourceNatEnumOn}, "InvalidSubnet"},
		{"IPv6 address outside the subnet", elbv2.CreateLoadBalancerInput{Type: types.LoadBalancerTypeEnumNetwork, IpAddressType: types.IpAddressTypeDualstack,
			SubnetMappings: []types.SubnetMapping{{SubnetId: aws.String(a), IPv6Address: aws.String("fd00::1")}}}, "InvalidConfigurationRequest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Name = aws.String("refused")
			_, err := s.ELB.CreateLoadBalancer(ctx, &in)
			if got := errCode(err); got != tc.wantCode {
				t.Errorf("CreateLoadBalancer: %s, want %s", got, tc.wantCode)
			}
		})
	}

	for _, tc := range []struct {
		name       string
		targetType types.TargetTypeEnum
		addrType   types.TargetGroupIpAddressTypeEnum
		wantCode   string
	}{
		{"ipv6 ip", types.TargetTypeEnumIp, types.TargetGroupIpAddressTypeEnumIpv6, ""},
		{"ipv6 instance", types.TargetTypeEnumInstance, types.TargetGroupIpAddressTypeEnumIpv6, "ValidationError"},
	} {
		out, err := s.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("tg-" + string(tc.targetType)), Protocol: types.ProtocolEnumTcp,
			Port: aws.Int32(80), VpcId: aws.String("vpc-0ce1b000000000000"), TargetType: tc.targetType, IpAddressType: tc.addrType})
		if got := errCode(err); got != tc.wantCode {
			t.Errorf("%s: CreateTargetGroup: %s, want %s", tc.name, got, tc.wantCode)
			continue
		}
		if err != nil {
			continue
		}
		tg := out.TargetGroups[0]
		if tg.IpAddressType != tc.addrType {
			t.Errorf("%s: IpAddressType %q, want %q", tc.name, tg.IpAddressType, tc.addrType)
		}
		for _, rt := range []struct {
			id, wantCode string
		}{{tn.backend("a", 1), "InvalidTarget"}, {"::ffff:127.0.0.1", "InvalidTarget"}, {"::1", ""}} {
			_, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tg.TargetGroupArn, Targets: []types.TargetDescription{{Id: aws.String(rt.id)}}})
			if got := errCode(err); got != rt.wantCode {
				t.Errorf("register %s in an ipv6 group: %s, want %s", rt.id, got, rt.wantCode)
			}
		}
		lb4, err := s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("lb4"), Type: types.LoadBalancerTypeEnumNetwork, Subnets: []string{a}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.ELB.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb4.LoadBalancers[0].LoadBalancerArn, Protocol: types.ProtocolEnumTcp, Port: aws.Int32(80),
			DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: tg.TargetGroupArn}}})
		if got := errCode(err); got != "InvalidConfigurationRequest" {
			t.Errorf("ipv4 load balancer forwarding to an ipv6 group: %s, want InvalidConfigurationRequest", got)
		}
		if lb := lb4.LoadBalancers[0]; len(lb.AvailabilityZones[0].LoadBalancerAddresses) != 1 || lb.AvailabilityZones[0].LoadBalancerAddresses[0].IPv6Address != nil {
			t.Errorf("ipv4 load balancer's addresses: %+v", lb.AvailabilityZones[0].LoadBalancerAddresses)
		}
	}
}

// TestDualstackTraffic: a dualstack NLB in a zone whose IPv6 pool is
// loopback gets ::1, answers AAAA, and forwards IPv6 and IPv4 clients to
// an IPv6 target on [::1] that its health checks find healthy;
// SetIpAddressType ipv4 takes the IPv6 address, listener and AAAA record
// away, and dualstack brings them back. Then a dualstack ALB serves HTTP on
// [::1].
func TestDualstackTraffic(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{zoneFlags: dualstackZoneFlags(tn)})
	ctx := context.Background()
	subnets, err := s.ec2Client().DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("availability-zone"), Values: []string{region + "a"}}}})
	if err != nil || len(subnets.Subnets) != 1 {
		t.Fatalf("subnet of zone a: %v %v", subnets, err)
	}
	subnet := aws.ToString(subnets.Subnets[0].SubnetId)

	backend := startEchoBackend(t, "target-v6", fmt.Sprintf("[::1]:%d", freePort6(t)))
	_, bport, _ := net.SplitHostPort(backend.Addr)
	bp, _ := strconv.Atoi(bport)
	lbPort := int32(freePort6(t))

	lbOut, err := s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("dual"), Type: types.LoadBalancerTypeEnumNetwork,
		Scheme: types.LoadBalancerSchemeEnumInternal, IpAddressType: types.IpAddressTypeDualstack, Subnets: []string{subnet}})
	if err != nil {
		t.Fatal(err)
	}
	lb := lbOut.LoadBalancers[0]
	addrs := lb.AvailabilityZones[0].LoadBalancerAddresses
	if lb.IpAddressType != types.IpAddressTypeDualstack || len(addrs) != 1 || aws.ToString(addrs[0].IPv6Address) != "::1" {
		t.Fatalf("dualstack load balancer: type %s, addresses %+v; want dualstack with IPv6 address ::1", lb.IpAddressType, addrs)
	}
	v4 := aws.ToString(addrs[0].IpAddress)
	tgOut, err := s.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("dual-v6"), Protocol: types.ProtocolEnumTcp,
		Port: aws.Int32(int32(bp)), VpcId: aws.String("vpc-0ce1b000000000000"), TargetType: types.TargetTypeEnumIp, IpAddressType: types.TargetGroupIpAddressTypeEnumIpv6,
		HealthCheckIntervalSeconds: aws.Int32(5), HealthyThresholdCount: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	tg := aws.ToString(tgOut.TargetGroups[0].TargetGroupArn)
	if _, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(tg),
		Targets: []types.TargetDescription{{Id: aws.String("::1"), Port: aws.Int32(int32(bp))}}}); err != nil {
		t.Fatal(err)
	}
	ls, err := s.ELB.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancerArn, Protocol: types.ProtocolEnumTcp, Port: aws.Int32(lbPort),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}}})
	if err != nil {
		t.Fatal(err)
	}
	waitHealth(t, s, tg, backend.Addr, "healthy", 30*time.Second)

	via6 := net.JoinHostPort("::1", strconv.Itoa(int(lbPort)))
	via4 := net.JoinHostPort(v4, strconv.Itoa(int(lbPort)))
	for _, addr := range []string{via6, via4} {
		eventually(t, 10*time.Second, "flow through "+addr, func() error {
			who, err := whoAnswers(addr)
			if err == nil && who != backend.Name {
				err = fmt.Errorf("%s answered", who)
			}
			return err
		})
	}
	eventually(t, 10*time.Second, "AAAA of the dualstack name", func() error {
		for _, name := range []string{aws.ToString(lb.DNSName), "dualstack." + aws.ToString(lb.DNSName)} {
			got, err := resolveAAAA(s.DNSAddr, name)
			if err != nil {
				return err
			}
			if !slices.Equal(got, []string{"::1"}) {
				return fmt.Errorf("%s AAAA %v, want [::1]", name, got)
			}
		}
		got, err := resolveA(s.DNSAddr, aws.ToString(lb.DNSName))
		if err == nil && !slices.Equal(got, []string{v4}) {
			err = fmt.Errorf("A %v, want [%s]", got, v4)
		}
		return err
	})

	// An IPv6 target group keeps the load balancer dualstack.
	_, err = s.ELB.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: lb.LoadBalancerArn, IpAddressType: types.IpAddressTypeIpv4})
	if got := errCode(err); got != "InvalidConfigurationRequest" {
		t.Fatalf("SetIpAddressType ipv4 with an ipv6 target group: %s, want InvalidConfigurationRequest", got)
	}
	if _, err := s.ELB.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: ls.Listeners[0].ListenerArn}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ELB.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: lb.LoadBalancerArn, IpAddressType: types.IpAddressTypeIpv4}); err != nil {
		t.Fatal(err)
	}
	desc, err := s.ELB.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{aws.ToString(lb.LoadBalancerArn)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := desc.LoadBalancers[0]; got.IpAddressType != types.IpAddressTypeIpv4 || got.AvailabilityZones[0].LoadBalancerAddresses[0].IPv6Address != nil ||
		aws.ToString(got.AvailabilityZones[0].LoadBalancerAddresses[0].IpAddress) != v4 {
		t.Fatalf("after SetIpAddressType ipv4: %s %+v", got.IpAddressType, got.AvailabilityZones[0].LoadBalancerAddresses)
	}
	eventually(t, 10*time.Second, "no AAAA for an ipv4 load balancer", func() error {
		got, err := resolveAAAA(s.DNSAddr, aws.ToString(lb.DNSName))
		if err == nil && len(got) > 0 {
			err = fmt.Errorf("AAAA %v", got)
		}
		return err
	})

	// Back to dualstack, the IPv6 address and the listener on it return.
	if _, err := s.ELB.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: lb.LoadBalancerArn, IpAddressType: types.IpAddressTypeDualstack}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ELB.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancerArn, Protocol: types.ProtocolEnumTcp, Port: aws.Int32(lbPort),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "flow through "+via6+" again", func() error {
		_, err := whoAnswers(via6)
		return err
	})
	if _, err := s.ELB.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: lb.LoadBalancerArn}); err != nil {
		t.Fatal(err)
	}

	// A dualstack-without-public-ipv4 ALB takes ::1 now and serves HTTP
	// there to an HTTP target on [::1].
	hb := startHTTPBackend(t, "http-v6", fmt.Sprintf("[::1]:%d", freePort6(t)))
	_, hport, _ := net.SplitHostPort(hb.Addr)
	hp, _ := strconv.Atoi(hport)
	albOut, err := s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("dual-alb"), IpAddressType: types.IpAddressTypeDualstackWithoutPublicIpv4,
		Subnets: []string{subnet}})
	if err != nil {
		t.Fatal(err)
	}
	alb := albOut.LoadBalancers[0]
	if got := aws.ToString(alb.AvailabilityZones[0].LoadBalancerAddresses[0].IPv6Address); got != "::1" {
		t.Fatalf("ALB IPv6 address %q, want ::1", got)
	}
	htg, err := s.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("dual-http"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(int32(hp)),
		VpcId: aws.String("vpc-0ce1b000000000000"), TargetType: types.TargetTypeEnumIp, IpAddressType: types.TargetGroupIpAddressTypeEnumIpv6,
		HealthCheckIntervalSeconds: aws.Int32(5), HealthyThresholdCount: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	htgARN := htg.TargetGroups[0].TargetGroupArn
	if _, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: htgARN, Targets: []types.TargetDescription{{Id: aws.String("::1"), Port: aws.Int32(int32(hp))}}}); err != nil {
		t.Fatal(err)
	}
	albPort := freePort6(t)
	if _, err := s.ELB.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: alb.LoadBalancerArn, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(int32(albPort)),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: htgARN}}}); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, s, aws.ToString(htgARN), hb.Addr, "healthy", 30*time.Second)
	url := fmt.Sprintf("http://[::1]:%d/", albPort)
	eventually(t, 10*time.Second, "GET "+url, func() error {
		c := &http.Client{Timeout: 3 * time.Second}
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		return nil
	})
}
