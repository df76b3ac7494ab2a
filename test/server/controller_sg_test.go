package server_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/service"
)

// TestControllerManagedSecurityGroup deploys a Service with kelb
// controller's deployer to a real kelb server: the load balancer gets the
// managed frontend security group, and real TCP connections from two
// loopback clients show that kelb server admits through it exactly the
// Service's loadBalancerSourceRanges, and follows them when they change.
// No listener carries the kelb.source_ranges.cidrs attribute.
func TestControllerManagedSecurityGroup(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	ctx := context.Background()
	a, b := tn.client(), tn.otherClient()
	clients := []string{a, b}
	startEchoBackend(t, "echo", tn.backend("a", 1)+":8080")

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "echo", UID: "0c1d", Annotations: map[string]string{
			service.AnnotationLoadBalancerType: "external",
			service.AnnotationTargetType:       "ip",
			service.AnnotationScheme:           "internet-facing",
			service.AnnotationHCTimeout:        "5",
		}},
		Spec: corev1.ServiceSpec{
			Type:                     corev1.ServiceTypeLoadBalancer,
			Ports:                    []corev1.ServicePort{{Name: "echo", Port: 7000, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
			LoadBalancerSourceRanges: []string{a + "/32"},
		},
	}
	opts := service.BuildOptions{ClusterName: "kelb-test"}
	d := &deploy.Deployer{Client: s.ELB, EC2: s.ec2Client(), ClusterName: opts.ClusterName, Frontend: service.Frontend}
	apply := func() *deploy.Result {
		t.Helper()
		st, err := service.Build(svc, opts)
		if err != nil {
			t.Fatal(err)
		}
		if st.LoadBalancer.ManagedSecurityGroup == nil {
			t.Fatal("the stack has no managed security group")
		}
		res, err := d.Deploy(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := apply()
	// The TargetGroupBinding controller registers the endpoints in a
	// cluster; here the test does.
	if len(res.TargetGroupARNs) != 1 {
		t.Fatalf("target groups %v, want one", res.TargetGroupARNs)
	}
	for _, arn := range res.TargetGroupARNs {
		if _, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn),
			Targets: []types.TargetDescription{{Id: aws.String(tn.backend("a", 1)), Port: aws.Int32(8080)}}}); err != nil {
			t.Fatal(err)
		}
	}
	lbs, err := s.ELB.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{res.LoadBalancerARN}})
	if err != nil {
		t.Fatal(err)
	}
	lb := lbs.LoadBalancers[0]
	if len(lb.SecurityGroups) != 1 {
		t.Fatalf("load balancer groups %v, want the managed group", lb.SecurityGroups)
	}
	groups, err := s.ec2Client().DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: lb.SecurityGroups})
	if err != nil || len(groups.SecurityGroups) != 1 || !strings.HasPrefix(aws.ToString(groups.SecurityGroups[0].GroupName), "k8s-shop-echo-") {
		t.Fatalf("the load balancer's group: %+v, %v; want the managed group k8s-shop-echo-<hash>", groups, err)
	}
	addr := net.JoinHostPort(aws.ToString(lb.AvailabilityZones[0].LoadBalancerAddresses[0].IpAddress), "7000")
	echo := func(client string) error { return echoFrom(client, addr) }

	admitted(t, "source range A only", echo, clients, a)

	svc.Spec.LoadBalancerSourceRanges = []string{fmt.Sprintf("127.%d.0.0/24", tn.n)}
	apply()
	admitted(t, "source range of A and B", echo, clients, a, b)

	svc.Spec.LoadBalancerSourceRanges = []string{b + "/32"}
	apply()
	admitted(t, "source range B only", echo, clients, b)

	ls, err := s.ELB.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(res.LoadBalancerARN)})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls.Listeners {
		attrs, err := s.ELB.DescribeListenerAttributes(ctx, &elbv2.DescribeListenerAttributesInput{ListenerArn: l.ListenerArn})
		if err != nil {
			t.Fatal(err)
		}
		for _, at := range attrs.Attributes {
			if aws.ToString(at.Key) == service.ListenerAttributeSourceRanges && aws.ToString(at.Value) != "" {
				t.Errorf("listener %s carries %s=%s; the managed group holds the ranges", aws.ToString(l.ListenerArn), aws.ToString(at.Key), aws.ToString(at.Value))
			}
		}
	}
}
