package elbapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elb/store"
)

const (
	itKeyID  = "AKIAKELBINTEGRATION1"
	itSecret = "kelb-integration-secret-key-000000000000"
)

// healthBoard is a HealthView the test sets verdicts on.
type healthBoard struct {
	mu sync.Mutex
	m  map[elb.TargetKey]elb.TargetHealth
}

func (h *healthBoard) set(k elb.TargetKey, th elb.TargetHealth) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[elb.TargetKey]elb.TargetHealth{}
	}
	h.m[k] = th
}

func (h *healthBoard) TargetHealth(tg string, k elb.TargetKey) (elb.TargetHealth, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.m[k]
	return v, ok
}

type elbServer struct {
	URL    string
	svc    *elb.Service
	health *healthBoard
	store  store.Store
}

// startELB serves the ELBv2 API of a fresh service on a bolt store.
func startELB(t *testing.T) *elbServer {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "kelb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	health := &healthBoard{}
	svc, err := elb.New(elb.Config{
		Store:    st,
		Health:   health,
		VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.42.0.0/16")},
		Zones: []elb.Zone{
			{Name: "us-west-2a", SubnetID: "subnet-0a", Pool: netip.MustParsePrefix("198.19.1.0/24"),
				TargetCIDRs: []netip.Prefix{netip.MustParsePrefix("10.42.128.0/19")}},
			{Name: "us-west-2c", SubnetID: "subnet-0c", Pool: netip.MustParsePrefix("198.19.3.0/24"),
				TargetCIDRs: []netip.Prefix{netip.MustParsePrefix("10.42.160.0/19")}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(HandlerConfig{
		Ops:         Ops(svc),
		Credentials: StaticCredentials{itKeyID: itSecret},
		Region:      "us-west-2",
	}))
	t.Cleanup(srv.Close)
	return &elbServer{URL: srv.URL, svc: svc, health: health, store: st}
}

func (s *elbServer) client(t *testing.T) *elbv2.Client {
	t.Helper()
	return elbv2.New(elbv2.Options{
		Region:           "us-west-2",
		BaseEndpoint:     aws.String(s.URL),
		RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: itKeyID, SecretAccessKey: itSecret}, nil
		}),
	})
}

// must returns v once the test has checked err: must(c.Op(ctx, in))(t).
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func wantAPIError(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code = %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
}

func TestSDKLifecycle(t *testing.T) {
	srv := startELB(t)
	c := srv.client(t)
	ctx := t.Context()

	lbOut := must(c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name:   aws.String("k8s-ui-uinlb-a1b2c3"),
		Type:   types.LoadBalancerTypeEnumNetwork,
		Scheme: types.LoadBalancerSchemeEnumInternetFacing,
		Tags:   []types.Tag{{Key: aws.String("elbv2.k8s.aws/cluster"), Value: aws.String("kelb")}},
	}))(t)
	lb := lbOut.LoadBalancers[0]
	lbARN := aws.ToString(lb.LoadBalancerArn)
	if lb.State.Code != types.LoadBalancerStateEnumProvisioning || lb.Type != types.LoadBalancerTypeEnumNetwork || len(lb.AvailabilityZones) != 2 {
		t.Errorf("created load balancer = %+v", lb)
	}
	if got := aws.ToString(lb.AvailabilityZones[0].LoadBalancerAddresses[0].IpAddress); got != "198.19.1.1" {
		t.Errorf("first address = %s, want 198.19.1.1", got)
	}
	if lb.CreatedTime == nil || lb.CreatedTime.IsZero() {
		t.Error("CreatedTime missing")
	}
	desc := must(c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{lbARN}}))(t)
	if got := desc.LoadBalancers[0].State.Code; got != types.LoadBalancerStateEnumActive {
		t.Errorf("described state = %s, want active", got)
	}

	tgOut := must(c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name:       aws.String("k8s-ui-uinlb-7f3a"),
		Protocol:   types.ProtocolEnumTcp,
		Port:       aws.Int32(8080),
		TargetType: types.TargetTypeEnumIp,
		VpcId:      aws.String("vpc-0ce1b000000000000"),
	}))(t)
	tg := tgOut.TargetGroups[0]
	tgARN := aws.ToString(tg.TargetGroupArn)
	gotHC := []any{tg.HealthCheckProtocol, aws.ToString(tg.HealthCheckPort), aws.ToInt32(tg.HealthCheckIntervalSeconds),
		aws.ToInt32(tg.HealthCheckTimeoutSeconds), aws.ToInt32(tg.HealthyThresholdCount), aws.ToInt32(tg.UnhealthyThresholdCount), aws.ToBool(tg.HealthCheckEnabled)}
	wantHC := []any{types.ProtocolEnumTcp, "traffic-port", int32(30), int32(10), int32(5), int32(2), true}
	if diff := cmp.Diff(wantHC, gotHC); diff != "" {
		t.Errorf("health check defaults (-want +got):\n%s", diff)
	}

	lsOut := must(c.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: aws.String(lbARN),
		Protocol:        types.ProtocolEnumTcp,
		Port:            aws.Int32(80),
		DefaultActions:  []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tgARN)}},
	}))(t)
	ls := lsOut.Listeners[0]
	lsARN := aws.ToString(ls.ListenerArn)
	if fc := ls.DefaultActions[0].ForwardConfig; fc == nil || len(fc.TargetGroups) != 1 || aws.ToInt32(fc.TargetGroups[0].Weight) != 1 {
		t.Errorf("listener forward config = %+v", ls.DefaultActions[0].ForwardConfig)
	}
	_, err := c.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: aws.String(lbARN), Protocol: types.ProtocolEnumUdp, Port: aws.Int32(80),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tgARN)}},
	})
	var dup *types.DuplicateListenerException
	if !errors.As(err, &dup) {
		t.Errorf("second listener on port 80: %v, want DuplicateListenerException", err)
	}

	tgs := must(c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{LoadBalancerArn: aws.String(lbARN)}))(t)
	if len(tgs.TargetGroups) != 1 || !cmp.Equal(tgs.TargetGroups[0].LoadBalancerArns, []string{lbARN}) {
		t.Errorf("target groups of the load balancer = %+v", tgs.TargetGroups)
	}

	must(c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{
		TargetGroupArn: aws.String(tgARN),
		Targets: []types.TargetDescription{
			{Id: aws.String("10.42.180.183"), Port: aws.Int32(8080)},
			{Id: aws.String("10.42.140.129")},
		},
	}))(t)
	srv.health.set(elb.TargetKey{ID: "10.42.140.129", Port: 8080}, elb.TargetHealth{State: elb.HealthHealthy})
	health := must(c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tgARN)}))(t)
	type line struct{ ID, AZ, Port, State, Reason, Description string }
	var got []line
	for _, d := range health.TargetHealthDescriptions {
		got = append(got, line{aws.ToString(d.Target.Id), aws.ToString(d.Target.AvailabilityZone), aws.ToString(d.HealthCheckPort),
			string(d.TargetHealth.State), string(d.TargetHealth.Reason), aws.ToString(d.TargetHealth.Description)})
	}
	want := []line{
		{"10.42.180.183", "us-west-2c", "8080", "initial", "Elb.RegistrationInProgress", "Target registration is in progress"},
		{"10.42.140.129", "us-west-2a", "8080", "healthy", "", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("target health (-want +got):\n%s", diff)
	}

	tgAttrs := must(c.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{
		TargetGroupArn: aws.String(tgARN),
		Attributes: []types.TargetGroupAttribute{
			{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String("10")},
			{Key: aws.String("preserve_client_ip.enabled"), Value: aws.String("true")},
		},
	}))(t)
	if m := attrsOf(tgAttrs.Attributes, func(a types.TargetGroupAttribute) (string, string) { return aws.ToString(a.Key), aws.ToString(a.Value) }); m["deregistration_delay.timeout_seconds"] != "10" || m["preserve_client_ip.enabled"] != "true" || m["stickiness.type"] != "source_ip" {
		t.Errorf("target group attributes = %v", m)
	}
	must(c.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{
		LoadBalancerArn: aws.String(lbARN),
		Attributes:      []types.LoadBalancerAttribute{{Key: aws.String("load_balancing.cross_zone.enabled"), Value: aws.String("true")}},
	}))(t)
	lbAttrs := must(c.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: aws.String(lbARN)}))(t)
	if m := attrsOf(lbAttrs.Attributes, func(a types.LoadBalancerAttribute) (string, string) {
		return aws.ToString(a.Key), aws.ToString(a.Value)
	}); m["load_balancing.cross_zone.enabled"] != "true" || m["deletion_protection.enabled"] != "false" {
		t.Errorf("load balancer attributes = %v", m)
	}
	lAttrs := must(c.ModifyListenerAttributes(ctx, &elbv2.ModifyListenerAttributesInput{
		ListenerArn: aws.String(lsARN),
		Attributes:  []types.ListenerAttribute{{Key: aws.String("tcp.idle_timeout.seconds"), Value: aws.String("600")}},
	}))(t)
	if m := attrsOf(lAttrs.Attributes, func(a types.ListenerAttribute) (string, string) {
		return aws.ToString(a.Key), aws.ToString(a.Value)
	}); m["tcp.idle_timeout.seconds"] != "600" {
		t.Errorf("listener attributes = %v", m)
	}
	_, err = c.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{
		LoadBalancerArn: aws.String(lbARN),
		Attributes:      []types.LoadBalancerAttribute{{Key: aws.String("idle_timeout.timeout_seconds"), Value: aws.String("30")}},
	})
	wantAPIError(t, err, "ValidationError")

	must(c.AddTags(ctx, &elbv2.AddTagsInput{
		ResourceArns: []string{lbARN, tgARN},
		Tags:         []types.Tag{{Key: aws.String("service.k8s.aws/stack"), Value: aws.String("ui/ui-nlb")}, {Key: aws.String("tmp"), Value: aws.String("x")}},
	}))(t)
	must(c.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: []string{tgARN}, TagKeys: []string{"tmp"}}))(t)
	tags := must(c.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{lbARN, tgARN}}))(t)
	var tagLines []string
	for _, d := range tags.TagDescriptions {
		for _, tag := range d.Tags {
			tagLines = append(tagLines, strings.Split(aws.ToString(d.ResourceArn), ":")[5][:5]+" "+aws.ToString(tag.Key)+"="+aws.ToString(tag.Value))
		}
	}
	wantTags := []string{"loadb elbv2.k8s.aws/cluster=kelb", "loadb service.k8s.aws/stack=ui/ui-nlb", "loadb tmp=x", "targe service.k8s.aws/stack=ui/ui-nlb"}
	if diff := cmp.Diff(wantTags, tagLines); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}

	must(c.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{
		TargetGroupArn: aws.String(tgARN),
		Targets:        []types.TargetDescription{{Id: aws.String("10.42.180.183"), Port: aws.Int32(8080)}},
	}))(t)
	drain := must(c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{
		TargetGroupArn: aws.String(tgARN),
		Targets:        []types.TargetDescription{{Id: aws.String("10.42.180.183"), Port: aws.Int32(8080)}},
	}))(t)
	if h := drain.TargetHealthDescriptions[0].TargetHealth; h.State != types.TargetHealthStateEnumDraining || h.Reason != types.TargetHealthReasonEnumDeregistrationInProgress {
		t.Errorf("deregistered target health = %+v", h)
	}

	_, err = c.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(tgARN)})
	var inUse *types.ResourceInUseException
	if !errors.As(err, &inUse) {
		t.Errorf("delete target group in use: %v, want ResourceInUseException", err)
	}
	must(c.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: aws.String(lsARN)}))(t)
	must(c.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(tgARN)}))(t)
	must(c.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(lbARN)}))(t)
	must(c.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(lbARN)}))(t)
	_, err = c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"k8s-ui-uinlb-a1b2c3"}})
	var lbNotFound *types.LoadBalancerNotFoundException
	if !errors.As(err, &lbNotFound) {
		t.Errorf("describe deleted load balancer: %v, want LoadBalancerNotFoundException", err)
	}
	all := must(c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{}))(t)
	if len(all.LoadBalancers) != 0 {
		t.Errorf("load balancers left: %d", len(all.LoadBalancers))
	}
}

func attrsOf[T any](attrs []T, kv func(T) (string, string)) map[string]string {
	m := map[string]string{}
	for _, a := range attrs {
		k, v := kv(a)
		m[k] = v
	}
	return m
}

func TestSDKTypedErrors(t *testing.T) {
	srv := startELB(t)
	c := srv.client(t)
	ctx := t.Context()
	missingTG := "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/nope/0123456789abcdef"
	missingLB := "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/net/nope/0123456789abcdef"
	tg := must(c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{VpcId: aws.String("vpc-0ce1b000000000000"),
		Name: aws.String("web"), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(80), TargetType: types.TargetTypeEnumIp,
	}))(t).TargetGroups[0]

	tests := []struct {
		name  string
		call  func() error
		check func(error) bool
	}{
		{"TargetGroupNotFound", func() error {
			_, err := c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(missingTG)})
			return err
		}, func(err error) bool { var e *types.TargetGroupNotFoundException; return errors.As(err, &e) }},
		{"LoadBalancerNotFound", func() error {
			_, err := c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{missingLB}})
			return err
		}, func(err error) bool { var e *types.LoadBalancerNotFoundException; return errors.As(err, &e) }},
		{"InvalidTarget", func() error {
			_, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tg.TargetGroupArn,
				Targets: []types.TargetDescription{{Id: aws.String("i-0123456789abcdef0")}}})
			return err
		}, func(err error) bool { var e *types.InvalidTargetException; return errors.As(err, &e) }},
		{"DuplicateTargetGroupName", func() error {
			_, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{VpcId: aws.String("vpc-0ce1b000000000000"), Name: aws.String("web"), Protocol: types.ProtocolEnumUdp, Port: aws.Int32(80), TargetType: types.TargetTypeEnumIp})
			return err
		}, func(err error) bool { var e *types.DuplicateTargetGroupNameException; return errors.As(err, &e) }},
		{"SubnetNotFound", func() error {
			_, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("x"), Subnets: []string{"subnet-nope"}})
			return err
		}, func(err error) bool { var e *types.SubnetNotFoundException; return errors.As(err, &e) }},
		{"ListenerNotFound", func() error {
			_, err := c.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: aws.String("arn:aws:elasticloadbalancing:us-west-2:123456789012:listener/net/nope/0123456789abcdef/0123456789abcdef")})
			return err
		}, func(err error) bool { var e *types.ListenerNotFoundException; return errors.As(err, &e) }},
		{"TooManyTags", func() error {
			var tags []types.Tag
			for i := range 51 {
				tags = append(tags, types.Tag{Key: aws.String("k" + string(rune('a'+i/26)) + string(rune('a'+i%26)))})
			}
			_, err := c.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{aws.ToString(tg.TargetGroupArn)}, Tags: tags})
			return err
		}, func(err error) bool { var e *types.TooManyTagsException; return errors.As(err, &e) }},
		{"ValidationError for a bad name", func() error {
			_, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{VpcId: aws.String("vpc-0ce1b000000000000"), Name: aws.String("bad_name"), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(80)})
			return err
		}, func(err error) bool {
			var ae smithy.APIError
			return errors.As(err, &ae) && ae.ErrorCode() == "ValidationError"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !tt.check(err) {
				t.Errorf("error = %v (%T), want %s", err, err, tt.name)
			}
		})
	}
}

func TestSDKPaginators(t *testing.T) {
	srv := startELB(t)
	c := srv.client(t)
	ctx := t.Context()
	var want []string
	for _, name := range []string{"tg-g", "tg-b", "tg-e", "tg-a", "tg-d", "tg-c", "tg-f"} {
		must(c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{VpcId: aws.String("vpc-0ce1b000000000000"), Name: aws.String(name), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(80), TargetType: types.TargetTypeEnumIp}))(t)
	}
	want = []string{"tg-a", "tg-b", "tg-c", "tg-d", "tg-e", "tg-f", "tg-g"}
	pager := elbv2.NewDescribeTargetGroupsPaginator(c, &elbv2.DescribeTargetGroupsInput{PageSize: aws.Int32(2)})
	var got []string
	pages := 0
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.TargetGroups) > 2 {
			t.Errorf("page %d has %d target groups, want at most 2", pages, len(page.TargetGroups))
		}
		for _, tg := range page.TargetGroups {
			got = append(got, aws.ToString(tg.TargetGroupName))
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paged target groups (-want +got):\n%s", diff)
	}
	if pages != 4 {
		t.Errorf("pages = %d, want 4", pages)
	}

	for _, name := range []string{"lb-c", "lb-a", "lb-b"} {
		must(c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String(name), Type: types.LoadBalancerTypeEnumNetwork}))(t)
	}
	lbPager := elbv2.NewDescribeLoadBalancersPaginator(c, &elbv2.DescribeLoadBalancersInput{PageSize: aws.Int32(1)})
	var lbs []string
	for lbPager.HasMorePages() {
		page := must(lbPager.NextPage(ctx))(t)
		for _, lb := range page.LoadBalancers {
			lbs = append(lbs, aws.ToString(lb.LoadBalancerName))
		}
	}
	if diff := cmp.Diff([]string{"lb-a", "lb-b", "lb-c"}, lbs); diff != "" {
		t.Errorf("paged load balancers (-want +got):\n%s", diff)
	}

	_, err := c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{PageSize: aws.Int32(0)})
	wantAPIError(t, err, "ValidationError")
}

// awsCLI runs the aws CLI against srv and returns its standard output.
func (s *elbServer) awsCLI(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not installed")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"elbv2"}, args...)...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HOME="+home,
		"AWS_CONFIG_FILE="+home+"/config",
		"AWS_SHARED_CREDENTIALS_FILE="+home+"/credentials",
		"AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2="+s.URL,
		"AWS_ACCESS_KEY_ID="+itKeyID,
		"AWS_SECRET_ACCESS_KEY="+itSecret,
		"AWS_DEFAULT_REGION=us-west-2",
		"AWS_MAX_ATTEMPTS=1",
		"AWS_PAGER=",
	)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws elbv2 %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}

// TestAWSCLISeedCommands runs the commands of the walkthroughs with the aws
// CLI, verbatim where they apply.
func TestAWSCLISeedCommands(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("aws CLI not installed")
	}
	srv := startELB(t)

	tgARN := decodeJSON[struct {
		TargetGroups []struct{ TargetGroupArn string }
	}](t, srv.awsCLI(t,
		"create-target-group", "--name", "k8s-ui-uinlb-2b1f8a", "--protocol", "TCP", "--port", "8080",
		"--target-type", "ip", "--vpc-id", "vpc-0ce1b000000000000")).TargetGroups[0].TargetGroupArn
	lbARN := decodeJSON[struct {
		LoadBalancers []struct{ LoadBalancerArn string }
	}](t, srv.awsCLI(t,
		"create-load-balancer", "--name", "k8s-ui-uinlb-e1f2a3b4c5", "--type", "network",
		"--subnets", "subnet-0a", "subnet-0c")).LoadBalancers[0].LoadBalancerArn
	srv.awsCLI(t, "create-load-balancer", "--name", "k8s-other-lb", "--type", "network")
	srv.awsCLI(t, "create-listener", "--load-balancer-arn", lbARN, "--protocol", "TCP", "--port", "80",
		"--default-actions", "Type=forward,TargetGroupArn="+tgARN)
	srv.awsCLI(t, "register-targets", "--target-group-arn", tgARN, "--targets", "Id=10.42.180.183,Port=8080")

	// ALB_ARN=$(aws elbv2 describe-load-balancers --query '...' | jq -r '.[0]')
	arns := decodeJSON[[]string](t, srv.awsCLI(t, "describe-load-balancers", "--query",
		"LoadBalancers[?contains(LoadBalancerName, `k8s-ui-uinlb`) == `true`].LoadBalancerArn"))
	if diff := cmp.Diff([]string{lbARN}, arns); diff != "" {
		t.Fatalf("query by name (-want +got):\n%s", diff)
	}
	// TARGET_GROUP_ARN=$(aws elbv2 describe-target-groups --load-balancer-arn $ALB_ARN | jq -r '.TargetGroups[0].TargetGroupArn')
	gotTG := decodeJSON[struct {
		TargetGroups []struct{ TargetGroupArn string }
	}](t,
		srv.awsCLI(t, "describe-target-groups", "--load-balancer-arn", arns[0])).TargetGroups[0].TargetGroupArn
	if gotTG != tgARN {
		t.Fatalf("target group of the load balancer = %s, want %s", gotTG, tgARN)
	}
	// aws elbv2 describe-target-health --target-group-arn $TARGET_GROUP_ARN
	health := decodeJSON[map[string]any](t, srv.awsCLI(t, "describe-target-health", "--target-group-arn", gotTG))
	wantHealth := map[string]any{
		"TargetHealthDescriptions": []any{map[string]any{
			"Target":          map[string]any{"Id": "10.42.180.183", "Port": float64(8080), "AvailabilityZone": "us-west-2c"},
			"HealthCheckPort": "8080",
			"TargetHealth":    map[string]any{"State": "initial", "Reason": "Elb.RegistrationInProgress", "Description": "Target registration is in progress"},
		}},
	}
	if diff := cmp.Diff(wantHealth, health); diff != "" {
		t.Errorf("describe-target-health (-want +got):\n%s", diff)
	}
	// aws elbv2 describe-load-balancers --query 'LoadBalancers[*].State.Code' --output text
	if got := strings.Fields(srv.awsCLI(t, "describe-load-balancers", "--query", "LoadBalancers[*].State.Code", "--output", "text")); !cmp.Equal(got, []string{"active", "active"}) {
		t.Errorf("state codes = %q, want two active", got)
	}
	// aws elbv2 describe-load-balancers | jq
	all := decodeJSON[struct {
		LoadBalancers []struct {
			LoadBalancerName  string
			DNSName           string
			Type              string
			AvailabilityZones []struct{ ZoneName string }
		}
	}](t, srv.awsCLI(t, "describe-load-balancers"))
	if len(all.LoadBalancers) != 2 || all.LoadBalancers[1].Type != "network" || len(all.LoadBalancers[1].AvailabilityZones) != 2 ||
		!strings.HasPrefix(all.LoadBalancers[1].DNSName, "k8s-ui-uinlb-e1f2a3b4c5-") || !strings.HasSuffix(all.LoadBalancers[1].DNSName, ".elb.us-west-2.kelb.local") {
		t.Errorf("describe-load-balancers = %+v", all)
	}
	attrs := decodeJSON[struct{ Attributes []struct{ Key, Value string } }](t, srv.awsCLI(t,
		"modify-target-group-attributes", "--target-group-arn", tgARN, "--attributes", "Key=deregistration_delay.timeout_seconds,Value=30"))
	found := false
	for _, a := range attrs.Attributes {
		found = found || a.Key == "deregistration_delay.timeout_seconds" && a.Value == "30"
	}
	if !found {
		t.Errorf("modify-target-group-attributes = %+v", attrs)
	}
}

func TestBoto3(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	if err := exec.Command(py, "-c", "import boto3").Run(); err != nil {
		t.Skip("boto3 not installed")
	}
	srv := startELB(t)
	script := `
import json, os, boto3
c = boto3.client("elbv2", endpoint_url=os.environ["KELB_ENDPOINT"], region_name="us-west-2",
                 aws_access_key_id=os.environ["KELB_KEY"], aws_secret_access_key=os.environ["KELB_SECRET"])
tg = c.create_target_group(Name="boto-tg", Protocol="TCP", Port=80, TargetType="ip", VpcId="vpc-0ce1b000000000000")["TargetGroups"][0]
lb = c.create_load_balancer(Name="boto-lb", Type="network")["LoadBalancers"][0]
c.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="TCP", Port=80,
                  DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
c.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": "10.42.140.129", "Port": 8080}])
h = c.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
d = c.describe_load_balancers(Names=["boto-lb"])["LoadBalancers"][0]
try:
    c.describe_target_groups(Names=["nope"])
    err = None
except c.exceptions.TargetGroupNotFoundException as e:
    err = e.response["Error"]["Code"]
print(json.dumps({"state": d["State"]["Code"], "type": d["Type"], "health": h[0]["TargetHealth"]["State"],
                  "zone": h[0]["Target"]["AvailabilityZone"], "created": d["CreatedTime"].year > 2000, "err": err}))
`
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c", script)
	cmd.Env = append(os.Environ(), "KELB_ENDPOINT="+srv.URL, "KELB_KEY="+itKeyID, "KELB_SECRET="+itSecret,
		"HOME="+t.TempDir(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("boto3 script: %v\n%s", err, stderr.String())
	}
	got := decodeJSON[map[string]any](t, string(out))
	want := map[string]any{"state": "active", "type": "network", "health": "initial", "zone": "us-west-2a", "created": true, "err": "TargetGroupNotFound"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("boto3 (-want +got):\n%s", diff)
	}
}

func TestSDKRules(t *testing.T) {
	srv := startELB(t)
	c := srv.client(t)
	ctx := t.Context()
	lb := must(c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("k8s-ingress-alb")}))(t).LoadBalancers[0]
	web := must(c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{VpcId: aws.String("vpc-0ce1b000000000000"), Name: aws.String("web"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80), TargetType: types.TargetTypeEnumIp}))(t).TargetGroups[0]
	api := must(c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{VpcId: aws.String("vpc-0ce1b000000000000"), Name: aws.String("api"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(8080), TargetType: types.TargetTypeEnumIp}))(t).TargetGroups[0]
	if aws.ToString(web.HealthCheckPath) != "/" || aws.ToString(web.Matcher.HttpCode) != "200" || aws.ToInt32(web.HealthCheckTimeoutSeconds) != 5 {
		t.Errorf("HTTP health check defaults = path %q matcher %+v timeout %d", aws.ToString(web.HealthCheckPath), web.Matcher, aws.ToInt32(web.HealthCheckTimeoutSeconds))
	}
	l := must(c.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancerArn, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumFixedResponse, FixedResponseConfig: &types.FixedResponseActionConfig{
			StatusCode: aws.String("404"), ContentType: aws.String("text/plain"), MessageBody: aws.String("not found")}}},
	}))(t).Listeners[0]
	must(c.CreateRule(ctx, &elbv2.CreateRuleInput{
		ListenerArn: l.ListenerArn, Priority: aws.Int32(1),
		Conditions: []types.RuleCondition{{Field: aws.String("path-pattern"), PathPatternConfig: &types.PathPatternConditionConfig{Values: []string{"/api/*"}}}},
		Actions: []types.Action{{Type: types.ActionTypeEnumForward, ForwardConfig: &types.ForwardActionConfig{
			TargetGroups: []types.TargetGroupTuple{{TargetGroupArn: api.TargetGroupArn, Weight: aws.Int32(3)}, {TargetGroupArn: web.TargetGroupArn, Weight: aws.Int32(1)}}}}},
	}))(t)
	must(c.CreateRule(ctx, &elbv2.CreateRuleInput{
		ListenerArn: l.ListenerArn, Priority: aws.Int32(2),
		Conditions: []types.RuleCondition{{Field: aws.String("http-header"), HttpHeaderConfig: &types.HttpHeaderConditionConfig{HttpHeaderName: aws.String("X-Canary"), Values: []string{"yes"}}}},
		Actions:    []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: web.TargetGroupArn}},
	}))(t)
	_, err := c.CreateRule(ctx, &elbv2.CreateRuleInput{
		ListenerArn: l.ListenerArn, Priority: aws.Int32(2),
		Conditions: []types.RuleCondition{{Field: aws.String("host-header"), Values: []string{"a.example.com"}}},
		Actions:    []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: web.TargetGroupArn}},
	})
	var inUse *types.PriorityInUseException
	if !errors.As(err, &inUse) {
		t.Errorf("duplicate priority: %v, want PriorityInUseException", err)
	}

	rules := must(c.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: l.ListenerArn}))(t).Rules
	type line struct {
		Priority, Field, Values, Action string
		Weights                         []int32
		IsDefault                       bool
	}
	var got []line
	for _, r := range rules {
		ln := line{Priority: aws.ToString(r.Priority), IsDefault: aws.ToBool(r.IsDefault), Action: string(r.Actions[0].Type)}
		if len(r.Conditions) > 0 {
			c := r.Conditions[0]
			ln.Field = aws.ToString(c.Field)
			switch {
			case c.PathPatternConfig != nil:
				ln.Values = strings.Join(c.PathPatternConfig.Values, ",")
			case c.HttpHeaderConfig != nil:
				ln.Values = aws.ToString(c.HttpHeaderConfig.HttpHeaderName) + ":" + strings.Join(c.HttpHeaderConfig.Values, ",")
			}
		}
		if fc := r.Actions[0].ForwardConfig; fc != nil {
			for _, tg := range fc.TargetGroups {
				ln.Weights = append(ln.Weights, aws.ToInt32(tg.Weight))
			}
		}
		got = append(got, ln)
	}
	want := []line{
		{Priority: "1", Field: "path-pattern", Values: "/api/*", Action: "forward", Weights: []int32{3, 1}},
		{Priority: "2", Field: "http-header", Values: "X-Canary:yes", Action: "forward", Weights: []int32{1}},
		{Priority: "default", Action: "fixed-response", IsDefault: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	if fr := rules[2].Actions[0].FixedResponseConfig; fr == nil || aws.ToString(fr.MessageBody) != "not found" {
		t.Errorf("default rule fixed response = %+v", fr)
	}
	must(c.SetRulePriorities(ctx, &elbv2.SetRulePrioritiesInput{RulePriorities: []types.RulePriorityPair{
		{RuleArn: rules[0].RuleArn, Priority: aws.Int32(5)}}}))(t)
	must(c.DeleteRule(ctx, &elbv2.DeleteRuleInput{RuleArn: rules[1].RuleArn}))(t)
	left := must(c.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: l.ListenerArn}))(t).Rules
	if len(left) != 2 || aws.ToString(left[0].Priority) != "5" {
		t.Errorf("rules after changes = %d, first priority %q", len(left), aws.ToString(left[0].Priority))
	}
}
