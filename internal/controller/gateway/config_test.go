package gateway

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
	awsv1 "github.com/kelb-io/kelb/api/gateway/v1"
	"github.com/kelb-io/kelb/internal/controller/model"
)

func lbConfig(ns, name string, spec awsv1.LoadBalancerConfigurationSpec) *awsv1.LoadBalancerConfiguration {
	return &awsv1.LoadBalancerConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
}

// configuredGateway is an ALB Gateway with an HTTP and an HTTPS listener
// (the latter without certificateRefs) naming LoadBalancerConfiguration
// infra/gw-config, and an HTTPRoute to shop/web.
func configuredGateway(cfg Config, rules ...gatewayv1.HTTPRouteRule) Input {
	class := albClass.DeepCopy()
	class.Spec.ParametersRef = &gatewayv1.ParametersReference{Group: GroupAWS, Kind: KindLoadBalancerConfiguration, Name: "class-config", Namespace: ptr(gatewayv1.Namespace("kelb-system"))}
	gw := gateway("c", listener("http", 80, gatewayv1.HTTPProtocolType), listener("https", 443, gatewayv1.HTTPSProtocolType))
	gw.Spec.Infrastructure = &gatewayv1.GatewayInfrastructure{ParametersRef: &gatewayv1.LocalParametersReference{Group: GroupAWS, Kind: KindLoadBalancerConfiguration, Name: "gw-config"}}
	if len(rules) == 0 {
		rules = []gatewayv1.HTTPRouteRule{{BackendRefs: []gatewayv1.HTTPBackendRef{backend("", "web", 80, 1)}}}
	}
	rt := httpRoute("shop", "web", 1, rules...)
	rt.HTTP.Spec.ParentRefs[0].SectionName = nil
	svc := service("shop", "web", 80, 8080)
	svc.Spec.Ports[0].NodePort = 30080
	return Input{Class: class, Gateway: gw, Routes: []Route{rt}, Services: services(svc), Config: cfg}
}

// TestBuildLoadBalancerConfiguration merges a class's and a Gateway's
// configurations (the class's wins by default, the Gateway's with
// prefer-gateway; tags, attributes and listener configurations merge key
// by key) and applies them to the load balancer and its listeners.
func TestBuildLoadBalancerConfiguration(t *testing.T) {
	class := lbConfig("kelb-system", "class-config", awsv1.LoadBalancerConfigurationSpec{
		Scheme:                 ptr("internet-facing"),
		Tags:                   &map[string]string{"team": "platform", "cost": "shared"},
		LoadBalancerAttributes: []awsv1.KeyValue{{Key: "idle_timeout.timeout_seconds", Value: "120"}},
		ListenerConfigurations: &[]awsv1.ListenerConfiguration{{ProtocolPort: "HTTPS:443", DefaultCertificate: ptr("arn:aws:acm:us-west-2:000000000000:certificate/class"), SslPolicy: ptr("ELBSecurityPolicy-TLS13-1-2-2021-06")}},
	})
	gwCfg := lbConfig("infra", "gw-config", awsv1.LoadBalancerConfigurationSpec{
		Scheme:                 ptr("internal"),
		LoadBalancerName:       ptr("shop-edge"),
		Tags:                   &map[string]string{"team": "shop"},
		LoadBalancerAttributes: []awsv1.KeyValue{{Key: "idle_timeout.timeout_seconds", Value: "30"}, {Key: "deletion_protection.enabled", Value: "true"}},
		LoadBalancerSubnets:    &[]awsv1.Subnet{{Identifier: "subnet-a"}, {Identifier: "subnet-b"}},
		SourceRanges:           &[]string{"198.18.0.0/16"},
		ListenerConfigurations: &[]awsv1.ListenerConfiguration{
			{ProtocolPort: "HTTPS:443", DefaultCertificate: ptr("arn:aws:acm:us-west-2:000000000000:certificate/gw")},
			{ProtocolPort: "HTTP:80", ListenerAttributes: []awsv1.KeyValue{{Key: "routing.http.response.server.enabled", Value: "false"}}},
		},
	})
	res := Build(configuredGateway(Config{ClassLB: class, GatewayLB: gwCfg}), opts)
	if res.Invalid != nil || res.Accepted.Status != metav1.ConditionTrue {
		t.Fatalf("Invalid %+v, Accepted %+v", res.Invalid, res.Accepted)
	}
	st := res.Stack
	sg := deployName(t, st)
	want := model.LoadBalancer{
		Name: "shop-edge", Type: model.TypeApplication, Scheme: "internet-facing", IPAddressType: "ipv4",
		Subnets:    []string{"subnet-a", "subnet-b"},
		Attributes: map[string]string{"idle_timeout.timeout_seconds": "120", "deletion_protection.enabled": "true"},
		Tags: map[string]string{model.TagCluster: "kelb", TagStackALB: "infra/gw", TagResourceALB: ResourceLoadBalancer,
			"team": "platform", "cost": "shared"},
		ManagedSecurityGroup: &model.ManagedSecurityGroup{Name: sg, Description: model.ManagedSecurityGroupDescription,
			Tags:    map[string]string{model.TagCluster: "kelb", TagStackALB: "infra/gw", TagResourceALB: model.ResourceManagedSecurityGroup},
			Ingress: []model.IngressRule{{Protocol: "tcp", Port: 80, CIDR: "198.18.0.0/16"}, {Protocol: "tcp", Port: 443, CIDR: "198.18.0.0/16"}}},
	}
	if d := cmp.Diff(want, st.LoadBalancer); d != "" {
		t.Errorf("load balancer (-want +got):\n%s", d)
	}
	if len(st.Listeners) != 2 {
		t.Fatalf("%d listeners, want 2 (the HTTPS listener's certificate comes from the configuration)", len(st.Listeners))
	}
	https := st.Listeners[1]
	if d := cmp.Diff([]model.Certificate{{ARN: "arn:aws:acm:us-west-2:000000000000:certificate/class"}}, https.Certificates); d != "" || https.SSLPolicy != "ELBSecurityPolicy-TLS13-1-2-2021-06" {
		t.Errorf("HTTPS listener: policy %s, certificates (-want +got):\n%s", https.SSLPolicy, d)
	}
	if st.Listeners[0].Attributes["routing.http.response.server.enabled"] != "false" {
		t.Errorf("HTTP listener attributes %v", st.Listeners[0].Attributes)
	}
	if c := listenerCondition(res.Listeners[1].Conditions, gatewayv1.ListenerConditionResolvedRefs); c.Status != metav1.ConditionTrue {
		t.Errorf("HTTPS listener ResolvedRefs %+v", c)
	}

	// prefer-gateway: the Gateway's values win.
	class.Spec.MergingMode = ptr(MergePreferGateway)
	st = Build(configuredGateway(Config{ClassLB: class, GatewayLB: gwCfg}), opts).Stack
	lb := st.LoadBalancer
	if lb.Scheme != "internal" || lb.Tags["team"] != "shop" || lb.Tags["cost"] != "shared" || lb.Attributes["idle_timeout.timeout_seconds"] != "30" {
		t.Errorf("prefer-gateway: scheme %s, tags %v, attributes %v", lb.Scheme, lb.Tags, lb.Attributes)
	}
	if c := st.Listeners[1].Certificates; len(c) != 1 || c[0].ARN != "arn:aws:acm:us-west-2:000000000000:certificate/gw" || st.Listeners[1].SSLPolicy != opts.DefaultSSLPolicy {
		t.Errorf("prefer-gateway: the Gateway's HTTPS:443 configuration replaces the class's whole: %+v", st.Listeners[1])
	}
}

// deployName is the managed group's name, checked to be the AWS Load
// Balancer Controller's shape.
func deployName(t *testing.T, st *model.Stack) string {
	t.Helper()
	g := st.LoadBalancer.ManagedSecurityGroup
	if g == nil || !strings.HasPrefix(g.Name, "k8s-infra-gw-") || len(g.Name) != len("k8s-infra-gw-")+10 {
		t.Fatalf("managed security group %+v", g)
	}
	return g.Name
}

// TestBuildSecurityGroups: named groups replace the managed one; a network
// load balancer with disableSecurityGroup has none.
func TestBuildSecurityGroups(t *testing.T) {
	in := configuredGateway(Config{GatewayLB: lbConfig("infra", "gw-config", awsv1.LoadBalancerConfigurationSpec{SecurityGroups: &[]string{"sg-1", "web"}})})
	in.Class.Spec.ParametersRef = nil
	in.Gateway.Spec.Listeners = in.Gateway.Spec.Listeners[:1]
	st := Build(in, opts).Stack
	if st.LoadBalancer.ManagedSecurityGroup != nil || !cmp.Equal(st.LoadBalancer.SecurityGroups, []string{"sg-1", "web"}) {
		t.Errorf("named groups: %+v", st.LoadBalancer)
	}
	// Without configuration: the managed group admits every IPv4 source.
	in.Config = Config{}
	in.Gateway.Spec.Infrastructure = nil
	st = Build(in, opts).Stack
	if g := st.LoadBalancer.ManagedSecurityGroup; g == nil || !cmp.Equal(g.Ingress, []model.IngressRule{{Protocol: "tcp", Port: 80, CIDR: "0.0.0.0/0"}}) {
		t.Errorf("default managed group %+v", g)
	}
	nlb := Input{Class: nlbClass, Gateway: gateway("c", listener("tcp", 5000, gatewayv1.TCPProtocolType)),
		Config: Config{GatewayLB: lbConfig("infra", "gw-config", awsv1.LoadBalancerConfigurationSpec{DisableSecurityGroup: ptr(true)})}}
	nlb.Gateway.Spec.Infrastructure = &gatewayv1.GatewayInfrastructure{ParametersRef: &gatewayv1.LocalParametersReference{Group: GroupAWS, Kind: KindLoadBalancerConfiguration, Name: "gw-config"}}
	if res := Build(nlb, opts); res.Stack == nil || res.Stack.LoadBalancer.ManagedSecurityGroup != nil {
		t.Errorf("NLB with disableSecurityGroup: %+v %+v", res.Invalid, res.Stack)
	}
}

// TestBuildTargetGroupConfiguration applies a Service's configuration
// (its route-specific settings over its default ones) over the Gateway's
// default configuration.
func TestBuildTargetGroupConfiguration(t *testing.T) {
	def := &awsv1.TargetGroupConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: "defaults"},
		Spec: awsv1.TargetGroupConfigurationSpec{DefaultConfiguration: awsv1.TargetGroupProps{
			HealthCheckConfig:     &awsv1.HealthCheck{HealthCheckInterval: ptr(int32(30))},
			TargetGroupAttributes: []awsv1.KeyValue{{Key: "deregistration_delay.timeout_seconds", Value: "10"}, {Key: "slow_start.duration_seconds", Value: "30"}},
			Tags:                  &map[string]string{"owner": "platform"},
		}}}
	svcCfg := &awsv1.TargetGroupConfiguration{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: awsv1.TargetGroupConfigurationSpec{
			TargetReference: &awsv1.TargetReference{Name: "web"},
			DefaultConfiguration: awsv1.TargetGroupProps{
				TargetGroupAttributes: []awsv1.KeyValue{{Key: "deregistration_delay.timeout_seconds", Value: "5"}},
				ProtocolVersion:       ptr("HTTP2"),
			},
			RouteConfigurations: []awsv1.RouteConfiguration{
				{RouteIdentifier: awsv1.RouteIdentifier{RouteKind: KindHTTPRoute}, TargetGroupProps: awsv1.TargetGroupProps{TargetType: ptr("instance")}},
				{RouteIdentifier: awsv1.RouteIdentifier{RouteKind: KindHTTPRoute, RouteNamespace: "shop", RouteName: "web"}, TargetGroupProps: awsv1.TargetGroupProps{
					HealthCheckConfig: &awsv1.HealthCheck{HealthCheckPath: ptr("/healthz"), HealthCheckTimeout: ptr(int32(3)), Matcher: &awsv1.HealthCheckMatcher{HTTPCode: ptr("200")}}}},
			},
		}}
	gwCfg := lbConfig("infra", "gw-config", awsv1.LoadBalancerConfigurationSpec{DefaultTargetGroupConfiguration: &awsv1.LocalReference{Name: "defaults"}})
	in := configuredGateway(Config{GatewayLB: gwCfg, TargetGroups: map[types.NamespacedName]*awsv1.TargetGroupConfiguration{
		{Namespace: "infra", Name: "defaults"}: def, {Namespace: "shop", Name: "web"}: svcCfg}})
	in.Class.Spec.ParametersRef = nil
	in.Gateway.Spec.Listeners = in.Gateway.Spec.Listeners[:1]
	res := Build(in, opts)
	if res.Invalid != nil {
		t.Fatalf("Invalid: %s", res.Invalid.Message)
	}
	tg := res.Stack.TargetGroups[0]
	tg.Name = ""
	want := model.TargetGroup{
		ResourceID: "shop/web:80@HTTPRoute shop/web", Protocol: "HTTP", ProtocolVersion: "HTTP2", Port: 8080, TargetType: "ip", IPAddressType: "ipv4",
		// The exact route configuration wins over the kind-wide one, and
		// its health check block replaces the default's whole.
		HealthCheck: model.HealthCheck{Protocol: "HTTP", Port: "traffic-port", Path: "/healthz", HTTPCode: "200", IntervalSeconds: 15, TimeoutSeconds: 3, HealthyThreshold: 3, UnhealthyThreshold: 3},
		Attributes:  map[string]string{"deregistration_delay.timeout_seconds": "5", "slow_start.duration_seconds": "30"},
		Tags:        map[string]string{model.TagCluster: "kelb", TagStackALB: "infra/gw", TagResourceALB: "shop/web:80@HTTPRoute shop/web", "owner": "platform"},
	}
	if d := cmp.Diff(want, tg); d != "" {
		t.Errorf("target group (-want +got):\n%s", d)
	}

	// The kind-wide route configuration: instance targets at the node port.
	svcCfg.Spec.RouteConfigurations = svcCfg.Spec.RouteConfigurations[:1]
	res = Build(in, opts)
	if res.Invalid != nil {
		t.Fatalf("Invalid: %s", res.Invalid.Message)
	}
	tg, tgb := res.Stack.TargetGroups[0], res.Stack.TargetGroupBindings[0]
	if tg.TargetType != "instance" || tg.Port != 30080 || *tgb.Spec.TargetType != elbv2api.TargetTypeInstance || tg.HealthCheck.IntervalSeconds != 30 {
		t.Errorf("instance target group %+v, binding %+v", tg, tgb.Spec)
	}
}

// TestBuildInvalidConfiguration: a value kelb cannot apply names its field
// and leaves no stack (the Gateway keeps its load balancer); one in a
// LoadBalancerConfiguration makes the Gateway's parameters invalid.
func TestBuildInvalidConfiguration(t *testing.T) {
	tgcs := func(props awsv1.TargetGroupProps) map[types.NamespacedName]*awsv1.TargetGroupConfiguration {
		return map[types.NamespacedName]*awsv1.TargetGroupConfiguration{{Namespace: "shop", Name: "web"}: {
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
			Spec:       awsv1.TargetGroupConfigurationSpec{TargetReference: &awsv1.TargetReference{Name: "web"}, DefaultConfiguration: props}}}
	}
	gwLB := func(spec awsv1.LoadBalancerConfigurationSpec) *awsv1.LoadBalancerConfiguration {
		return lbConfig("infra", "gw-config", spec)
	}
	for _, tc := range []struct {
		name       string
		cfg        Config
		parameters bool
		message    string
	}{
		{"missing parametersRef", Config{}, true, "spec.infrastructure.parametersRef: LoadBalancerConfiguration infra/gw-config not found"},
		{"name", Config{GatewayLB: gwLB(awsv1.LoadBalancerConfigurationSpec{LoadBalancerName: ptr("-bad")})}, true, "spec.loadBalancerName: "},
		{"source range", Config{GatewayLB: gwLB(awsv1.LoadBalancerConfigurationSpec{SourceRanges: &[]string{"10.0.0.300/8"}})}, true, "spec.sourceRanges: "},
		{"mutual TLS on HTTP", Config{GatewayLB: gwLB(awsv1.LoadBalancerConfigurationSpec{ListenerConfigurations: &[]awsv1.ListenerConfiguration{
			{ProtocolPort: "HTTP:80", MutualAuthentication: &awsv1.MutualAuthentication{Mode: "verify"}}}})}, true, "spec.listenerConfigurations[0].mutualAuthentication: "},
		{"missing default target groups", Config{GatewayLB: gwLB(awsv1.LoadBalancerConfigurationSpec{DefaultTargetGroupConfiguration: &awsv1.LocalReference{Name: "none"}})}, true,
			"Gateway LoadBalancerConfiguration infra/gw-config spec.defaultTargetGroupConfiguration: TargetGroupConfiguration infra/none not found"},
		{"health check interval", Config{GatewayLB: gwLB(awsv1.LoadBalancerConfigurationSpec{}), TargetGroups: tgcs(awsv1.TargetGroupProps{HealthCheckConfig: &awsv1.HealthCheck{HealthCheckInterval: ptr(int32(1))}})}, false,
			"TargetGroupConfiguration shop/web healthCheckConfig.healthCheckInterval: 1 is not within 5-300"},
		{"protocol", Config{GatewayLB: gwLB(awsv1.LoadBalancerConfigurationSpec{}), TargetGroups: tgcs(awsv1.TargetGroupProps{Protocol: ptr("UDP")})}, false, "TargetGroupConfiguration shop/web protocol: "},
	} {
		in := configuredGateway(tc.cfg)
		in.Class.Spec.ParametersRef = nil
		in.Gateway.Spec.Listeners = in.Gateway.Spec.Listeners[:1]
		res := Build(in, opts)
		if res.Invalid == nil || res.Stack != nil {
			t.Errorf("%s: Invalid %v, stack %v; want an error and no stack", tc.name, res.Invalid, res.Stack != nil)
			continue
		}
		if !strings.HasPrefix(res.Invalid.Message, tc.message) || res.Invalid.Parameters != tc.parameters {
			t.Errorf("%s: %+v, want a message starting %q, parameters %v", tc.name, res.Invalid, tc.message, tc.parameters)
		}
		accepted := res.Accepted.Status == metav1.ConditionTrue
		if accepted == tc.parameters || (tc.parameters && res.Accepted.Reason != string(gatewayv1.GatewayReasonInvalidParameters)) {
			t.Errorf("%s: Accepted %+v", tc.name, res.Accepted)
		}
		st := GatewayStatus(gatewayv1.GatewayStatus{}, in.Gateway, res, Deployed{}, metav1.Now())
		if c := findCondition(st.Conditions, string(gatewayv1.GatewayConditionProgrammed)); c.Status != metav1.ConditionFalse || c.Message != res.Invalid.Message {
			t.Errorf("%s: Programmed %+v", tc.name, c)
		}
	}
}
