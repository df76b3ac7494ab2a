package elb

import (
	"context"
	"testing"
)

// Requests AWS refuses are refused with AWS's code, and change nothing.
func TestAWSValidation(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t)
	nlb := env.nlb(t, "valid")
	tg := env.tg(t, "valid", "TCP")

	for _, name := range []string{"a--b", "k8s--x"} {
		_, err := env.svc.CreateLoadBalancer(ctx, CreateLoadBalancerInput{Name: name, Type: TypeNetwork})
		wantCode(t, err, CodeValidationError)
		_, err = env.svc.CreateTargetGroup(ctx, CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: name, Protocol: "TCP", Port: 80, TargetType: TargetTypeIP})
		wantCode(t, err, CodeValidationError)
	}
	if _, err := env.svc.CreateLoadBalancer(ctx, CreateLoadBalancerInput{Name: "a-b-c", Type: TypeNetwork}); err != nil {
		t.Errorf("single hyphens: %v", err)
	}

	for _, tt := range []struct {
		name string
		in   CreateTargetGroupInput
		msg  string
	}{
		{"no protocol", CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "np", Port: 80, TargetType: TargetTypeIP}, "A protocol must be specified"},
		{"no port", CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "np", Protocol: "TCP", TargetType: TargetTypeInstance}, "A port must be specified"},
		{"no VPC", CreateTargetGroupInput{Name: "nv", Protocol: "TCP", Port: 80, TargetType: TargetTypeIP}, "A VPC ID must be specified"},
		{"a VPC that is not kelb server's", CreateTargetGroupInput{Name: "ov", Protocol: "TCP", Port: 80, TargetType: TargetTypeIP, VpcID: "vpc-0123456789abcdef0"}, "The VPC ID 'vpc-0123456789abcdef0' is not found"},
		{"timeout above an NLB interval", CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "t", Protocol: "TCP", Port: 80,
			HealthCheck: HealthCheckInput{IntervalSeconds: ptr[int32](10), TimeoutSeconds: ptr[int32](11)}}, "Health check interval must be greater than or equal to the timeout."},
		{"timeout equal to an ALB interval", CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "t", Protocol: "HTTP", Port: 80,
			HealthCheck: HealthCheckInput{IntervalSeconds: ptr[int32](10), TimeoutSeconds: ptr[int32](10)}}, "Health check interval must be greater than the timeout."},
	} {
		_, err := env.svc.CreateTargetGroup(ctx, tt.in)
		wantCode(t, err, CodeValidationError)
		if e, _ := err.(interface{ ELBCode() (string, string) }); e != nil {
			if _, msg := e.ELBCode(); msg != tt.msg {
				t.Errorf("%s: message %q, want %q", tt.name, msg, tt.msg)
			}
		}
	}

	_, err := env.svc.CreateListener(ctx, CreateListenerInput{LoadBalancerARN: nlb.ARN, Port: 80,
		DefaultActions: []Action{{Type: ActionForward, TargetGroupARN: tg.ARN}}})
	wantCode(t, err, CodeValidationError)
	_, err = env.svc.CreateListener(ctx, CreateListenerInput{LoadBalancerARN: nlb.ARN, Protocol: "TCP",
		DefaultActions: []Action{{Type: ActionForward, TargetGroupARN: tg.ARN}}})
	wantCode(t, err, CodeValidationError)

	for _, v := range []string{"0", "7"} {
		_, err := env.svc.ModifyLoadBalancerAttributes(ctx, nlb.ARN, []Attribute{{Key: "secondary_ips.auto_assigned.per_subnet", Value: v}})
		wantCode(t, err, "")
	}
	for _, v := range []string{"8", "-1", "two"} {
		_, err := env.svc.ModifyLoadBalancerAttributes(ctx, nlb.ARN, []Attribute{{Key: "secondary_ips.auto_assigned.per_subnet", Value: v}})
		wantCode(t, err, CodeValidationError)
	}
	attrs, err := env.svc.DescribeLoadBalancerAttributes(ctx, nlb.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if got := attrMap(attrs)["secondary_ips.auto_assigned.per_subnet"]; got != "7" {
		t.Errorf("secondary_ips.auto_assigned.per_subnet = %q after refused changes, want 7", got)
	}
}
