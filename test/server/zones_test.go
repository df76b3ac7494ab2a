package server_test

import (
	"context"
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
		VpcId: aws.String("vpc-0kelb"), HealthCheckIntervalSeconds: aws.Int32(5), HealthyThresholdCount: aws.Int32(2),
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
