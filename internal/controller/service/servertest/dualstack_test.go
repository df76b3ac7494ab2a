package servertest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	corev1 "k8s.io/api/core/v1"

	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/service"
)

// TestDeployDualstack: the aws-load-balancer-ip-address-type annotation
// makes a dualstack NLB with an IPv6 address in its zone; back to ipv4 the
// IPv6 address goes, through the real ELBv2 API.
func TestDeployDualstack(t *testing.T) {
	ctx := context.Background()
	client, _ := server(t)
	d := &deploy.Deployer{Client: client, ClusterName: opts.ClusterName, Frontend: service.Frontend}
	withType := func(ipType string) *service.Stack {
		return build(t, testService(func(s *corev1.Service) {
			s.Annotations[service.AnnotationSubnets] = "subnet-a"
			s.Annotations[service.AnnotationIPAddressType] = ipType
		}))
	}
	describe := func(arn string) types.LoadBalancer {
		t.Helper()
		out, err := client.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{arn}})
		if err != nil {
			t.Fatal(err)
		}
		return out.LoadBalancers[0]
	}

	res, err := d.Deploy(ctx, withType("dualstack"))
	if err != nil {
		t.Fatalf("dualstack deploy: %v", err)
	}
	lb := describe(res.LoadBalancerARN)
	if lb.IpAddressType != types.IpAddressTypeDualstack || aws.ToString(lb.AvailabilityZones[0].LoadBalancerAddresses[0].IPv6Address) != "fd00:19:1::1" {
		t.Fatalf("dualstack Service: load balancer %s with addresses %+v, want dualstack with fd00:19:1::1", lb.IpAddressType, lb.AvailabilityZones[0].LoadBalancerAddresses)
	}

	res, err = d.Deploy(ctx, withType("ipv4"))
	if err != nil {
		t.Fatalf("back to ipv4: %v", err)
	}
	if lb := describe(res.LoadBalancerARN); lb.IpAddressType != types.IpAddressTypeIpv4 || lb.AvailabilityZones[0].LoadBalancerAddresses[0].IPv6Address != nil {
		t.Fatalf("ipv4 again: %s %+v", lb.IpAddressType, lb.AvailabilityZones[0].LoadBalancerAddresses)
	}
}

// TestDeployIPv6TargetGroup: an IPv6-first Service on a dualstack NLB gets
// an ipv6 target group, which kelb server accepts on it.
func TestDeployIPv6TargetGroup(t *testing.T) {
	ctx := context.Background()
	client, _ := server(t)
	d := &deploy.Deployer{Client: client, ClusterName: opts.ClusterName, Frontend: service.Frontend}
	st := build(t, testService(func(s *corev1.Service) {
		s.Annotations[service.AnnotationSubnets] = "subnet-a"
		s.Annotations[service.AnnotationIPAddressType] = "dualstack"
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
	}))
	res, err := d.Deploy(ctx, st)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	var arns []string
	for _, arn := range res.TargetGroupARNs {
		arns = append(arns, arn)
	}
	out, err := client.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: arns})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range out.TargetGroups {
		if tg.IpAddressType != types.TargetGroupIpAddressTypeEnumIpv6 {
			t.Errorf("target group %s: IpAddressType %q, want ipv6", aws.ToString(tg.TargetGroupName), tg.IpAddressType)
		}
	}
	if len(out.TargetGroups) == 0 {
		t.Fatal("no target groups")
	}
}
