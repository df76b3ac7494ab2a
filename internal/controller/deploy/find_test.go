package deploy_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/model"
	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/elbapi"
)

const (
	keyID    = "AKIDKELBTEST"
	secret   = "kelb-test-secret"
	stackTag = "service.k8s.aws/stack"
)

// server starts a kelb server API in process and returns a client for it.
func server(t *testing.T) *elbv2.Client {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "kelb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := elb.New(elb.Config{
		Store:    st,
		VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15")},
		Zones:    []elb.Zone{{Name: "us-west-2a", SubnetID: "subnet-a", Pool: netip.MustParsePrefix("198.19.1.0/24")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(elbapi.NewHandler(elbapi.HandlerConfig{
		Ops:         elbapi.Ops(svc),
		Credentials: elbapi.StaticCredentials{keyID: secret},
		Region:      svc.Region(),
	}))
	t.Cleanup(srv.Close)
	return elbv2.New(elbv2.Options{
		Region:       svc.Region(),
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
	})
}

func tags(stack, cluster string) []types.Tag {
	out := []types.Tag{{Key: aws.String(stackTag), Value: aws.String(stack)}}
	if cluster != "" {
		out = append(out, types.Tag{Key: aws.String(deploy.TagCluster), Value: aws.String(cluster)})
	}
	return out
}

func createTargetGroup(t *testing.T, c *elbv2.Client, name, stack, cluster string) string {
	t.Helper()
	out, err := c.CreateTargetGroup(context.Background(), &elbv2.CreateTargetGroupInput{
		Name: aws.String(name), VpcId: aws.String("vpc-0ce1b000000000000"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(8080), TargetType: types.TargetTypeEnumIp,
		HealthCheckPath: aws.String("/healthz"), Matcher: &types.Matcher{HttpCode: aws.String("200-299")},
		Tags: tags(stack, cluster),
	})
	if err != nil {
		t.Fatalf("create target group %s: %v", name, err)
	}
	return aws.ToString(out.TargetGroups[0].TargetGroupArn)
}

func createLoadBalancer(t *testing.T, c *elbv2.Client, name, stack, cluster string) string {
	t.Helper()
	out, err := c.CreateLoadBalancer(context.Background(), &elbv2.CreateLoadBalancerInput{
		Name: aws.String(name), Type: types.LoadBalancerTypeEnumNetwork, Scheme: types.LoadBalancerSchemeEnumInternal,
		Tags: tags(stack, cluster),
	})
	if err != nil {
		t.Fatalf("create load balancer %s: %v", name, err)
	}
	return aws.ToString(out.LoadBalancers[0].LoadBalancerArn)
}

func TestOwnerOwns(t *testing.T) {
	tests := []struct {
		name    string
		cluster string
		tags    map[string]string
		want    bool
	}{
		{"stack and cluster", "c1", map[string]string{stackTag: "ui/web", deploy.TagCluster: "c1"}, true},
		{"other cluster", "c1", map[string]string{stackTag: "ui/web", deploy.TagCluster: "c2"}, false},
		{"no cluster tag", "c1", map[string]string{stackTag: "ui/web"}, false},
		{"any cluster", "", map[string]string{stackTag: "ui/web", deploy.TagCluster: "c2"}, true},
		{"other stack", "c1", map[string]string{stackTag: "ui/api", deploy.TagCluster: "c1"}, false},
		{"no tags", "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := deploy.Owner{StackTag: stackTag, StackID: "ui/web", ClusterName: tt.cluster}
			if got := o.Owns(tt.tags); got != tt.want {
				t.Errorf("Owns(%v) = %v, want %v", tt.tags, got, tt.want)
			}
		})
	}
}

// TestFindTargetGroups finds a stack's target groups among more than one
// DescribeTags batch of others.
func TestFindTargetGroups(t *testing.T) {
	c := server(t)
	ctx := context.Background()
	var want []string
	for i := range 25 {
		stack, cluster := "ui/other", "c1"
		switch {
		case i%5 == 0:
			stack = "ui/web"
			want = append(want, fmt.Sprintf("tg-%02d", i))
		case i%7 == 0:
			stack, cluster = "ui/web", "c2"
		}
		createTargetGroup(t, c, fmt.Sprintf("tg-%02d", i), stack, cluster)
	}
	owner := deploy.Owner{StackTag: stackTag, StackID: "ui/web", ClusterName: "c1"}
	found, err := deploy.FindTargetGroups(ctx, c, owner.Owns)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range found {
		got = append(got, tg.Name)
		if diff := cmp.Diff(model.HealthCheck{
			Protocol: "HTTP", Port: "traffic-port", Path: "/healthz", HTTPCode: "200-299",
			IntervalSeconds: tg.HealthCheck.IntervalSeconds, TimeoutSeconds: tg.HealthCheck.TimeoutSeconds,
			HealthyThreshold: tg.HealthCheck.HealthyThreshold, UnhealthyThreshold: tg.HealthCheck.UnhealthyThreshold,
		}, tg.HealthCheck); diff != "" {
			t.Errorf("%s health check (-want +got):\n%s", tg.Name, diff)
		}
		if tg.Tags[stackTag] != "ui/web" || tg.Protocol != "HTTP" || tg.Port != 8080 || len(tg.Attributes) == 0 {
			t.Errorf("%s: tags %v, protocol %s, port %d, %d attributes", tg.Name, tg.Tags, tg.Protocol, tg.Port, len(tg.Attributes))
		}
	}
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("target groups (-want +got):\n%s", diff)
	}
}

// TestFindLoadBalancers finds one load balancer of the stack with its
// attributes and listeners, and reports the others tagged for it.
func TestFindLoadBalancers(t *testing.T) {
	c := server(t)
	ctx := context.Background()
	first := createLoadBalancer(t, c, "web-1", "ui/web", "c1")
	second := createLoadBalancer(t, c, "web-2", "ui/web", "c1")
	createLoadBalancer(t, c, "api", "ui/api", "c1")
	tgOut, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String("web-tg"), VpcId: aws.String("vpc-0ce1b000000000000"), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(8080), TargetType: types.TargetTypeEnumIp,
		Tags: tags("ui/web", "c1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	tg := aws.ToString(tgOut.TargetGroups[0].TargetGroupArn)

	owner := deploy.Owner{StackTag: stackTag, StackID: "ui/web", ClusterName: "c1"}
	lb, others, err := deploy.FindLoadBalancers(ctx, c, owner.Owns)
	if err != nil {
		t.Fatal(err)
	}
	if lb == nil {
		t.Fatal("no load balancer found")
	}
	gotARNs := append([]string{lb.ARN}, others...)
	sort.Strings(gotARNs)
	wantARNs := []string{first, second}
	sort.Strings(wantARNs)
	if diff := cmp.Diff(wantARNs, gotARNs); diff != "" {
		t.Errorf("load balancers (-want +got):\n%s", diff)
	}
	if lb.Type != "network" || lb.Scheme != "internal" || len(lb.Attributes) == 0 || len(lb.Addresses) == 0 ||
		!cmp.Equal(lb.Subnets, []string{"subnet-a"}) || !cmp.Equal(lb.Zones, []string{"us-west-2a"}) {
		t.Errorf("load balancer %+v", lb)
	}

	ls, err := c.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: &lb.ARN, Port: aws.Int32(80), Protocol: types.ProtocolEnumTcp,
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: &tg}},
		Tags:           tags("ui/web", "c1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	lsARN := aws.ToString(ls.Listeners[0].ListenerArn)
	if err := deploy.SetListenerAttributes(ctx, c, lsARN, map[string]string{"kelb.source_ranges.cidrs": "10.0.0.0/8"}); err != nil {
		t.Fatal(err)
	}
	found, err := deploy.FindListeners(ctx, c, lb.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 {
		t.Fatalf("%d listeners, want 1", len(found))
	}
	l := found[0]
	if l.ARN != lsARN || aws.ToInt32(l.Listener.Port) != 80 || l.Tags[stackTag] != "ui/web" || l.Attributes["kelb.source_ranges.cidrs"] != "10.0.0.0/8" {
		t.Errorf("listener %s port %d tags %v attributes %v", l.ARN, aws.ToInt32(l.Listener.Port), l.Tags, l.Attributes)
	}
}

func TestNotFound(t *testing.T) {
	c := server(t)
	ctx := context.Background()
	_, err := c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{
		TargetGroupArns: []string{"arn:aws:elasticloadbalancing:us-west-2:000000000000:targetgroup/gone/0123456789abcdef"},
	})
	if err == nil || !deploy.NotFound(err) {
		t.Errorf("describe of a missing target group: NotFound(%v) = false, want true", err)
	}
	if deploy.NotFound(fmt.Errorf("dial: connection refused")) {
		t.Error("NotFound of a plain error is true")
	}
}

func TestSDKTagsInKeyOrder(t *testing.T) {
	got := deploy.SDKTags(map[string]string{"b": "2", "a": "1", "c": ""})
	var keys []string
	for _, tg := range got {
		keys = append(keys, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
	}
	if diff := cmp.Diff([]string{"a=1", "b=2", "c="}, keys); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
}
