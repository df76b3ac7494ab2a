package server_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// TestApplicationLoadBalancer runs an application load balancer in the
// binary: an HTTP listener forwarding to two HTTP targets across zones,
// and a rule with a fixed response.
func TestApplicationLoadBalancer(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	ctx := context.Background()
	b1 := startHTTPBackend(t, "app-a", tn.backend("a", 1)+":8080")
	b2 := startHTTPBackend(t, "app-b", tn.backend("b", 1)+":8080")

	lbOut, err := s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("k8s-game2048-ingress"), Type: types.LoadBalancerTypeEnumApplication})
	if err != nil {
		t.Fatal(err)
	}
	lb := lbOut.LoadBalancers[0]
	tgOut, err := s.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String("k8s-game2048-service"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(8080),
		TargetType: types.TargetTypeEnumIp, VpcId: aws.String("vpc-0ce1b000000000000"),
		HealthCheckIntervalSeconds: aws.Int32(5), HealthyThresholdCount: aws.Int32(2),
	})
	if err != nil {
		t.Fatal(err)
	}
	tg := aws.ToString(tgOut.TargetGroups[0].TargetGroupArn)
	if _, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(tg),
		Targets: []types.TargetDescription{ipTarget(t, b1.Addr), ipTarget(t, b2.Addr)}}); err != nil {
		t.Fatal(err)
	}
	lOut, err := s.ELB.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancerArn, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ELB.CreateRule(ctx, &elbv2.CreateRuleInput{
		ListenerArn: lOut.Listeners[0].ListenerArn, Priority: aws.Int32(10),
		Conditions: []types.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/maintenance*"}}},
		Actions: []types.Action{{Type: types.ActionTypeEnumFixedResponse, FixedResponseConfig: &types.FixedResponseActionConfig{
			StatusCode: aws.String("503"), ContentType: aws.String("text/plain"), MessageBody: aws.String("down for maintenance"),
		}}},
	}); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, s, tg, b1.Addr, "healthy", 30*time.Second)
	waitHealth(t, s, tg, b2.Addr, "healthy", 30*time.Second)

	var addr string
	for _, az := range lb.AvailabilityZones {
		if aws.ToString(az.ZoneName) == region+"a" {
			addr = aws.ToString(az.LoadBalancerAddresses[0].IpAddress)
		}
	}
	c := newConnClient()
	counts := map[string]int{}
	for i := range 20 {
		name, err := hostnameOf(c, "http://"+addr+"/")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		counts[name]++
	}
	t.Logf("through %s (cross-zone is always on for ALB):\n%s", addr, histogram(counts))
	if counts[b1.Name] == 0 || counts[b2.Name] == 0 {
		t.Errorf("requests did not reach both zones' targets:\n%s", histogram(counts))
	}
	resp, err := c.Get("http://" + addr + "/maintenance/now")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || string(body) != "down for maintenance" {
		t.Errorf("fixed response rule: %s %q", resp.Status, body)
	}
}
