package server_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// TestTargetInZoneNotEnabled registers a target in a zone its load
// balancer is not in. NLB reports it unused (Target.NotInUse: "the target
// is in an Availability Zone that is not enabled for its load balancer")
// and sends it no traffic.
func TestTargetInZoneNotEnabled(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	ctx := context.Background()
	bb := startEchoBackend(t, "target-b", tn.backend("b", 1)+":7000")
	ba := startEchoBackend(t, "target-a", tn.backend("a", 1)+":7000")
	all, err := s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("probe-subnets"), Type: types.LoadBalancerTypeEnumNetwork})
	if err != nil {
		t.Fatal(err)
	}
	var subnetA string
	for _, az := range all.LoadBalancers[0].AvailabilityZones {
		if aws.ToString(az.ZoneName) == region+"a" {
			subnetA = aws.ToString(az.SubnetId)
		}
	}
	lbOut, err := s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("zone-a-only"), Type: types.LoadBalancerTypeEnumNetwork, Subnets: []string{subnetA}})
	if err != nil {
		t.Fatal(err)
	}
	lb := lbOut.LoadBalancers[0]
	tgOut, err := s.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String("zone-a-only"), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(7000), TargetType: types.TargetTypeEnumIp,
		VpcId: aws.String("vpc-0ce1b000000000000"), HealthCheckIntervalSeconds: aws.Int32(5), HealthyThresholdCount: aws.Int32(2),
	})
	if err != nil {
		t.Fatal(err)
	}
	tg := aws.ToString(tgOut.TargetGroups[0].TargetGroupArn)
	if _, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(tg),
		Targets: []types.TargetDescription{ipTarget(t, ba.Addr), ipTarget(t, bb.Addr)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ELB.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancerArn, Protocol: types.ProtocolEnumTcp, Port: aws.Int32(7000),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}}}); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, s, tg, ba.Addr, "healthy", 30*time.Second)
	waitHealth(t, s, tg, bb.Addr, "unused Target.NotInUse", 10*time.Second)
	addr := aws.ToString(lb.AvailabilityZones[0].LoadBalancerAddresses[0].IpAddress) + ":7000"
	if got := flowsTo(t, addr, 20); got[bb.Name] != 0 {
		t.Errorf("the target in a zone the load balancer is not in got flows:\n%s", histogram(got))
	}
}

// TestSetSubnetsFollows changes an NLB's zones with SetSubnets, as kelb
// controller does when a Service's subnets annotation changes: the data
// plane starts and stops serving the zones' addresses, DNS answers follow,
// and targets in a removed zone become unused.
func TestSetSubnetsFollows(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	ctx := context.Background()
	ba := startEchoBackend(t, "follow-a", tn.backend("a", 1)+":7000")
	bb := startEchoBackend(t, "follow-b", tn.backend("b", 1)+":7000")
	subnets := map[string]string{}
	probe, err := s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("probe-follow"), Type: types.LoadBalancerTypeEnumNetwork})
	if err != nil {
		t.Fatal(err)
	}
	for _, az := range probe.LoadBalancers[0].AvailabilityZones {
		subnets[aws.ToString(az.ZoneName)] = aws.ToString(az.SubnetId)
	}
	subA, subB := subnets[region+"a"], subnets[region+"b"]
	lbOut, err := s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("follow"), Type: types.LoadBalancerTypeEnumNetwork, Subnets: []string{subA}})
	if err != nil {
		t.Fatal(err)
	}
	lb := lbOut.LoadBalancers[0]
	addrA := aws.ToString(lb.AvailabilityZones[0].LoadBalancerAddresses[0].IpAddress)
	tgOut, err := s.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String("follow"), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(7000), TargetType: types.TargetTypeEnumIp,
		VpcId: aws.String("vpc-0ce1b000000000000"), HealthCheckIntervalSeconds: aws.Int32(5), HealthyThresholdCount: aws.Int32(2),
	})
	if err != nil {
		t.Fatal(err)
	}
	tg := aws.ToString(tgOut.TargetGroups[0].TargetGroupArn)
	if _, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(tg),
		Targets: []types.TargetDescription{ipTarget(t, ba.Addr), ipTarget(t, bb.Addr)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ELB.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancerArn, Protocol: types.ProtocolEnumTcp, Port: aws.Int32(7000),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}}}); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, s, tg, ba.Addr, "healthy", 30*time.Second)
	waitHealth(t, s, tg, bb.Addr, "unused Target.NotInUse", 10*time.Second)
	wantDNS := func(want ...string) {
		t.Helper()
		slices.Sort(want)
		eventually(t, 10*time.Second, fmt.Sprintf("%s resolves to %v", aws.ToString(lb.DNSName), want), func() error {
			got, err := resolveA(s.DNSAddr, aws.ToString(lb.DNSName))
			if err != nil {
				return err
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				return errNotYetf("A records %v", got)
			}
			return nil
		})
	}
	wantDNS(addrA)

	// Zone b added: its address serves, its target is in use.
	set, err := s.ELB.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: lb.LoadBalancerArn, Subnets: []string{subA, subB}})
	if err != nil {
		t.Fatal(err)
	}
	var addrB string
	for _, az := range set.AvailabilityZones {
		a := aws.ToString(az.LoadBalancerAddresses[0].IpAddress)
		switch aws.ToString(az.SubnetId) {
		case subA:
			if a != addrA {
				t.Errorf("zone a's address moved from %s to %s", addrA, a)
			}
		case subB:
			addrB = a
		}
	}
	if addrB == "" {
		t.Fatalf("SetSubnets answered zones %+v", set.AvailabilityZones)
	}
	wantDNS(addrA, addrB)
	waitHealth(t, s, tg, bb.Addr, "healthy", 30*time.Second)
	eventually(t, 10*time.Second, "zone b's address serves", func() error {
		_, err := whoAnswers(addrB + ":7000")
		return err
	})

	// Zone a removed: its address stops serving, its target is unused.
	if _, err := s.ELB.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: lb.LoadBalancerArn, Subnets: []string{subB}}); err != nil {
		t.Fatal(err)
	}
	wantDNS(addrB)
	waitHealth(t, s, tg, ba.Addr, "unused Target.NotInUse", 30*time.Second)
	eventually(t, 10*time.Second, "zone a's address stops serving", func() error {
		if _, err := whoAnswers(addrA + ":7000"); err == nil {
			return errNotYetf("%s still answers", addrA)
		}
		return nil
	})
	if got := flowsTo(t, addrB+":7000", 10); got[ba.Name] != 0 {
		t.Errorf("the target of the removed zone got flows:\n%s", histogram(got))
	}
}
