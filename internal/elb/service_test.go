package elb

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kelb-io/kelb/internal/certstore"
	"github.com/kelb-io/kelb/internal/elb/store"
)

var testZones = []Zone{
	{Name: "us-west-2a", SubnetID: "subnet-a", Pool: netip.MustParsePrefix("198.19.1.0/24"),
		TargetCIDRs: []netip.Prefix{netip.MustParsePrefix("198.18.1.0/24")}},
	{Name: "us-west-2b", SubnetID: "subnet-b", Pool: netip.MustParsePrefix("198.19.2.0/24"),
		TargetCIDRs: []netip.Prefix{netip.MustParsePrefix("198.18.2.0/24")}},
	{Name: "us-west-2c", SubnetID: "subnet-c", Pool: netip.MustParsePrefix("198.19.3.0/30")},
}

// testVPC holds the test zones' target networks and 10.0.0.0/8.
var testVPC = []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("10.0.0.0/8")}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeHealth is a HealthView with fixed verdicts.
type fakeHealth map[TargetKey]TargetHealth

func (h fakeHealth) TargetHealth(tg string, k TargetKey) (TargetHealth, bool) {
	v, ok := h[k]
	return v, ok
}

type testEnv struct {
	svc   *Service
	store *store.Bolt
	clock *fakeClock
}

func newTestEnv(t *testing.T, mutate ...func(*Config)) *testEnv {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "kelb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := &fakeClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	cfg := Config{Store: st, Zones: testZones, VPCCIDRs: testVPC, Now: clock.Now}
	for _, m := range mutate {
		m(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{svc: svc, store: st, clock: clock}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want code %s", err, code)
	}
	if e.Code != code {
		t.Fatalf("error code = %s (%s), want %s", e.Code, e.Message, code)
	}
}

func (e *testEnv) nlb(t *testing.T, name string) LoadBalancer {
	t.Helper()
	lb, err := e.svc.CreateLoadBalancer(context.Background(), CreateLoadBalancerInput{Name: name, Type: TypeNetwork})
	if err != nil {
		t.Fatal(err)
	}
	return lb
}

func (e *testEnv) tg(t *testing.T, name, protocol string) TargetGroup {
	t.Helper()
	tg, err := e.svc.CreateTargetGroup(context.Background(), CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000",
		Name: name, Protocol: protocol, Port: 8080, TargetType: TargetTypeIP})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func (e *testEnv) listener(t *testing.T, lb, tg, protocol string, port int32) Listener {
	t.Helper()
	l, err := e.svc.CreateListener(context.Background(), CreateListenerInput{
		LoadBalancerARN: lb, Protocol: protocol, Port: port,
		DefaultActions: []Action{{Type: ActionForward, TargetGroupARN: tg}}})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestCreateLoadBalancer(t *testing.T) {
	addr := netip.MustParseAddr
	tests := []struct {
		name      string
		in        CreateLoadBalancerInput
		wantCode  string
		wantZones []ZoneAddress
	}{
		{
			name: "all zones by default",
			in:   CreateLoadBalancerInput{Name: "k8s-ui-uinlb", Type: TypeNetwork, Scheme: SchemeInternetFacing},
			wantZones: []ZoneAddress{
				{Zone: "us-west-2a", SubnetID: "subnet-a", Address: addr("198.19.1.1")},
				{Zone: "us-west-2b", SubnetID: "subnet-b", Address: addr("198.19.2.1")},
				{Zone: "us-west-2c", SubnetID: "subnet-c", Address: addr("198.19.3.1")},
			},
		},
		{
			name: "subnets select zones",
			in:   CreateLoadBalancerInput{Name: "web", Type: TypeApplication, Subnets: []string{"subnet-b"}},
			wantZones: []ZoneAddress{
				{Zone: "us-west-2b", SubnetID: "subnet-b", Address: addr("198.19.2.1")},
			},
		},
		{
			name: "subnet mapping with an address",
			in: CreateLoadBalancerInput{Name: "fixed", Type: TypeNetwork,
				SubnetMappings: []SubnetMapping{{SubnetID: "subnet-a", PrivateIPv4Address: "198.19.1.77"}}},
			wantZones: []ZoneAddress{
				{Zone: "us-west-2a", SubnetID: "subnet-a", Address: addr("198.19.1.77")},
			},
		},
		{
			name:     "address outside the pool",
			in:       CreateLoadBalancerInput{Name: "fixed", Type: TypeNetwork, SubnetMappings: []SubnetMapping{{SubnetID: "subnet-a", PrivateIPv4Address: "198.19.2.7"}}},
			wantCode: CodeInvalidConfigurationRequest,
		},
		{
			name:     "broadcast address",
			in:       CreateLoadBalancerInput{Name: "fixed", Type: TypeNetwork, SubnetMappings: []SubnetMapping{{SubnetID: "subnet-a", PrivateIPv4Address: "198.19.1.255"}}},
			wantCode: CodeInvalidConfigurationRequest,
		},
		{
			name:     "unknown subnet",
			in:       CreateLoadBalancerInput{Name: "web", Subnets: []string{"subnet-zz"}},
			wantCode: CodeSubnetNotFound,
		},
		{
			name:     "same subnet twice",
			in:       CreateLoadBalancerInput{Name: "web", Subnets: []string{"subnet-a", "subnet-a"}},
			wantCode: CodeInvalidConfigurationRequest,
		},
		{name: "name too long", in: CreateLoadBalancerInput{Name: "a23456789012345678901234567890123"}, wantCode: CodeValidationError},
		{name: "name with underscore", in: CreateLoadBalancerInput{Name: "my_lb"}, wantCode: CodeValidationError},
		{name: "name ending in hyphen", in: CreateLoadBalancerInput{Name: "lb-"}, wantCode: CodeValidationError},
		{name: "internal- prefix", in: CreateLoadBalancerInput{Name: "internal-lb"}, wantCode: CodeValidationError},
		{name: "gateway type", in: CreateLoadBalancerInput{Name: "gw", Type: "gateway"}, wantCode: CodeValidationError},
		{name: "duplicate tag keys", in: CreateLoadBalancerInput{Name: "t", Tags: []Tag{{Key: "a"}, {Key: "a"}}}, wantCode: CodeDuplicateTagKeys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			lb, err := env.svc.CreateLoadBalancer(context.Background(), tt.in)
			wantCode(t, err, tt.wantCode)
			rev, _ := env.store.Revision(context.Background())
			if tt.wantCode != "" {
				if rev != 0 {
					t.Errorf("failed create wrote to the store (revision %d)", rev)
				}
				return
			}
			if diff := cmp.Diff(tt.wantZones, lb.Zones, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Errorf("zones (-want +got):\n%s", diff)
			}
			typ := "net"
			if lb.Type == TypeApplication {
				typ = "app"
			}
			arnRE := regexp.MustCompile(`^arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/` + typ + `/` + tt.in.Name + `/([0-9a-f]{16})$`)
			m := arnRE.FindStringSubmatch(lb.ARN)
			if m == nil {
				t.Fatalf("ARN %q does not match %s", lb.ARN, arnRE)
			}
			if want := tt.in.Name + "-" + m[1] + ".elb.us-west-2.kelb.local"; lb.DNSName != want {
				t.Errorf("DNSName = %q, want %q", lb.DNSName, want)
			}
			if lb.State != StateProvisioning {
				t.Errorf("create answered state %q, want provisioning", lb.State)
			}
			got, err := env.svc.DescribeLoadBalancers(context.Background(), DescribeLoadBalancersInput{Names: []string{tt.in.Name}})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].State != StateActive {
				t.Errorf("describe after create = %+v, want one active load balancer", got)
			}
		})
	}
}

func TestCreateLoadBalancerIdempotent(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	a := env.nlb(t, "web")
	b, err := env.svc.CreateLoadBalancer(ctx, CreateLoadBalancerInput{Name: "web", Type: TypeNetwork})
	wantCode(t, err, "")
	if a.ARN != b.ARN {
		t.Errorf("second create gave %s, want %s", b.ARN, a.ARN)
	}
	_, err = env.svc.CreateLoadBalancer(ctx, CreateLoadBalancerInput{Name: "web", Type: TypeApplication})
	wantCode(t, err, CodeDuplicateLoadBalancerName)
}

func TestAddressAllocation(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	in := func(name string) CreateLoadBalancerInput {
		return CreateLoadBalancerInput{Name: name, Type: TypeNetwork, Subnets: []string{"subnet-c"}}
	}
	// 198.19.3.0/30 has two usable addresses: .1 and .2.
	a, err := env.svc.CreateLoadBalancer(ctx, in("a"))
	wantCode(t, err, "")
	b, err := env.svc.CreateLoadBalancer(ctx, in("b"))
	wantCode(t, err, "")
	_, err = env.svc.CreateLoadBalancer(ctx, in("c"))
	wantCode(t, err, CodeInvalidSubnet)
	if err := env.svc.DeleteLoadBalancer(ctx, a.ARN); err != nil {
		t.Fatal(err)
	}
	c, err := env.svc.CreateLoadBalancer(ctx, in("c"))
	wantCode(t, err, "")
	got := []string{a.Zones[0].Address.String(), b.Zones[0].Address.String(), c.Zones[0].Address.String()}
	if diff := cmp.Diff([]string{"198.19.3.1", "198.19.3.2", "198.19.3.1"}, got); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
}

func TestDescribeLoadBalancers(t *testing.T) {
	env := newTestEnv(t)
	ui := env.nlb(t, "k8s-ui-uinlb")
	api := env.nlb(t, "api")
	tests := []struct {
		name     string
		in       DescribeLoadBalancersInput
		want     []string
		wantCode string
	}{
		{name: "all, by name", want: []string{"api", "k8s-ui-uinlb"}},
		{name: "by ARN", in: DescribeLoadBalancersInput{LoadBalancerARNs: []string{ui.ARN}}, want: []string{"k8s-ui-uinlb"}},
		{name: "by names", in: DescribeLoadBalancersInput{Names: []string{"k8s-ui-uinlb", "api"}}, want: []string{"api", "k8s-ui-uinlb"}},
		{name: "a missing name", in: DescribeLoadBalancersInput{Names: []string{"api", "nope"}}, wantCode: CodeLoadBalancerNotFound},
		{name: "a missing ARN", in: DescribeLoadBalancersInput{LoadBalancerARNs: []string{api.ARN, api.ARN + "0"}}, wantCode: CodeLoadBalancerNotFound},
		{name: "names and ARNs", in: DescribeLoadBalancersInput{LoadBalancerARNs: []string{api.ARN}, Names: []string{"api"}}, wantCode: CodeValidationError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lbs, err := env.svc.DescribeLoadBalancers(context.Background(), tt.in)
			wantCode(t, err, tt.wantCode)
			var names []string
			for _, lb := range lbs {
				names = append(names, lb.Name)
			}
			if diff := cmp.Diff(tt.want, names); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeleteLoadBalancer(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	lb := env.nlb(t, "web")
	tg := env.tg(t, "web-tcp", "TCP")
	env.listener(t, lb.ARN, tg.ARN, "TCP", 80)

	_, err := env.svc.ModifyLoadBalancerAttributes(ctx, lb.ARN, []Attribute{{Key: "deletion_protection.enabled", Value: "true"}})
	wantCode(t, err, "")
	wantCode(t, env.svc.DeleteLoadBalancer(ctx, lb.ARN), CodeOperationNotPermitted)
	_, err = env.svc.ModifyLoadBalancerAttributes(ctx, lb.ARN, []Attribute{{Key: "deletion_protection.enabled", Value: "false"}})
	wantCode(t, err, "")

	// The target group is in use until the load balancer has gone.
	wantCode(t, env.svc.DeleteTargetGroup(ctx, tg.ARN), CodeResourceInUse)
	wantCode(t, env.svc.DeleteLoadBalancer(ctx, lb.ARN), "")
	wantCode(t, env.svc.DeleteLoadBalancer(ctx, lb.ARN), "")
	st, err := env.svc.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.LoadBalancers) != 0 || len(st.Listeners) != 0 {
		t.Errorf("after delete: %d load balancers, %d listeners; want none", len(st.LoadBalancers), len(st.Listeners))
	}
	wantCode(t, env.svc.DeleteTargetGroup(ctx, tg.ARN), "")
	wantCode(t, env.svc.DeleteTargetGroup(ctx, tg.ARN), "")
	wantCode(t, env.svc.DeleteLoadBalancer(ctx, "not-an-arn"), CodeValidationError)
}

func attrMap(attrs []Attribute) map[string]string {
	m := map[string]string{}
	for _, a := range attrs {
		m[a.Key] = a.Value
	}
	return m
}

func TestLoadBalancerAttributes(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	nlb := env.nlb(t, "net")
	alb, err := env.svc.CreateLoadBalancer(ctx, CreateLoadBalancerInput{Name: "app"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := env.svc.DescribeLoadBalancerAttributes(ctx, nlb.ARN)
	if err != nil {
		t.Fatal(err)
	}
	wantNLB := map[string]string{
		"deletion_protection.enabled":       "false",
		"load_balancing.cross_zone.enabled": "false",
		"access_logs.s3.enabled":            "false",
		"access_logs.s3.bucket":             "",
		"access_logs.s3.prefix":             "",
		"ipv6.deny_all_igw_traffic":         "false",
		"dns_record.client_routing_policy":  "any_availability_zone",
		"zonal_shift.config.enabled":        "false",
		// 0 to 7 extra addresses per zone, as AWS bounds them.
		"secondary_ips.auto_assigned.per_subnet": "0",
	}
	if diff := cmp.Diff(wantNLB, attrMap(got)); diff != "" {
		t.Errorf("NLB attributes (-want +got):\n%s", diff)
	}
	gotALB, err := env.svc.DescribeLoadBalancerAttributes(ctx, alb.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if m := attrMap(gotALB); m["idle_timeout.timeout_seconds"] != "60" || m["routing.http2.enabled"] != "true" || m["load_balancing.cross_zone.enabled"] != "true" {
		t.Errorf("ALB attributes miss AWS defaults: %v", m)
	}

	tests := []struct {
		name     string
		arn      string
		attrs    []Attribute
		wantCode string
		want     map[string]string // subset
	}{
		{name: "cross zone on", arn: nlb.ARN, attrs: []Attribute{{Key: "load_balancing.cross_zone.enabled", Value: "true"}},
			want: map[string]string{"load_balancing.cross_zone.enabled": "true", "deletion_protection.enabled": "false"}},
		{name: "routing policy", arn: nlb.ARN, attrs: []Attribute{{Key: "dns_record.client_routing_policy", Value: "availability_zone_affinity"}},
			want: map[string]string{"dns_record.client_routing_policy": "availability_zone_affinity", "load_balancing.cross_zone.enabled": "true"}},
		{name: "unknown key", arn: nlb.ARN, attrs: []Attribute{{Key: "idle_timeout.timeout_seconds", Value: "30"}}, wantCode: CodeValidationError},
		{name: "bad bool", arn: nlb.ARN, attrs: []Attribute{{Key: "deletion_protection.enabled", Value: "yes"}}, wantCode: CodeValidationError},
		{name: "alb idle timeout", arn: alb.ARN, attrs: []Attribute{{Key: "idle_timeout.timeout_seconds", Value: "120"}},
			want: map[string]string{"idle_timeout.timeout_seconds": "120"}},
		{name: "alb idle timeout out of range", arn: alb.ARN, attrs: []Attribute{{Key: "idle_timeout.timeout_seconds", Value: "0"}}, wantCode: CodeValidationError},
		{name: "alb cross zone cannot be off", arn: alb.ARN, attrs: []Attribute{{Key: "load_balancing.cross_zone.enabled", Value: "false"}}, wantCode: CodeValidationError},
		{name: "one bad attribute changes nothing", arn: nlb.ARN, attrs: []Attribute{
			{Key: "deletion_protection.enabled", Value: "true"}, {Key: "nope", Value: "1"}}, wantCode: CodeValidationError},
		{name: "missing load balancer", arn: nlb.ARN + "f", attrs: []Attribute{{Key: "deletion_protection.enabled", Value: "true"}}, wantCode: CodeLoadBalancerNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := env.svc.ModifyLoadBalancerAttributes(ctx, tt.arn, tt.attrs)
			wantCode(t, err, tt.wantCode)
			m := attrMap(got)
			for k, v := range tt.want {
				if m[k] != v {
					t.Errorf("attribute %s = %q, want %q", k, m[k], v)
				}
			}
		})
	}
	after, _ := env.svc.DescribeLoadBalancerAttributes(ctx, nlb.ARN)
	if attrMap(after)["deletion_protection.enabled"] != "false" {
		t.Error("a rejected modification changed deletion protection")
	}
}

func TestCreateTargetGroupDefaults(t *testing.T) {
	tests := []struct {
		name      string
		in        CreateTargetGroupInput
		wantHC    HealthCheck
		wantAttrs map[string]string // subset
		wantCode  string
	}{
		{
			name: "TCP ip",
			in:   CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "tcp", Protocol: "TCP", Port: 8080, TargetType: TargetTypeIP},
			wantHC: HealthCheck{Enabled: true, Protocol: "TCP", Port: "traffic-port",
				IntervalSeconds: 30, TimeoutSeconds: 10, HealthyThreshold: 5, UnhealthyThreshold: 2},
			wantAttrs: map[string]string{
				"deregistration_delay.timeout_seconds":                           "300",
				"deregistration_delay.connection_termination.enabled":            "false",
				"preserve_client_ip.enabled":                                     "false",
				"proxy_protocol_v2.enabled":                                      "false",
				"stickiness.enabled":                                             "false",
				"stickiness.type":                                                "source_ip",
				"load_balancing.cross_zone.enabled":                              "use_load_balancer_configuration",
				"target_health_state.unhealthy.connection_termination.enabled":   "true",
				"target_group_health.dns_failover.minimum_healthy_targets.count": "1",
			},
		},
		{
			name: "a short interval brings the default timeout down with it",
			in: CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "fast", Protocol: "TCP", Port: 8080, TargetType: TargetTypeIP,
				HealthCheck: HealthCheckInput{IntervalSeconds: ptr[int32](5)}},
			wantHC: HealthCheck{Enabled: true, Protocol: "TCP", Port: "traffic-port",
				IntervalSeconds: 5, TimeoutSeconds: 5, HealthyThreshold: 5, UnhealthyThreshold: 2},
		},
		{
			name: "TCP instance preserves client IP",
			in:   CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "inst", Protocol: "TCP", Port: 30080},
			wantHC: HealthCheck{Enabled: true, Protocol: "TCP", Port: "traffic-port",
				IntervalSeconds: 30, TimeoutSeconds: 10, HealthyThreshold: 5, UnhealthyThreshold: 2},
			wantAttrs: map[string]string{"preserve_client_ip.enabled": "true"},
		},
		{
			name: "UDP ip preserves client IP",
			in:   CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "udp", Protocol: "UDP", Port: 53, TargetType: TargetTypeIP},
			wantHC: HealthCheck{Enabled: true, Protocol: "TCP", Port: "traffic-port",
				IntervalSeconds: 30, TimeoutSeconds: 10, HealthyThreshold: 5, UnhealthyThreshold: 2},
			wantAttrs: map[string]string{"preserve_client_ip.enabled": "true"},
		},
		{
			name: "TCP with an HTTP check",
			in: CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "tcp-http", Protocol: "TCP", Port: 80, TargetType: TargetTypeIP,
				HealthCheck: HealthCheckInput{Protocol: "HTTP", Path: "/healthz", Port: "10256"}},
			wantHC: HealthCheck{Enabled: true, Protocol: "HTTP", Port: "10256", Path: "/healthz",
				IntervalSeconds: 30, TimeoutSeconds: 6, HealthyThreshold: 5, UnhealthyThreshold: 2,
				Matcher: Matcher{HTTPCode: "200-399"}},
		},
		{
			name: "HTTP",
			in:   CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "http", Protocol: "HTTP", Port: 80, TargetType: TargetTypeIP},
			wantHC: HealthCheck{Enabled: true, Protocol: "HTTP", Port: "traffic-port", Path: "/",
				IntervalSeconds: 30, TimeoutSeconds: 5, HealthyThreshold: 5, UnhealthyThreshold: 2,
				Matcher: Matcher{HTTPCode: "200"}},
			wantAttrs: map[string]string{"stickiness.type": "lb_cookie", "load_balancing.algorithm.type": "round_robin",
				"deregistration_delay.timeout_seconds": "300", "slow_start.duration_seconds": "0"},
		},
		{
			name: "gRPC",
			in:   CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "grpc", Protocol: "HTTP", ProtocolVersion: "GRPC", Port: 50051, TargetType: TargetTypeIP},
			wantHC: HealthCheck{Enabled: true, Protocol: "HTTP", Port: "traffic-port", Path: "/AWS.ALB/healthcheck",
				IntervalSeconds: 30, TimeoutSeconds: 5, HealthyThreshold: 5, UnhealthyThreshold: 2,
				Matcher: Matcher{GrpcCode: "12"}},
		},
		{
			name: "custom thresholds",
			in: CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "fast", Protocol: "TCP", Port: 80, TargetType: TargetTypeIP,
				HealthCheck: HealthCheckInput{IntervalSeconds: ptr[int32](10), TimeoutSeconds: ptr[int32](5), HealthyThreshold: ptr[int32](2), UnhealthyThreshold: ptr[int32](3)}},
			wantHC: HealthCheck{Enabled: true, Protocol: "TCP", Port: "traffic-port",
				IntervalSeconds: 10, TimeoutSeconds: 5, HealthyThreshold: 2, UnhealthyThreshold: 3},
		},
		{name: "timeout above interval", in: CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "x", Protocol: "TCP", Port: 80,
			HealthCheck: HealthCheckInput{IntervalSeconds: ptr[int32](10), TimeoutSeconds: ptr[int32](11)}}, wantCode: CodeValidationError},
		{name: "ALB timeout not below interval", in: CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "x", Protocol: "HTTP", Port: 80,
			HealthCheck: HealthCheckInput{IntervalSeconds: ptr[int32](10), TimeoutSeconds: ptr[int32](10)}}, wantCode: CodeValidationError},
		{name: "TCP check of an HTTP group", in: CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "x", Protocol: "HTTP", Port: 80,
			HealthCheck: HealthCheckInput{Protocol: "TCP"}}, wantCode: CodeInvalidConfigurationRequest},
		{name: "path on a TCP check", in: CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "x", Protocol: "TCP", Port: 80,
			HealthCheck: HealthCheckInput{Path: "/"}}, wantCode: CodeInvalidConfigurationRequest},
		{name: "bad matcher", in: CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "x", Protocol: "HTTP", Port: 80,
			HealthCheck: HealthCheckInput{Matcher: &Matcher{HTTPCode: "600"}}}, wantCode: CodeValidationError},
		{name: "lambda", in: CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "x", TargetType: "lambda"}, wantCode: CodeInvalidConfigurationRequest},
		{name: "no port", in: CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "x", Protocol: "TCP"}, wantCode: CodeValidationError},
		{name: "bad name", in: CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "x_y", Protocol: "TCP", Port: 80}, wantCode: CodeValidationError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			tg, err := env.svc.CreateTargetGroup(context.Background(), tt.in)
			wantCode(t, err, tt.wantCode)
			if tt.wantCode != "" {
				return
			}
			if diff := cmp.Diff(tt.wantHC, tg.HealthCheck); diff != "" {
				t.Errorf("health check (-want +got):\n%s", diff)
			}
			for k, v := range tt.wantAttrs {
				if tg.Attributes[k] != v {
					t.Errorf("attribute %s = %q, want %q", k, tg.Attributes[k], v)
				}
			}
			if !regexp.MustCompile(`^arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/` + tt.in.Name + `/[0-9a-f]{16}$`).MatchString(tg.ARN) {
				t.Errorf("ARN %q is not a target group ARN", tg.ARN)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestTargetGroupLifecycle(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	tg := env.tg(t, "web", "TCP")
	again, err := env.svc.CreateTargetGroup(ctx, CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "web", Protocol: "TCP", Port: 8080, TargetType: TargetTypeIP})
	wantCode(t, err, "")
	if again.ARN != tg.ARN {
		t.Errorf("idempotent create gave %s, want %s", again.ARN, tg.ARN)
	}
	_, err = env.svc.CreateTargetGroup(ctx, CreateTargetGroupInput{VpcID: "vpc-0ce1b000000000000", Name: "web", Protocol: "UDP", Port: 8080, TargetType: TargetTypeIP})
	wantCode(t, err, CodeDuplicateTargetGroupName)

	mod, err := env.svc.ModifyTargetGroup(ctx, tg.ARN, HealthCheckInput{Protocol: "HTTP", Path: "/ready"})
	wantCode(t, err, "")
	if mod.HealthCheck.Protocol != "HTTP" || mod.HealthCheck.Path != "/ready" || mod.HealthCheck.Matcher.HTTPCode != "200-399" {
		t.Errorf("modified health check = %+v", mod.HealthCheck)
	}
	_, err = env.svc.ModifyTargetGroup(ctx, tg.ARN+"0", HealthCheckInput{Port: "80"})
	wantCode(t, err, CodeTargetGroupNotFound)

	attrs, err := env.svc.ModifyTargetGroupAttributes(ctx, tg.ARN, []Attribute{
		{Key: "deregistration_delay.timeout_seconds", Value: "30"},
		{Key: "proxy_protocol_v2.enabled", Value: "true"},
	})
	wantCode(t, err, "")
	m := attrMap(attrs)
	if m["deregistration_delay.timeout_seconds"] != "30" || m["proxy_protocol_v2.enabled"] != "true" || m["stickiness.type"] != "source_ip" {
		t.Errorf("attributes after modify = %v", m)
	}
	for _, bad := range []Attribute{
		{Key: "deregistration_delay.timeout_seconds", Value: "3601"},
		{Key: "stickiness.type", Value: "no_such_type"},
		{Key: "no.such.attribute", Value: "1"},
		{Key: "load_balancing.cross_zone.enabled", Value: "maybe"},
	} {
		_, err := env.svc.ModifyTargetGroupAttributes(ctx, tg.ARN, []Attribute{bad})
		wantCode(t, err, CodeValidationError)
	}
	// What an HTTP group has but a TCP group cannot have is refused as
	// AWS refuses it.
	for _, bad := range []Attribute{
		{Key: "stickiness.type", Value: "lb_cookie"},
		{Key: "slow_start.duration_seconds", Value: "30"},
	} {
		_, err := env.svc.ModifyTargetGroupAttributes(ctx, tg.ARN, []Attribute{bad})
		wantCode(t, err, CodeInvalidConfigurationRequest)
	}
	tls := env.tg(t, "tls", "TLS")
	_, err = env.svc.ModifyTargetGroupAttributes(ctx, tls.ARN, []Attribute{{Key: "stickiness.enabled", Value: "true"}})
	wantCode(t, err, CodeInvalidConfigurationRequest)
	_, err = env.svc.ModifyTargetGroupAttributes(ctx, tls.ARN, []Attribute{{Key: "stickiness.enabled", Value: "false"}})
	wantCode(t, err, "")
	web := env.tg(t, "web-http", "HTTP")
	_, err = env.svc.ModifyTargetGroupAttributes(ctx, web.ARN, []Attribute{{Key: "stickiness.type", Value: "source_ip"}})
	wantCode(t, err, CodeInvalidConfigurationRequest)
	_, err = env.svc.ModifyTargetGroupAttributes(ctx, web.ARN, []Attribute{{Key: "stickiness.enabled", Value: "true"}, {Key: "stickiness.type", Value: "app_cookie"}})
	wantCode(t, err, "")
	udp := env.tg(t, "dns", "UDP")
	_, err = env.svc.ModifyTargetGroupAttributes(ctx, udp.ARN, []Attribute{{Key: "preserve_client_ip.enabled", Value: "false"}})
	wantCode(t, err, CodeValidationError)

	descs, err := env.svc.DescribeTargetGroups(ctx, DescribeTargetGroupsInput{Names: []string{"web", "dns"}})
	wantCode(t, err, "")
	if len(descs) != 2 || descs[0].Name != "dns" || descs[1].Name != "web" {
		t.Errorf("describe by names = %+v", descs)
	}
	_, err = env.svc.DescribeTargetGroups(ctx, DescribeTargetGroupsInput{Names: []string{"nope"}})
	wantCode(t, err, CodeTargetGroupNotFound)
}

func TestTargets(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	tg := env.tg(t, "pods", "TCP")
	health := fakeHealth{}
	env.svc.cfg.Health = health

	tests := []struct {
		name     string
		targets  []TargetDescription
		wantCode string
	}{
		{name: "not an IP", targets: []TargetDescription{{ID: "i-0123456789abcdef0"}}, wantCode: CodeInvalidTarget},
		{name: "public address", targets: []TargetDescription{{ID: "8.8.8.8"}}, wantCode: CodeInvalidTarget},
		{name: "IPv6 in an IPv4 group", targets: []TargetDescription{{ID: "fd00::1"}}, wantCode: CodeInvalidTarget},
		{name: "unknown zone", targets: []TargetDescription{{ID: "10.0.0.1", AvailabilityZone: "mars-1a"}}, wantCode: CodeInvalidTarget},
		{name: "one bad target rejects all", targets: []TargetDescription{{ID: "10.0.0.1"}, {ID: "nope"}}, wantCode: CodeInvalidTarget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, env.svc.RegisterTargets(ctx, tg.ARN, tt.targets), tt.wantCode)
		})
	}
	wantCode(t, env.svc.RegisterTargets(ctx, tg.ARN+"0", []TargetDescription{{ID: "10.0.0.1"}}), CodeTargetGroupNotFound)

	err := env.svc.RegisterTargets(ctx, tg.ARN, []TargetDescription{
		{ID: "198.18.1.10"},             // zone from TargetCIDRs
		{ID: "198.18.2.10", Port: 9090}, // zone from TargetCIDRs, own port
		{ID: "10.42.180.183", AvailabilityZone: "us-west-2c"},
		{ID: "192.168.7.7", AvailabilityZone: "all"}, // private, outside the VPC
	})
	wantCode(t, err, "")
	st, _ := env.svc.Snapshot(ctx)
	var zones []string
	for _, tgt := range st.TargetGroups[0].Targets {
		zones = append(zones, tgt.ID+"/"+tgt.AvailabilityZone)
	}
	if diff := cmp.Diff([]string{"198.18.1.10/us-west-2a", "198.18.2.10/us-west-2b", "10.42.180.183/us-west-2c", "192.168.7.7/all"}, zones); diff != "" {
		t.Errorf("target zones (-want +got):\n%s", diff)
	}
	// A hashed zone is stable.
	if a, b := env.svc.targetZone(netip.MustParseAddr("10.1.2.3")), env.svc.targetZone(netip.MustParseAddr("10.1.2.3")); a != b || a == "" {
		t.Errorf("targetZone not stable: %q, %q", a, b)
	}

	states := func(targets ...TargetDescription) []string {
		t.Helper()
		descs, err := env.svc.DescribeTargetHealth(ctx, tg.ARN, targets)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range descs {
			out = append(out, d.Target.ID+":"+d.HealthCheckPort+" "+d.TargetHealth.State+" "+d.TargetHealth.Reason)
		}
		return out
	}
	// No load balancer routes to the group yet.
	if diff := cmp.Diff([]string{"198.18.1.10:8080 unused Target.NotInUse"}, states(TargetDescription{ID: "198.18.1.10"})); diff != "" {
		t.Errorf("before listener (-want +got):\n%s", diff)
	}
	lb := env.nlb(t, "web")
	env.listener(t, lb.ARN, tg.ARN, "TCP", 80)
	health[TargetKey{ID: "198.18.2.10", Port: 9090}] = TargetHealth{State: HealthHealthy}
	health[TargetKey{ID: "10.42.180.183", Port: 8080}] = TargetHealth{State: HealthUnhealthy, Reason: ReasonTimeout, Description: "Request timed out"}
	want := []string{
		"198.18.1.10:8080 initial Elb.RegistrationInProgress",
		"198.18.2.10:9090 healthy ",
		"10.42.180.183:8080 unhealthy Target.Timeout",
		"192.168.7.7:8080 initial Elb.RegistrationInProgress",
	}
	if diff := cmp.Diff(want, states()); diff != "" {
		t.Errorf("with listener (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"10.9.9.9:8080 unused Target.NotRegistered"}, states(TargetDescription{ID: "10.9.9.9"})); diff != "" {
		t.Errorf("unregistered (-want +got):\n%s", diff)
	}

	// Deregistration drains for the group's delay, then the target goes.
	// Deregistering a target that is not registered succeeds and changes
	// nothing, as on AWS; describing one, even an id that could never be
	// registered, answers Target.NotRegistered.
	wantCode(t, env.svc.DeregisterTargets(ctx, tg.ARN, []TargetDescription{{ID: "10.1.1.1"}}), "")
	wantCode(t, env.svc.DeregisterTargets(ctx, tg.ARN, []TargetDescription{{ID: "i-0123456789abcdef0"}}), "")
	if diff := cmp.Diff([]string{"i-0123456789abcdef0:8080 unused Target.NotRegistered", "203.0.113.9:8080 unused Target.NotRegistered"},
		states(TargetDescription{ID: "i-0123456789abcdef0"}, TargetDescription{ID: "203.0.113.9"})); diff != "" {
		t.Errorf("unregistered ids (-want +got):\n%s", diff)
	}
	wantCode(t, env.svc.DeregisterTargets(ctx, tg.ARN, []TargetDescription{{ID: "198.18.2.10", Port: 9090}}), "")
	if diff := cmp.Diff([]string{"198.18.2.10:9090 draining Target.DeregistrationInProgress"}, states(TargetDescription{ID: "198.18.2.10", Port: 9090})); diff != "" {
		t.Errorf("draining (-want +got):\n%s", diff)
	}
	env.clock.Advance(299 * time.Second)
	if err := env.svc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(states()); got != 4 {
		t.Errorf("before the delay: %d targets, want 4", got)
	}
	env.clock.Advance(time.Second)
	if err := env.svc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(states()); got != 3 {
		t.Errorf("after the delay: %d targets, want 3", got)
	}

	// Re-registering a draining target registers it anew.
	wantCode(t, env.svc.DeregisterTargets(ctx, tg.ARN, []TargetDescription{{ID: "198.18.1.10"}}), "")
	wantCode(t, env.svc.RegisterTargets(ctx, tg.ARN, []TargetDescription{{ID: "198.18.1.10"}}), "")
	if diff := cmp.Diff([]string{"198.18.1.10:8080 initial Elb.RegistrationInProgress"}, states(TargetDescription{ID: "198.18.1.10"})); diff != "" {
		t.Errorf("re-registered (-want +got):\n%s", diff)
	}
}

func TestDeregisterWithoutDelay(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	tg := env.tg(t, "pods", "TCP")
	if _, err := env.svc.ModifyTargetGroupAttributes(ctx, tg.ARN, []Attribute{{Key: "deregistration_delay.timeout_seconds", Value: "0"}}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, env.svc.RegisterTargets(ctx, tg.ARN, []TargetDescription{{ID: "10.0.0.1"}}), "")
	wantCode(t, env.svc.DeregisterTargets(ctx, tg.ARN, []TargetDescription{{ID: "10.0.0.1"}}), "")
	descs, err := env.svc.DescribeTargetHealth(ctx, tg.ARN, nil)
	wantCode(t, err, "")
	if len(descs) != 0 {
		t.Errorf("targets after deregistration with no delay = %+v", descs)
	}
}

func TestListeners(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	nlb := env.nlb(t, "net")
	other := env.nlb(t, "other")
	alb, err := env.svc.CreateLoadBalancer(ctx, CreateLoadBalancerInput{Name: "app", Subnets: []string{"subnet-a", "subnet-b"}})
	if err != nil {
		t.Fatal(err)
	}
	tcp := env.tg(t, "tcp", "TCP")
	tcp2 := env.tg(t, "tcp2", "TCP")
	udp := env.tg(t, "udp", "UDP")
	http := env.tg(t, "http", "HTTP")
	used := env.tg(t, "used", "TCP")
	env.listener(t, other.ARN, used.ARN, "TCP", 80)
	fwd := func(tg string) []Action { return []Action{{Type: ActionForward, TargetGroupARN: tg}} }
	// TLS listeners need their certificate in the certificate store.
	if err := env.store.Update(ctx, func(tx store.Tx) error {
		return tx.Put(certstore.Kind, "arn:aws:acm:us-west-2:123456789012:certificate/abc", []byte("{}"))
	}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		in       CreateListenerInput
		wantCode string
	}{
		{name: "TCP", in: CreateListenerInput{LoadBalancerARN: nlb.ARN, Protocol: "TCP", Port: 80, DefaultActions: fwd(tcp.ARN)}},
		{name: "same port, same protocol again", in: CreateListenerInput{LoadBalancerARN: nlb.ARN, Protocol: "TCP", Port: 80, DefaultActions: fwd(tcp.ARN)}},
		{name: "same port, other protocol", in: CreateListenerInput{LoadBalancerARN: nlb.ARN, Protocol: "UDP", Port: 80, DefaultActions: fwd(udp.ARN)}, wantCode: CodeDuplicateListener},
		{name: "same port, same protocol, other group", in: CreateListenerInput{LoadBalancerARN: nlb.ARN, Protocol: "TCP", Port: 80, DefaultActions: fwd(tcp2.ARN)}, wantCode: CodeDuplicateListener},
		{name: "UDP", in: CreateListenerInput{LoadBalancerARN: nlb.ARN, Protocol: "UDP", Port: 53, DefaultActions: fwd(udp.ARN)}},
		{name: "TLS needs a certificate", in: CreateListenerInput{LoadBalancerARN: nlb.ARN, Protocol: "TLS", Port: 443, DefaultActions: fwd(tcp.ARN)}, wantCode: CodeValidationError},
		{name: "TLS", in: CreateListenerInput{LoadBalancerARN: nlb.ARN, Protocol: "TLS", Port: 443, DefaultActions: fwd(tcp.ARN),
			Certificates: []Certificate{{ARN: "arn:aws:acm:us-west-2:123456789012:certificate/abc"}}}},
		{name: "unknown SSL policy", in: CreateListenerInput{LoadBalancerARN: nlb.ARN, Protocol: "TLS", Port: 8443, DefaultActions: fwd(tcp.ARN),
			SslPolicy: "nope", Certificates: []Certificate{{ARN: "arn:aws:acm:us-west-2:123456789012:certificate/abc"}}}, wantCode: CodeSSLPolicyNotFound},
		{name: "HTTP on a network load balancer", in: CreateListenerInput{LoadBalancerARN: nlb.ARN, Protocol: "HTTP", Port: 8080, DefaultActions: fwd(tcp.ARN)}, wantCode: CodeUnsupportedProtocol},
		{name: "TCP on an application load balancer", in: CreateListenerInput{LoadBalancerARN: alb.ARN, Protocol: "TCP", Port: 8080, DefaultActions: fwd(http.ARN)}, wantCode: CodeUnsupportedProtocol},
		{name: "TCP to a UDP group", in: CreateListenerInput{LoadBalancerARN: nlb.ARN, Protocol: "TCP", Port: 81, DefaultActions: fwd(udp.ARN)}, wantCode: CodeIncompatibleProtocols},
		{name: "HTTP", in: CreateListenerInput{LoadBalancerARN: alb.ARN, Protocol: "HTTP", Port: 80, DefaultActions: fwd(http.ARN)}},
		{name: "fixed response", in: CreateListenerInput{LoadBalancerARN: alb.ARN, Protocol: "HTTP", Port: 81, DefaultActions: []Action{{Type: ActionFixedResponse, FixedResponse: &FixedResponseConfig{StatusCode: "404"}}}}},
		{name: "redirect on a network load balancer", in: CreateListenerInput{LoadBalancerARN: nlb.ARN, Protocol: "TCP", Port: 82, DefaultActions: []Action{{Type: ActionRedirect, Redirect: &RedirectConfig{StatusCode: "HTTP_301"}}}}, wantCode: CodeInvalidLoadBalancerAction},
		{name: "group of another load balancer", in: CreateListenerInput{LoadBalancerARN: nlb.ARN, Protocol: "TCP", Port: 83, DefaultActions: fwd(used.ARN)}, wantCode: CodeTargetGroupAssociationLimit},
		{name: "missing group", in: CreateListenerInput{LoadBalancerARN: nlb.ARN, Protocol: "TCP", Port: 84, DefaultActions: fwd(tcp.ARN + "0")}, wantCode: CodeTargetGroupNotFound},
		{name: "missing load balancer", in: CreateListenerInput{LoadBalancerARN: nlb.ARN + "0", Protocol: "TCP", Port: 85, DefaultActions: fwd(tcp.ARN)}, wantCode: CodeLoadBalancerNotFound},
		{name: "no action", in: CreateListenerInput{LoadBalancerARN: nlb.ARN, Protocol: "TCP", Port: 86}, wantCode: CodeValidationError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := env.svc.CreateListener(ctx, tt.in)
			wantCode(t, err, tt.wantCode)
		})
	}

	ls, err := env.svc.DescribeListeners(ctx, DescribeListenersInput{LoadBalancerARN: nlb.ARN})
	wantCode(t, err, "")
	var got []string
	for _, l := range ls {
		got = append(got, l.Protocol)
	}
	if diff := cmp.Diff([]string{"UDP", "TCP", "TLS"}, got); diff != "" {
		t.Errorf("listeners by port (-want +got):\n%s", diff)
	}
	l := ls[1]
	if !regexp.MustCompile(`^arn:aws:elasticloadbalancing:us-west-2:123456789012:listener/net/net/[0-9a-f]{16}/[0-9a-f]{16}$`).MatchString(l.ARN) {
		t.Errorf("listener ARN %q", l.ARN)
	}
	wantActions := []Action{{Type: ActionForward, Order: 1, TargetGroupARN: tcp.ARN,
		Forward: &ForwardConfig{TargetGroups: []WeightedTargetGroup{{TargetGroupARN: tcp.ARN, Weight: 1}}}}}
	if diff := cmp.Diff(wantActions, l.DefaultActions); diff != "" {
		t.Errorf("normalised actions (-want +got):\n%s", diff)
	}
	if ls[2].SslPolicy != DefaultSSLPolicy || !ls[2].Certificates[0].IsDefault {
		t.Errorf("TLS listener = %+v", ls[2])
	}

	tgs, err := env.svc.DescribeTargetGroups(ctx, DescribeTargetGroupsInput{LoadBalancerARN: nlb.ARN})
	wantCode(t, err, "")
	var names []string
	for _, tg := range tgs {
		names = append(names, tg.Name)
		if diff := cmp.Diff([]string{nlb.ARN}, tg.LoadBalancerARNs); diff != "" {
			t.Errorf("%s load balancers (-want +got):\n%s", tg.Name, diff)
		}
	}
	if diff := cmp.Diff([]string{"tcp", "udp"}, names); diff != "" {
		t.Errorf("target groups of the load balancer (-want +got):\n%s", diff)
	}

	attrs, err := env.svc.DescribeListenerAttributes(ctx, l.ARN)
	wantCode(t, err, "")
	if diff := cmp.Diff([]Attribute{{Key: AttrSourceRanges, Value: ""}, {Key: "tcp.idle_timeout.seconds", Value: "350"}}, attrs); diff != "" {
		t.Errorf("listener attributes (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		key, value string
		wantCode   string
	}{
		{"tcp.idle_timeout.seconds", "60", ""}, {"tcp.idle_timeout.seconds", "6000", ""},
		{"tcp.idle_timeout.seconds", "59", CodeValidationError}, {"tcp.idle_timeout.seconds", "6001", CodeValidationError},
		{"tcp.idle_timeout.seconds", "x", CodeValidationError},
		{AttrSourceRanges, "10.0.0.0/8, 198.18.0.7/32", ""}, {AttrSourceRanges, "", ""},
		{AttrSourceRanges, "10.0.0.0/8,nope", CodeValidationError}, {AttrSourceRanges, "10.0.0.1", CodeValidationError},
	} {
		_, err := env.svc.ModifyListenerAttributes(ctx, l.ARN, []Attribute{{Key: tt.key, Value: tt.value}})
		wantCode(t, err, tt.wantCode)
	}

	mod, err := env.svc.ModifyListener(ctx, ModifyListenerInput{ListenerARN: l.ARN, Port: 8080})
	wantCode(t, err, "")
	if mod.Port != 8080 || mod.DefaultActions[0].TargetGroupARN != tcp.ARN {
		t.Errorf("modified listener = %+v", mod)
	}
	_, err = env.svc.ModifyListener(ctx, ModifyListenerInput{ListenerARN: l.ARN, Port: 53})
	wantCode(t, err, CodeDuplicateListener)
	_, err = env.svc.ModifyListener(ctx, ModifyListenerInput{ListenerARN: l.ARN + "0", Port: 1})
	wantCode(t, err, CodeListenerNotFound)

	wantCode(t, env.svc.DeleteListener(ctx, l.ARN), "")
	wantCode(t, env.svc.DeleteListener(ctx, l.ARN), CodeListenerNotFound)
	_, err = env.svc.DescribeListeners(ctx, DescribeListenersInput{ListenerARNs: []string{l.ARN}})
	wantCode(t, err, CodeListenerNotFound)
}

func TestTags(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	lb := env.nlb(t, "web")
	tg := env.tg(t, "web", "TCP")
	l := env.listener(t, lb.ARN, tg.ARN, "TCP", 80)

	wantCode(t, env.svc.AddTags(ctx, []string{lb.ARN, tg.ARN, l.ARN}, []Tag{
		{Key: "elbv2.k8s.aws/cluster", Value: "kelb"}, {Key: "service.k8s.aws/stack", Value: "ui/ui-nlb"}}), "")
	wantCode(t, env.svc.AddTags(ctx, []string{lb.ARN}, []Tag{{Key: "service.k8s.aws/stack", Value: "ui/other"}, {Key: "x", Value: "1"}}), "")
	wantCode(t, env.svc.RemoveTags(ctx, []string{lb.ARN}, []string{"x", "absent"}), "")

	descs, err := env.svc.DescribeTags(ctx, []string{lb.ARN, tg.ARN})
	wantCode(t, err, "")
	want := []TagDescription{
		{ResourceARN: lb.ARN, Tags: []Tag{{Key: "elbv2.k8s.aws/cluster", Value: "kelb"}, {Key: "service.k8s.aws/stack", Value: "ui/other"}}},
		{ResourceARN: tg.ARN, Tags: []Tag{{Key: "elbv2.k8s.aws/cluster", Value: "kelb"}, {Key: "service.k8s.aws/stack", Value: "ui/ui-nlb"}}},
	}
	if diff := cmp.Diff(want, descs); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}

	var many []Tag
	for i := range 49 {
		many = append(many, Tag{Key: "k" + string(rune('A'+i%26)) + string(rune('a'+i/26))})
	}
	wantCode(t, env.svc.AddTags(ctx, []string{tg.ARN}, many), CodeTooManyTags)
	wantCode(t, env.svc.AddTags(ctx, []string{tg.ARN}, many[:48]), "")
	wantCode(t, env.svc.AddTags(ctx, []string{tg.ARN}, []Tag{{Key: "a"}, {Key: "a"}}), CodeDuplicateTagKeys)
	wantCode(t, env.svc.AddTags(ctx, []string{lb.ARN + "0"}, []Tag{{Key: "a"}}), CodeLoadBalancerNotFound)
	wantCode(t, env.svc.AddTags(ctx, []string{tg.ARN + "0"}, []Tag{{Key: "a"}}), CodeTargetGroupNotFound)
	_, err = env.svc.DescribeTags(ctx, []string{l.ARN + "0"})
	wantCode(t, err, CodeListenerNotFound)
	_, err = env.svc.DescribeTags(ctx, []string{"arn:aws:s3:::bucket"})
	wantCode(t, err, CodeValidationError)
}

func TestSnapshotAndWatch(t *testing.T) {
	env := newTestEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := env.store.Watch(ctx)
	lb := env.nlb(t, "web")
	<-ch
	tg := env.tg(t, "web", "TCP")
	env.listener(t, lb.ARN, tg.ARN, "TCP", 80)
	wantCode(t, env.svc.RegisterTargets(ctx, tg.ARN, []TargetDescription{{ID: "10.0.0.1"}}), "")
	st, err := env.svc.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Revision != 4 || len(st.LoadBalancers) != 1 || len(st.Listeners) != 1 || len(st.TargetGroups) != 1 || len(st.TargetGroups[0].Targets) != 1 {
		t.Errorf("snapshot = rev %d, %d lbs, %d listeners, %d tgs", st.Revision, len(st.LoadBalancers), len(st.Listeners), len(st.TargetGroups))
	}
	// A rejected operation leaves the revision alone.
	_, err = env.svc.CreateListener(ctx, CreateListenerInput{LoadBalancerARN: lb.ARN, Protocol: "UDP", Port: 80, DefaultActions: []Action{{Type: ActionForward, TargetGroupARN: tg.ARN}}})
	wantCode(t, err, CodeDuplicateListener)
	if rev, _ := env.store.Revision(ctx); rev != 4 {
		t.Errorf("revision after a rejected operation = %d, want 4", rev)
	}
}

func TestProvisioning(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.ProvisioningDelay = 5 * time.Second })
	ctx := context.Background()
	env.nlb(t, "web")
	state := func() string {
		lbs, err := env.svc.DescribeLoadBalancers(ctx, DescribeLoadBalancersInput{})
		if err != nil {
			t.Fatal(err)
		}
		return lbs[0].State
	}
	if s := state(); s != StateProvisioning {
		t.Errorf("state = %s, want provisioning", s)
	}
	env.clock.Advance(5 * time.Second)
	if err := env.svc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if s := state(); s != StateActive {
		t.Errorf("state = %s, want active", s)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.ReconcileInterval = 10 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- env.svc.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
}
