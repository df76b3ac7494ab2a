package elbapi

import (
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

// TestRequestCounter checks that every request is counted under its
// operation and result code, through a real SDK client.
func TestRequestCounter(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(NewHandler(HandlerConfig{
		Ops:         testOps(testLoadBalancers(3)),
		Credentials: StaticCredentials{testKeyID: testSecret},
		Region:      testRegion,
		Registerer:  reg,
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, srv.URL, testKeyID, testSecret, testRegion)
	ctx := t.Context()
	for range 2 {
		if _, err := c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{}); err != nil {
			t.Fatalf("describe load balancers: %v", err)
		}
	}
	if _, err := c.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String("arn:aws:elasticloadbalancing:us-west-2:000000000000:targetgroup/tg/0123456789abcdef")}); err != nil {
		t.Fatalf("delete target group: %v", err)
	}
	if _, err := c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String("arn:aws:elasticloadbalancing:us-west-2:000000000000:targetgroup/tg/0123456789abcdef")}); err == nil {
		t.Fatal("describe target health: no error, want TargetGroupNotFound")
	}
	// Signed with an unknown key: refused before the operation runs.
	bad := newTestClient(t, srv.URL, "AKIAUNKNOWN000000000", testSecret, testRegion)
	if _, err := bad.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{}); err == nil {
		t.Fatal("describe load balancers with an unknown key: no error")
	}

	want := map[string]float64{
		"unknown InvalidClientTokenId":             1,
		"DeleteTargetGroup OK":                     1,
		"DescribeLoadBalancers OK":                 2,
		"DescribeTargetHealth TargetGroupNotFound": 1,
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "kelb_api_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["operation"]+" "+labels["code"]] = m.GetCounter().GetValue()
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kelb_api_requests_total (-want +got):\n%s", diff)
	}
}
