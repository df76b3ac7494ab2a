package server_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// otherClient is a second client address of tn, beside client().
func (tn testNet) otherClient() string { return fmt.Sprintf("127.%d.0.101", tn.n) }

// tcpIngress is a permission for TCP port from cidr.
func tcpIngress(port int32, cidr string) []ec2types.IpPermission {
	return []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port),
		IpRanges: []ec2types.IpRange{{CidrIp: aws.String(cidr)}}}}
}

// echoFrom connects from client to addr through an echo backend and
// round-trips a line.
func echoFrom(client, addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(client)}}
	c, err := dialEchoWith(ctx, d.DialContext, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.roundTrip("hello from " + client)
}

// httpFrom sends one GET from client to addr and returns the body.
func httpFrom(client, addr string) (string, error) {
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(client)}}).DialContext, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 3 * time.Second}
	resp, err := hc.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return string(b), err
}

// admitted checks which of the clients reach addr through try: exactly
// those in want.
func admitted(t *testing.T, what string, try func(client string) error, clients []string, want ...string) {
	t.Helper()
	for _, c := range clients {
		err := try(c)
		allowed := strings.Contains(strings.Join(want, " "), c)
		switch {
		case allowed && err != nil:
			t.Errorf("%s: client %s is refused (%v), want admitted", what, c, err)
		case !allowed && err == nil:
			t.Errorf("%s: client %s is admitted, want refused", what, c)
		}
	}
}

// TestSecurityGroupEnforcement sends real TCP traffic from two loopback
// client addresses through a network load balancer (on the kernel and on
// the userspace data plane) and an application load balancer of a real
// kelb server: each listener admits exactly the clients its security
// groups' ingress rules allow for its port, changes take effect when the
// EC2 call returns, and the kelb.source_ranges.cidrs attribute narrows
// them further.
func TestSecurityGroupEnforcement(t *testing.T) {
	t.Parallel()
	for _, plane := range []string{"userspace", "kernel"} {
		t.Run(plane, func(t *testing.T) {
			t.Parallel()
			tn := newNet()
			s := startServer(t, tn, serverOptions{extraArgs: []string{"--dataplane", plane}})
			if plane == "kernel" && !s.kernelPlane() {
				t.Skip("the kernel data plane is not available here")
			}
			testSecurityGroupEnforcement(t, s, tn)
		})
	}
}

func testSecurityGroupEnforcement(t *testing.T, s *kelbServer, tn testNet) {
	ctx := context.Background()
	c := s.ec2Client()
	a, b := tn.client(), tn.otherClient()
	clients := []string{a, b}
	startEchoBackend(t, "echo", tn.backend("a", 1)+":8080")
	startHTTPBackend(t, "web", tn.backend("a", 2)+":8081")

	sgOut, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("lb"), Description: aws.String("load balancer clients")})
	if err != nil {
		t.Fatal(err)
	}
	sg := aws.ToString(sgOut.GroupId)
	if _, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(sg), IpPermissions: tcpIngress(7000, a+"/32")}); err != nil {
		t.Fatal(err)
	}

	nlb := createGroupedStack(t, s, "nlb", types.LoadBalancerTypeEnumNetwork, sg, 7000, tn.backend("a", 1), 8080)
	alb := createGroupedStack(t, s, "alb", types.LoadBalancerTypeEnumApplication, sg, 7080, tn.backend("a", 2), 8081)
	echo := func(client string) error { return echoFrom(client, nlb.addr) }
	web := func(client string) error { _, err := httpFrom(client, alb.addr); return err }

	admitted(t, "NLB, port 7000 open to A", echo, clients, a)
	admitted(t, "ALB, no rule for port 7080", web, clients)

	if _, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(sg),
		IpPermissions: append(tcpIngress(7000, b+"/32"), tcpIngress(7080, b+"/32")...)}); err != nil {
		t.Fatal(err)
	}
	admitted(t, "NLB, port 7000 open to A and B", echo, clients, a, b)
	admitted(t, "ALB, port 7080 open to B", web, clients, b)

	if _, err := c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(sg), IpPermissions: tcpIngress(7000, a+"/32")}); err != nil {
		t.Fatal(err)
	}
	admitted(t, "NLB, A revoked", echo, clients, b)

	// The older attribute narrows what the groups allow.
	setSourceRanges := func(ranges string) {
		t.Helper()
		if _, err := s.ELB.ModifyListenerAttributes(ctx, &elbv2.ModifyListenerAttributesInput{ListenerArn: aws.String(nlb.listener),
			Attributes: []types.ListenerAttribute{{Key: aws.String("kelb.source_ranges.cidrs"), Value: aws.String(ranges)}}}); err != nil {
			t.Fatal(err)
		}
	}
	setSourceRanges(a + "/32")
	admitted(t, "NLB, groups allow B, source ranges A", echo, clients)
	setSourceRanges(fmt.Sprintf("127.%d.0.0/24", tn.n))
	admitted(t, "NLB, groups allow B, source ranges A and B", echo, clients, b)

	// UDP listeners admit what the rules allow for UDP: a TCP rule for
	// the same port does not count.
	startUDPEchoBackend(t, "udp-echo", tn.backend("a", 3)+":5353")
	udp := createUDPListener(t, s, nlb.lb, 7053, tn.backend("a", 3), 5353)
	if _, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(sg), IpPermissions: []ec2types.IpPermission{
		{IpProtocol: aws.String("udp"), FromPort: aws.Int32(7053), ToPort: aws.Int32(7053), IpRanges: []ec2types.IpRange{{CidrIp: aws.String(a + "/32")}}},
		{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(7053), ToPort: aws.Int32(7053), IpRanges: []ec2types.IpRange{{CidrIp: aws.String(b + "/32")}}},
	}}); err != nil {
		t.Fatal(err)
	}
	admitted(t, "NLB UDP, port 7053 open to A over UDP, to B over TCP", func(client string) error { return udpRoundTrip(client, udp) }, clients, a)

	// An all-traffic rule opens every port.
	if _, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(sg), IpPermissions: []ec2types.IpPermission{{
		IpProtocol: aws.String("-1"), IpRanges: []ec2types.IpRange{{CidrIp: aws.String(fmt.Sprintf("127.%d.0.0/16", tn.n))}}}}}); err != nil {
		t.Fatal(err)
	}
	admitted(t, "ALB, all traffic from the test's network", web, clients, a, b)
}

// createUDPListener adds a UDP listener on port to load balancer lb,
// forwarding to target:targetPort, and returns its address in the first
// zone.
func createUDPListener(t *testing.T, s *kelbServer, lb string, port int32, target string, targetPort int32) *net.UDPAddr {
	t.Helper()
	ctx := context.Background()
	tgOut, err := s.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(fmt.Sprintf("udp-%d", port)), Protocol: types.ProtocolEnumUdp,
		Port: aws.Int32(targetPort), TargetType: types.TargetTypeEnumIp, VpcId: aws.String("vpc-0ce1b000000000000"), HealthCheckProtocol: types.ProtocolEnumTcp})
	if err != nil {
		t.Fatal(err)
	}
	tg := tgOut.TargetGroups[0].TargetGroupArn
	if _, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tg,
		Targets: []types.TargetDescription{{Id: aws.String(target), Port: aws.Int32(targetPort)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ELB.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(lb), Protocol: types.ProtocolEnumUdp, Port: aws.Int32(port),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: tg}}}); err != nil {
		t.Fatal(err)
	}
	out, err := s.ELB.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{lb}})
	if err != nil {
		t.Fatal(err)
	}
	ip := aws.ToString(out.LoadBalancers[0].AvailabilityZones[0].LoadBalancerAddresses[0].IpAddress)
	return &net.UDPAddr{IP: net.ParseIP(ip), Port: int(port)}
}

// groupedStack is a load balancer with security groups, one listener and
// one target.
type groupedStack struct{ lb, listener, addr string }

// createGroupedStack creates a load balancer of type lbType with security
// group sg, a TCP (network) or HTTP (application) listener on port and a
// target group with target:targetPort.
func createGroupedStack(t *testing.T, s *kelbServer, name string, lbType types.LoadBalancerTypeEnum, sg string, port int32, target string, targetPort int32) groupedStack {
	t.Helper()
	ctx := context.Background()
	proto := types.ProtocolEnumTcp
	if lbType == types.LoadBalancerTypeEnumApplication {
		proto = types.ProtocolEnumHttp
	}
	lbOut, err := s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String(name), Type: lbType, SecurityGroups: []string{sg}})
	if err != nil {
		t.Fatalf("CreateLoadBalancer %s: %v", name, err)
	}
	lb := lbOut.LoadBalancers[0]
	if len(lb.SecurityGroups) != 1 || lb.SecurityGroups[0] != sg {
		t.Errorf("load balancer %s security groups = %v", name, lb.SecurityGroups)
	}
	tgOut, err := s.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(name), Protocol: proto, Port: aws.Int32(targetPort),
		TargetType: types.TargetTypeEnumIp, VpcId: aws.String("vpc-0ce1b000000000000")})
	if err != nil {
		t.Fatal(err)
	}
	tg := tgOut.TargetGroups[0].TargetGroupArn
	if _, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tg,
		Targets: []types.TargetDescription{{Id: aws.String(target), Port: aws.Int32(targetPort)}}}); err != nil {
		t.Fatal(err)
	}
	lOut, err := s.ELB.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancerArn, Protocol: proto, Port: aws.Int32(port),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: tg}}})
	if err != nil {
		t.Fatal(err)
	}
	return groupedStack{lb: aws.ToString(lb.LoadBalancerArn), listener: aws.ToString(lOut.Listeners[0].ListenerArn),
		addr: net.JoinHostPort(aws.ToString(lb.AvailabilityZones[0].LoadBalancerAddresses[0].IpAddress), fmt.Sprint(port))}
}
