package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
)

// TestAPIErrors checks the error codes the binary answers for requests a
// user gets wrong.
func TestAPIErrors(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	ctx := context.Background()
	b := startEchoBackend(t, "target-1", tn.backend("a", 1)+":7000")
	st := createStack(t, s, stackSpec{
		name: "errors", port: 7000, tgPort: 7000,
		targets: []types.TargetDescription{ipTarget(t, b.Addr)},
	})
	other, err := s.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String("errors-other"), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(7000),
		TargetType: types.TargetTypeEnumIp, VpcId: aws.String("vpc-0ce1b000000000000"),
	})
	if err != nil {
		t.Fatal(err)
	}
	otherTG := aws.ToString(other.TargetGroups[0].TargetGroupArn)

	tests := []struct {
		name     string
		call     func() error
		wantCode string
	}{
		{"same listener again is idempotent", func() error {
			_, err := s.ELB.CreateListener(ctx, &elbv2.CreateListenerInput{
				LoadBalancerArn: aws.String(st.LB), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(7000),
				DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(st.TG)}},
			})
			return err
		}, ""},
		{"taken port, other target group", func() error {
			_, err := s.ELB.CreateListener(ctx, &elbv2.CreateListenerInput{
				LoadBalancerArn: aws.String(st.LB), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(7000),
				DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(otherTG)}},
			})
			return err
		}, "DuplicateListener"},
		{"duplicate load balancer name", func() error {
			_, err := s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("errors"), Type: types.LoadBalancerTypeEnumApplication})
			return err
		}, "DuplicateLoadBalancerName"},
		{"target group in use", func() error {
			_, err := s.ELB.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(st.TG)})
			return err
		}, "ResourceInUse"},
		{"unknown attribute", func() error {
			_, err := s.ELB.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{
				TargetGroupArn: aws.String(st.TG), Attributes: tgAttributes(map[string]string{"no.such.key": "1"}),
			})
			return err
		}, "ValidationError"},
		{"interval below the minimum", func() error {
			_, err := s.ELB.ModifyTargetGroup(ctx, &elbv2.ModifyTargetGroupInput{TargetGroupArn: aws.String(st.TG), HealthCheckIntervalSeconds: aws.Int32(4)})
			return err
		}, "ValidationError"},
		{"target outside every allowed network", func() error {
			_, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(st.TG),
				Targets: []types.TargetDescription{{Id: aws.String("203.0.113.7"), Port: aws.Int32(80)}}})
			return err
		}, "InvalidTarget"},
		{"missing load balancer", func() error {
			_, err := s.ELB.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(st.LB + "0")})
			return err
		}, "LoadBalancerNotFound"},
		{"missing target group", func() error {
			_, err := s.ELB.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(otherTG + "0")})
			return err
		}, "TargetGroupNotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.wantCode {
				t.Fatalf("error %v, want code %s", err, tt.wantCode)
			}
			t.Logf("%s: %s", apiErr.ErrorCode(), apiErr.ErrorMessage())
		})
	}
	// The listener still forwards to its own group.
	ls, err := s.ELB.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(st.LB)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls.Listeners) != 1 || aws.ToString(ls.Listeners[0].DefaultActions[0].TargetGroupArn) != st.TG {
		t.Errorf("listeners after the failed calls: %+v", ls.Listeners)
	}
}

// TestSignedRawRequests sends hand-built requests signed with SigV4: an
// unknown action, a request signed 20 minutes ago.
func TestSignedRawRequests(t *testing.T) {
	t.Parallel()
	s := startServer(t, newNet(), serverOptions{})
	tests := []struct {
		name       string
		form       url.Values
		signedAt   time.Time
		wantStatus int
		wantCode   string
	}{
		{"unknown action", url.Values{"Action": {"LaunchRockets"}, "Version": {"2015-12-01"}}, time.Now(), 400, "InvalidAction"},
		{"expired", url.Values{"Action": {"DescribeLoadBalancers"}, "Version": {"2015-12-01"}}, time.Now().Add(-20 * time.Minute), 400, "RequestExpired"},
		{"bad page size", url.Values{"Action": {"DescribeLoadBalancers"}, "Version": {"2015-12-01"}, "PageSize": {"401"}}, time.Now(), 400, "ValidationError"},
		{"good", url.Values{"Action": {"DescribeLoadBalancers"}, "Version": {"2015-12-01"}}, time.Now(), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.form.Encode()
			req, err := http.NewRequest(http.MethodPost, s.APIURL+"/", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			sum := sha256.Sum256([]byte(body))
			creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secretKey}
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "elasticloadbalancing", region, tt.signedAt); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || (tt.wantCode != "" && !strings.Contains(string(out), "<Code>"+tt.wantCode+"</Code>")) {
				t.Errorf("%s: %s\n%s", tt.name, resp.Status, out)
			}
			if tt.wantCode == "" && !strings.Contains(string(out), "<DescribeLoadBalancersResult>") {
				t.Errorf("answer:\n%s", out)
			}
		})
	}
}
