package elbapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
)

const (
	testRegion = "us-west-2"
	testKeyID  = "AKIAKELBTESTKEY00001"
	testSecret = "kelb-test-secret-access-key-0000000000000"
)

type testLoadBalancer struct {
	LoadBalancerName string `xml:"LoadBalancerName"`
	LoadBalancerArn  string `xml:"LoadBalancerArn"`
	Type             string `xml:"Type"`
}

type describeLoadBalancersResult struct {
	LoadBalancers List[testLoadBalancer] `xml:"LoadBalancers"`
	NextMarker    string                 `xml:"NextMarker,omitempty"`
}

type testTargetGroup struct {
	TargetGroupName string `xml:"TargetGroupName"`
	Protocol        string `xml:"Protocol"`
	Port            int32  `xml:"Port"`
}

type createTargetGroupResult struct {
	TargetGroups List[testTargetGroup] `xml:"TargetGroups"`
}

// notFoundError is an error as the service returns them: it knows its code.
type notFoundError struct{ arn string }

func (e notFoundError) Error() string { return "load balancer " + e.arn + " not found" }
func (e notFoundError) ELBCode() (string, string) {
	return "LoadBalancerNotFoundException", "One or more load balancers not found"
}

func testLoadBalancers(n int) []testLoadBalancer {
	var lbs []testLoadBalancer
	for i := range n {
		name := fmt.Sprintf("lb-%03d", i)
		lbs = append(lbs, testLoadBalancer{
			LoadBalancerName: name,
			LoadBalancerArn:  "arn:aws:elasticloadbalancing:us-west-2:000000000000:loadbalancer/net/" + name + "/0123456789abcdef",
			Type:             "network",
		})
	}
	return lbs
}

// testOps are operations that exercise every way a result or an error leaves
// an OpFunc.
func testOps(lbs []testLoadBalancer) map[string]OpFunc {
	return map[string]OpFunc{
		"DescribeLoadBalancers": func(ctx context.Context, p Params) (any, error) {
			items := lbs
			if names := p.StringList("Names"); names != nil {
				items = nil
				for _, lb := range lbs {
					if containsString(names, lb.LoadBalancerName) {
						items = append(items, lb)
					}
				}
			}
			page, next, err := Paginate(items, p, func(lb testLoadBalancer) string { return lb.LoadBalancerArn })
			if err != nil {
				return nil, err
			}
			return describeLoadBalancersResult{LoadBalancers: page, NextMarker: next}, nil
		},
		"CreateTargetGroup": func(ctx context.Context, p Params) (any, error) {
			port, _, err := p.Int32("Port")
			if err != nil {
				return nil, err
			}
			return &createTargetGroupResult{TargetGroups: List[testTargetGroup]{{
				TargetGroupName: p.String("Name"), Protocol: p.String("Protocol"), Port: port,
			}}}, nil
		},
		"DescribeTargetHealth": func(ctx context.Context, p Params) (any, error) {
			return nil, &Error{Code: "TargetGroupNotFound", Message: "One or more target groups not found"}
		},
		"DeleteLoadBalancer": func(ctx context.Context, p Params) (any, error) {
			return nil, fmt.Errorf("delete: %w", notFoundError{arn: p.String("LoadBalancerArn")})
		},
		"DeleteTargetGroup": func(ctx context.Context, p Params) (any, error) {
			return nil, nil
		},
		"DescribeListeners": func(ctx context.Context, p Params) (any, error) {
			panic("listener table corrupted")
		},
		"DescribeRules": func(ctx context.Context, p Params) (any, error) {
			return nil, errors.New("store: disk on fire")
		},
	}
}

func newTestServer(t *testing.T, ops map[string]OpFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(NewHandler(HandlerConfig{
		Ops:         ops,
		Credentials: StaticCredentials{testKeyID: testSecret},
		Region:      testRegion,
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newTestClient(t *testing.T, endpoint, keyID, secret, region string) *elbv2.Client {
	t.Helper()
	return elbv2.New(elbv2.Options{
		Region:           region,
		BaseEndpoint:     aws.String(endpoint),
		RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}, nil
		}),
	})
}

func TestSDKDescribeAndPaginate(t *testing.T) {
	lbs := testLoadBalancers(7)
	srv := newTestServer(t, testOps(lbs))
	client := newTestClient(t, srv.URL, testKeyID, testSecret, testRegion)
	ctx := t.Context()

	out, err := client.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"lb-002", "lb-005"}})
	if err != nil {
		t.Fatalf("DescribeLoadBalancers: %v", err)
	}
	var names []string
	for _, lb := range out.LoadBalancers {
		names = append(names, aws.ToString(lb.LoadBalancerName))
	}
	if diff := cmp.Diff([]string{"lb-002", "lb-005"}, names); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	if out.LoadBalancers[0].Type != types.LoadBalancerTypeEnumNetwork {
		t.Errorf("type = %q, want network", out.LoadBalancers[0].Type)
	}

	// The SDK's paginator follows NextMarker through every page.
	var all []string
	pages := 0
	pg := elbv2.NewDescribeLoadBalancersPaginator(client, &elbv2.DescribeLoadBalancersInput{PageSize: aws.Int32(3)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatalf("page %d: %v", pages+1, err)
		}
		pages++
		for _, lb := range page.LoadBalancers {
			all = append(all, aws.ToString(lb.LoadBalancerName))
		}
	}
	var want []string
	for _, lb := range lbs {
		want = append(want, lb.LoadBalancerName)
	}
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("paginated names (-want +got):\n%s", diff)
	}
	if pages != 3 {
		t.Errorf("pages = %d, want 3", pages)
	}
}

func TestSDKEmptyListAndNoResult(t *testing.T) {
	srv := newTestServer(t, testOps(nil))
	client := newTestClient(t, srv.URL, testKeyID, testSecret, testRegion)
	out, err := client.DescribeLoadBalancers(t.Context(), &elbv2.DescribeLoadBalancersInput{})
	if err != nil {
		t.Fatalf("DescribeLoadBalancers: %v", err)
	}
	if len(out.LoadBalancers) != 0 || out.NextMarker != nil {
		t.Errorf("got %d load balancers, marker %v; want none", len(out.LoadBalancers), out.NextMarker)
	}
	if _, err := client.DeleteTargetGroup(t.Context(), &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String("arn:tg")}); err != nil {
		t.Errorf("DeleteTargetGroup: %v", err)
	}
}

func TestSDKSendsNestedInput(t *testing.T) {
	srv := newTestServer(t, testOps(nil))
	client := newTestClient(t, srv.URL, testKeyID, testSecret, testRegion)
	out, err := client.CreateTargetGroup(t.Context(), &elbv2.CreateTargetGroupInput{
		Name:     aws.String("web"),
		Protocol: types.ProtocolEnumTcp,
		Port:     aws.Int32(8080),
		Tags:     []types.Tag{{Key: aws.String("team"), Value: aws.String("edge")}},
	})
	if err != nil {
		t.Fatalf("CreateTargetGroup: %v", err)
	}
	got := out.TargetGroups[0]
	if aws.ToString(got.TargetGroupName) != "web" || got.Protocol != types.ProtocolEnumTcp || aws.ToInt32(got.Port) != 8080 {
		t.Errorf("target group = %+v", got)
	}
}

// apiError extracts code and HTTP status of an SDK error. (The SDK reports
// no fault side for errors outside an operation's modeled errors; the raw
// tests check <Type>.)
func apiError(t *testing.T, err error) (code string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an API error", err, err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), status
}

func TestSDKErrors(t *testing.T) {
	srv := newTestServer(t, testOps(nil))
	good := newTestClient(t, srv.URL, testKeyID, testSecret, testRegion)
	ctx := t.Context()

	t.Run("typed modeled error", func(t *testing.T) {
		_, err := good.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String("arn:tg")})
		var nf *types.TargetGroupNotFoundException
		if !errors.As(err, &nf) {
			t.Fatalf("error %v (%T), want *types.TargetGroupNotFoundException", err, err)
		}
		if nf.ErrorMessage() != "One or more target groups not found" {
			t.Errorf("message = %q", nf.ErrorMessage())
		}
	})
	t.Run("service error with ELBCode", func(t *testing.T) {
		_, err := good.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: aws.String("arn:lb")})
		var nf *types.LoadBalancerNotFoundException
		if !errors.As(err, &nf) {
			t.Fatalf("error %v (%T), want *types.LoadBalancerNotFoundException", err, err)
		}
	})

	tests := []struct {
		name       string
		call       func(*elbv2.Client) error
		client     *elbv2.Client
		wantCode   string
		wantStatus int
	}{
		{
			name:       "wrong secret",
			client:     newTestClient(t, srv.URL, testKeyID, "not-the-secret", testRegion),
			call:       describeAll,
			wantCode:   "SignatureDoesNotMatch",
			wantStatus: http.StatusForbidden,
		},
		{
			name:       "unknown access key",
			client:     newTestClient(t, srv.URL, "AKIAUNKNOWN000000000", testSecret, testRegion),
			call:       describeAll,
			wantCode:   "InvalidClientTokenId",
			wantStatus: http.StatusForbidden,
		},
		{
			name:       "other region",
			client:     newTestClient(t, srv.URL, testKeyID, testSecret, "eu-west-1"),
			call:       describeAll,
			wantCode:   "SignatureDoesNotMatch",
			wantStatus: http.StatusForbidden,
		},
		{
			name:   "model validation",
			client: good,
			call: func(c *elbv2.Client) error {
				_, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("web"), Port: aws.Int32(0)})
				return err
			},
			wantCode:   "ValidationError",
			wantStatus: http.StatusBadRequest,
		},
		{
			name:   "operation panics",
			client: good,
			call: func(c *elbv2.Client) error {
				_, err := c.DescribeListeners(ctx, &elbv2.DescribeListenersInput{})
				return err
			},
			wantCode:   "InternalFailure",
			wantStatus: http.StatusInternalServerError,
		},
		{
			name:   "operation fails unexpectedly",
			client: good,
			call: func(c *elbv2.Client) error {
				_, err := c.DescribeRules(ctx, &elbv2.DescribeRulesInput{})
				return err
			},
			wantCode:   "InternalFailure",
			wantStatus: http.StatusInternalServerError,
		},
		{
			name:   "operation kelb does not serve",
			client: good,
			call: func(c *elbv2.Client) error {
				_, err := c.DescribeSSLPolicies(ctx, &elbv2.DescribeSSLPoliciesInput{})
				return err
			},
			wantCode:   "InvalidAction",
			wantStatus: http.StatusBadRequest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(tt.client)
			if err == nil {
				t.Fatal("call succeeded, want an error")
			}
			code, status := apiError(t, err)
			if code != tt.wantCode || status != tt.wantStatus {
				t.Errorf("got code %s status %d, want %s %d (error: %v)", code, status, tt.wantCode, tt.wantStatus, err)
			}
		})
	}
}

func describeAll(c *elbv2.Client) error {
	_, err := c.DescribeLoadBalancers(context.Background(), &elbv2.DescribeLoadBalancersInput{})
	return err
}

// runAWSCLI runs the aws CLI against endpoint and returns stdout and the exit
// status; the test is skipped when the CLI is not installed.
func runAWSCLI(t *testing.T, endpoint, secret string, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not on PATH")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HOME="+home,
		"AWS_CONFIG_FILE="+home+"/config",
		"AWS_SHARED_CREDENTIALS_FILE="+home+"/credentials",
		"AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2="+endpoint,
		"AWS_ACCESS_KEY_ID="+testKeyID,
		"AWS_SECRET_ACCESS_KEY="+secret,
		"AWS_DEFAULT_REGION="+testRegion,
		"AWS_MAX_ATTEMPTS=1",
		"AWS_PAGER=",
	)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), errOut.String(), ee.ExitCode()
	case err != nil:
		t.Fatalf("run aws: %v", err)
	}
	return out.String(), errOut.String(), 0
}

func TestAWSCLI(t *testing.T) {
	lbs := testLoadBalancers(5)
	srv := newTestServer(t, testOps(lbs))

	t.Run("describe-load-balancers pages by marker", func(t *testing.T) {
		// With --page-size the CLI pages by hand: it prints NextMarker and
		// the next call passes it back with --marker.
		var got []string
		args := []string{"elbv2", "describe-load-balancers", "--page-size", "2", "--output", "json"}
		for range 5 {
			stdout, stderr, code := runAWSCLI(t, srv.URL, testSecret, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var out struct {
				LoadBalancers []struct{ LoadBalancerName string }
				NextMarker    string
			}
			if err := json.Unmarshal([]byte(stdout), &out); err != nil {
				t.Fatalf("decode CLI output %q: %v", stdout, err)
			}
			for _, lb := range out.LoadBalancers {
				got = append(got, lb.LoadBalancerName)
			}
			if out.NextMarker == "" {
				break
			}
			args = []string{"elbv2", "describe-load-balancers", "--page-size", "2", "--output", "json", "--marker", out.NextMarker}
		}
		if diff := cmp.Diff([]string{"lb-000", "lb-001", "lb-002", "lb-003", "lb-004"}, got); diff != "" {
			t.Errorf("names (-want +got):\n%s", diff)
		}
	})
	t.Run("empty list prints []", func(t *testing.T) {
		empty := newTestServer(t, testOps(nil))
		stdout, stderr, code := runAWSCLI(t, empty.URL, testSecret, "elbv2", "describe-load-balancers", "--output", "json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var out map[string]any
		if err := json.Unmarshal([]byte(stdout), &out); err != nil {
			t.Fatalf("decode CLI output %q: %v", stdout, err)
		}
		if diff := cmp.Diff(map[string]any{"LoadBalancers": []any{}}, out); diff != "" {
			t.Errorf("output (-want +got):\n%s", diff)
		}
	})
	errTests := []struct {
		name   string
		secret string
		args   []string
		want   string
	}{
		{"wrong secret", "wrong", []string{"elbv2", "describe-load-balancers"}, "(SignatureDoesNotMatch)"},
		{"modeled error", testSecret, []string{"elbv2", "describe-target-health", "--target-group-arn", "arn:tg"}, "(TargetGroupNotFound)"},
		{"validation", testSecret, []string{"elbv2", "create-target-group", "--name", "web", "--port", "70000"},
			"(ValidationError) when calling the CreateTargetGroup operation: 1 validation error detected: Value '70000' at 'port' failed to satisfy constraint: Member must have value less than or equal to 65535"},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runAWSCLI(t, srv.URL, tt.secret, tt.args...)
			if code == 0 {
				t.Fatal("aws succeeded, want a failure")
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.want)
			}
		})
	}
}

// rawRequest sends a hand-made, unsigned request and returns status, the
// error code and the body.
func rawRequest(t *testing.T, srv *httptest.Server, method, target, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	var e xmlErrorResponse
	if err := decodeXML(resp.Body, &e); err != nil {
		t.Fatalf("decode error response: %v", err)
	}
	if resp.Header.Get("x-amzn-RequestId") == "" || resp.Header.Get("x-amzn-RequestId") != e.RequestID {
		t.Errorf("x-amzn-RequestId %q, body RequestId %q", resp.Header.Get("x-amzn-RequestId"), e.RequestID)
	}
	return resp.StatusCode, e.Error.Type + "/" + e.Error.Code
}

func TestUnsignedRequests(t *testing.T) {
	srv := newTestServer(t, testOps(nil))
	tests := []struct {
		method, target, body string
		wantStatus           int
		wantCode             string
	}{
		{"POST", "/", "Action=DescribeLoadBalancers&Version=2015-12-01", 403, "Sender/MissingAuthenticationToken"},
		{"GET", "/?Action=DescribeLoadBalancers&Version=2015-12-01", "", 403, "Sender/MissingAuthenticationToken"},
		{"PUT", "/", "", 405, "Sender/InvalidHttpRequest"},
		{"POST", "/", strings.Repeat("A", maxBodyBytes+1), 413, "Sender/RequestEntityTooLarge"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+strconv.Itoa(len(tt.body)), func(t *testing.T) {
			status, code := rawRequest(t, srv, tt.method, tt.target, tt.body)
			if status != tt.wantStatus || code != tt.wantCode {
				t.Errorf("got %d %s, want %d %s", status, code, tt.wantStatus, tt.wantCode)
			}
		})
	}
}

func TestActionAndVersion(t *testing.T) {
	srv := newSigTestServer(t)
	tests := []struct {
		name        string
		req         signedRequest
		wantStatus  int
		wantCode    string
		wantMessage string
	}{
		{"missing Action", signedRequest{body: "Version=2015-12-01"}, 400, "Sender/MissingAction", ""},
		{"unknown Action", signedRequest{body: "Action=CreateBucket&Version=2015-12-01"}, 400, "Sender/InvalidAction", "Could not find operation CreateBucket for version 2015-12-01"},
		{"modeled but not served", signedRequest{body: "Action=DescribeSSLPolicies&Version=2015-12-01"}, 400, "Sender/InvalidAction", ""},
		{"old version", signedRequest{body: "Action=DescribeLoadBalancers&Version=2012-06-01"}, 400, "Sender/InvalidAction", "Could not find operation DescribeLoadBalancers for version 2012-06-01"},
		{"no version", signedRequest{body: "Action=DescribeLoadBalancers"}, 400, "Sender/InvalidAction", "Could not find operation DescribeLoadBalancers for version NO_VERSION_SPECIFIED"},
		{"validation before the operation", signedRequest{body: describeForm + "&PageSize=0"}, 400, "Sender/ValidationError",
			"1 validation error detected: Value '0' at 'pageSize' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"malformed form", signedRequest{body: describeForm + "&Names.member.1=%zz"}, 400, "Sender/MalformedQueryString", ""},
		{"action in the query of a POST", signedRequest{path: "/?" + describeForm, body: "PageSize=5"}, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, e := tt.req.sendFull(t, srv)
			code := ""
			if status != http.StatusOK {
				code = e.Error.Type + "/" + e.Error.Code
			}
			if status != tt.wantStatus || code != tt.wantCode {
				t.Errorf("got %d %q, want %d %q", status, code, tt.wantStatus, tt.wantCode)
			}
			if tt.wantMessage != "" && e.Error.Message != tt.wantMessage {
				t.Errorf("message %q, want %q", e.Error.Message, tt.wantMessage)
			}
		})
	}
}
