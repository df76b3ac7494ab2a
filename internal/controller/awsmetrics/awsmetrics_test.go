package awsmetrics

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/smithy-go/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/elbapi"
)

// TestCountsCalls counts the calls of aws-sdk-go-v2's ELBv2 client to a
// real ELBv2 API: answers, API errors, and calls that reach no server.
func TestCountsCalls(t *testing.T) {
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "kelb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := elb.New(elb.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(elbapi.NewHandler(elbapi.HandlerConfig{Ops: elbapi.Ops(svc),
		Credentials: elbapi.StaticCredentials{"AKIDTEST": "secret"}, Region: "us-west-2"}))
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	m := New(reg)
	client := func(endpoint string) *elbv2.Client {
		return elbv2.New(elbv2.Options{Region: "us-west-2", BaseEndpoint: aws.String(endpoint), RetryMaxAttempts: 2,
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}, nil
			}),
			APIOptions: []func(*middleware.Stack) error{m.APIOption}})
	}
	ctx := context.Background()
	c := client(srv.URL)
	for range 2 {
		if _, err := c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{"nosuch"}}); err == nil {
		t.Fatal("DescribeTargetGroups of a missing name succeeded")
	}
	// A closed server: the call fails without an answer, after two
	// attempts.
	closed := httptest.NewServer(nil)
	closed.Close()
	if _, err := client(closed.URL).DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{}); err == nil {
		t.Fatal("a call to a closed server succeeded")
	}
	want := `
# HELP aws_api_calls_total AWS API calls of the controller (retries within a call are one call), by service, operation, HTTP status and error code.
# TYPE aws_api_calls_total counter
aws_api_calls_total{error_code="",operation="DescribeLoadBalancers",service="Elastic Load Balancing v2",status_code="200"} 2
aws_api_calls_total{error_code="RequestSendError",operation="DescribeLoadBalancers",service="Elastic Load Balancing v2",status_code="0"} 1
aws_api_calls_total{error_code="TargetGroupNotFound",operation="DescribeTargetGroups",service="Elastic Load Balancing v2",status_code="400"} 1
# HELP aws_api_requests_total HTTP requests the controller's AWS SDK made (every retry counted), by service, operation, HTTP status and error code.
# TYPE aws_api_requests_total counter
aws_api_requests_total{error_code="",operation="DescribeLoadBalancers",service="Elastic Load Balancing v2",status_code="200"} 2
aws_api_requests_total{error_code="RequestSendError",operation="DescribeLoadBalancers",service="Elastic Load Balancing v2",status_code="0"} 2
aws_api_requests_total{error_code="TargetGroupNotFound",operation="DescribeTargetGroups",service="Elastic Load Balancing v2",status_code="400"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "aws_api_calls_total", "aws_api_requests_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.duration); n != 2 {
		t.Errorf("%d duration series, want 2 (one per operation)", n)
	}
}
