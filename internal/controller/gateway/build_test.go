package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/kelb-io/kelb/internal/controller/model"
)

func ptr[T any](v T) *T { return &v }

var (
	albClass = &gatewayv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "aws-alb-gateway-class"}, Spec: gatewayv1.GatewayClassSpec{ControllerName: ControllerALB}}
	nlbClass = &gatewayv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "aws-nlb-gateway-class"}, Spec: gatewayv1.GatewayClassSpec{ControllerName: ControllerNLB}}
	opts     = Options{ClusterName: "kelb", DefaultSSLPolicy: "ELBSecurityPolicy-2016-08"}
)

func gateway(class string, listeners ...gatewayv1.Listener) *gatewayv1.Gateway {
	return &gatewayv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: "gw", UID: "gw-uid", Generation: 2},
		Spec:       gatewayv1.GatewaySpec{GatewayClassName: gatewayv1.ObjectName(class), Listeners: listeners},
	}
}

func listener(name string, port int, proto gatewayv1.ProtocolType) gatewayv1.Listener {
	return gatewayv1.Listener{Name: gatewayv1.SectionName(name), Port: gatewayv1.PortNumber(port), Protocol: proto,
		AllowedRoutes: &gatewayv1.AllowedRoutes{Namespaces: &gatewayv1.RouteNamespaces{From: ptr(gatewayv1.NamespacesFromAll)}}}
}

func service(ns, name string, port, target int32) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "-" + name)},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: port, TargetPort: intstr.FromInt32(target)}}}}
}

func services(s ...*corev1.Service) map[types.NamespacedName]*corev1.Service {
	out := map[types.NamespacedName]*corev1.Service{}
	for _, x := range s {
		out[types.NamespacedName{Namespace: x.Namespace, Name: x.Name}] = x
	}
	return out
}

func parent(name string) gatewayv1.ParentReference {
	return gatewayv1.ParentReference{Namespace: ptr(gatewayv1.Namespace("infra")), Name: gatewayv1.ObjectName(name)}
}

func backend(ns, name string, port, weight int32) gatewayv1.HTTPBackendRef {
	ref := gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{
		BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(name), Port: ptr(gatewayv1.PortNumber(port))},
		Weight:                 ptr(weight)}}
	if ns != "" {
		ref.Namespace = ptr(gatewayv1.Namespace(ns))
	}
	return ref
}

func httpRoute(ns, name string, created int, rules ...gatewayv1.HTTPRouteRule) Route {
	return Route{Kind: KindHTTPRoute, HTTP: &gatewayv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 1, CreationTimestamp: metav1.NewTime(time.Unix(int64(created), 0))},
		Spec:       gatewayv1.HTTPRouteSpec{CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{parent("gw")}}, Rules: rules},
	}}
}

// condition returns a route's condition of type t for its first parent.
func condition(t *testing.T, res Result, k RouteKey, typ gatewayv1.RouteConditionType) metav1.Condition {
	t.Helper()
	ps := res.Parents[k]
	if len(ps) == 0 {
		t.Fatalf("%s has no parent status", k)
	}
	for _, c := range ps[0].Conditions {
		if c.Type == string(typ) {
			return c
		}
	}
	t.Fatalf("%s has no %s condition", k, typ)
	return metav1.Condition{}
}

// TestBuildHTTPRouteHeaderAndWeights builds the e2e test's route: a
// header match sends to one Service, the rest is split by weight.
func TestBuildHTTPRouteHeaderAndWeights(t *testing.T) {
	rt := httpRoute("shop", "web", 1,
		gatewayv1.HTTPRouteRule{
			Matches:     []gatewayv1.HTTPRouteMatch{{Headers: []gatewayv1.HTTPHeaderMatch{{Name: "X-Version", Value: "v2"}}}},
			BackendRefs: []gatewayv1.HTTPBackendRef{backend("", "v2", 80, 1)},
		},
		gatewayv1.HTTPRouteRule{
			Matches:     []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{Type: ptr(gatewayv1.PathMatchPathPrefix), Value: ptr("/")}}},
			BackendRefs: []gatewayv1.HTTPBackendRef{backend("", "v1", 80, 3), backend("", "v2", 80, 1)},
		},
	)
	res := Build(Input{
		Class: albClass, Gateway: gateway("aws-alb-gateway-class", listener("http", 80, gatewayv1.HTTPProtocolType)),
		Routes: []Route{rt}, Services: services(service("shop", "v1", 80, 8080), service("shop", "v2", 80, 8080)),
	}, opts)
	if res.Accepted.Status != metav1.ConditionTrue {
		t.Fatalf("Gateway not accepted: %+v", res.Accepted)
	}
	if c := condition(t, res, rt.Key(), gatewayv1.RouteConditionAccepted); c.Status != metav1.ConditionTrue {
		t.Fatalf("route not accepted: %+v", c)
	}
	st := res.Stack
	if st.LoadBalancer.Type != model.TypeApplication || len(st.Listeners) != 1 {
		t.Fatalf("stack: %+v", st)
	}
	want := []model.Rule{
		{Priority: 1, Conditions: []model.Condition{{Field: "http-header", HeaderName: "X-Version", Values: []string{"v2"}}},
			Action: model.Action{Type: model.ActionForward, Forward: &model.ForwardAction{TargetGroups: []model.WeightedTargetGroup{{TargetGroup: "shop/v2:80", Weight: 1}}}}},
		{Priority: 2, Conditions: []model.Condition{{Field: "path-pattern", Values: []string{"/*"}}},
			Action: model.Action{Type: model.ActionForward, Forward: &model.ForwardAction{TargetGroups: []model.WeightedTargetGroup{{TargetGroup: "shop/v1:80", Weight: 3}, {TargetGroup: "shop/v2:80", Weight: 1}}}}},
	}
	if d := cmp.Diff(want, st.Listeners[0].Rules); d != "" {
		t.Errorf("rules (-want +got):\n%s", d)
	}
	if st.Listeners[0].DefaultAction.FixedResponse == nil || st.Listeners[0].DefaultAction.FixedResponse.StatusCode != "404" {
		t.Errorf("default action %+v, want a 404", st.Listeners[0].DefaultAction)
	}
	if len(st.TargetGroups) != 2 || len(st.TargetGroupBindings) != 2 {
		t.Fatalf("%d target groups, %d bindings; want 2, 2", len(st.TargetGroups), len(st.TargetGroupBindings))
	}
	tg := st.TargetGroups[0]
	if tg.TargetType != "ip" || tg.Port != 8080 || tg.Protocol != "HTTP" || tg.HealthCheck.HTTPCode != "200-399" {
		t.Errorf("target group %+v", tg)
	}
	b := st.TargetGroupBindings[0]
	if b.Namespace != "shop" || b.Spec.ServiceRef.Name != "v2" || b.Labels[LabelStackName] != "gw" {
		t.Errorf("binding %+v", b)
	}
	if res.Listeners[0].AttachedRoutes != 1 {
		t.Errorf("attachedRoutes %d, want 1", res.Listeners[0].AttachedRoutes)
	}
}

// TestBuildReferenceGrant refuses a backendRef into another namespace
// without a ReferenceGrant there, and serves it with one.
func TestBuildReferenceGrant(t *testing.T) {
	rt := httpRoute("shop", "web", 1, gatewayv1.HTTPRouteRule{BackendRefs: []gatewayv1.HTTPBackendRef{backend("backends", "api", 80, 1)}})
	in := Input{Class: albClass, Gateway: gateway("c", listener("http", 80, gatewayv1.HTTPProtocolType)),
		Routes: []Route{rt}, Services: services(service("backends", "api", 80, 80))}
	res := Build(in, opts)
	c := condition(t, res, rt.Key(), gatewayv1.RouteConditionResolvedRefs)
	if c.Status != metav1.ConditionFalse || c.Reason != string(gatewayv1.RouteReasonRefNotPermitted) {
		t.Errorf("without a grant: ResolvedRefs %s/%s, want False/RefNotPermitted", c.Status, c.Reason)
	}
	if a := res.Stack.Listeners[0].Rules[0].Action; a.Type != model.ActionFixedResponse || a.FixedResponse.StatusCode != "500" {
		t.Errorf("without a grant the rule is %+v, want a 500 fixed response", a)
	}
	grant := func(ns, fromNS, kind string) gatewayv1.ReferenceGrant {
		return gatewayv1.ReferenceGrant{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "g"}, Spec: gatewayv1.ReferenceGrantSpec{
			From: []gatewayv1.ReferenceGrantFrom{{Group: Group, Kind: KindHTTPRoute, Namespace: gatewayv1.Namespace(fromNS)}},
			To:   []gatewayv1.ReferenceGrantTo{{Group: "", Kind: gatewayv1.Kind(kind)}}}}
	}
	for _, tc := range []struct {
		name  string
		grant gatewayv1.ReferenceGrant
		ok    bool
	}{
		{"grant", grant("backends", "shop", "Service"), true},
		{"grant in the route's namespace", grant("shop", "shop", "Service"), false},
		{"grant from another namespace", grant("backends", "other", "Service"), false},
		{"grant to Secrets", grant("backends", "shop", "Secret"), false},
	} {
		in.Grants = []gatewayv1.ReferenceGrant{tc.grant}
		res := Build(in, opts)
		c := condition(t, res, rt.Key(), gatewayv1.RouteConditionResolvedRefs)
		if got := c.Status == metav1.ConditionTrue; got != tc.ok {
			t.Errorf("%s: ResolvedRefs %s (%s), want ok=%v", tc.name, c.Status, c.Message, tc.ok)
		}
	}
}

// TestBuildRefusesUnsupported gives a route an ALB cannot serve Accepted
// False (UnsupportedValue) and leaves the Gateway's other routes as they
// are.
func TestBuildRefusesUnsupported(t *testing.T) {
	good := httpRoute("infra", "good", 1, gatewayv1.HTTPRouteRule{BackendRefs: []gatewayv1.HTTPBackendRef{backend("", "web", 80, 1)}})
	for _, tc := range []struct {
		name string
		rule gatewayv1.HTTPRouteRule
		// field is the field path the message starts with, when set.
		field string
	}{
		{"redirect 307", gatewayv1.HTTPRouteRule{Filters: []gatewayv1.HTTPRouteFilter{
			{Type: gatewayv1.HTTPRouteFilterURLRewrite, URLRewrite: &gatewayv1.HTTPURLRewriteFilter{Hostname: ptr(gatewayv1.PreciseHostname("a.example"))}},
			{Type: gatewayv1.HTTPRouteFilterRequestRedirect, RequestRedirect: &gatewayv1.HTTPRequestRedirectFilter{StatusCode: ptr(307)}}}},
			"spec.rules[0].filters[1].requestRedirect.statusCode: "},
		{"query regex", gatewayv1.HTTPRouteRule{Matches: []gatewayv1.HTTPRouteMatch{{QueryParams: []gatewayv1.HTTPQueryParamMatch{{
			Type: ptr(gatewayv1.QueryParamMatchRegularExpression), Name: "a", Value: "b.*"}}}}}, "spec.rules[0].matches[0].queryParams[0].type: "},
		{"response header modifier", gatewayv1.HTTPRouteRule{Filters: []gatewayv1.HTTPRouteFilter{{Type: gatewayv1.HTTPRouteFilterResponseHeaderModifier,
			ResponseHeaderModifier: &gatewayv1.HTTPHeaderFilter{Set: []gatewayv1.HTTPHeader{{Name: "X", Value: "y"}}}}}}, "spec.rules[0].filters[0]: "},
		{"remove Host", gatewayv1.HTTPRouteRule{Filters: []gatewayv1.HTTPRouteFilter{{Type: gatewayv1.HTTPRouteFilterRequestHeaderModifier,
			RequestHeaderModifier: &gatewayv1.HTTPHeaderFilter{Remove: []string{"host"}}}}}, "spec.rules[0].filters[0].requestHeaderModifier.remove: "},
		{"bad path regex", gatewayv1.HTTPRouteRule{Matches: []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{
			Type: ptr(gatewayv1.PathMatchRegularExpression), Value: ptr("(")}}}}, "spec.rules[0].matches[0].path.value: "},
	} {
		bad := httpRoute("infra", "bad", 2, tc.rule)
		in := Input{Class: albClass, Gateway: gateway("c", listener("http", 80, gatewayv1.HTTPProtocolType)),
			Routes: []Route{good, bad}, Services: services(service("infra", "web", 80, 80))}
		res := Build(in, opts)
		c := condition(t, res, bad.Key(), gatewayv1.RouteConditionAccepted)
		if c.Status != metav1.ConditionFalse || c.Reason != string(gatewayv1.RouteReasonUnsupportedValue) || c.Message == "" {
			t.Errorf("%s: Accepted %s/%s %q, want False/UnsupportedValue with a message", tc.name, c.Status, c.Reason, c.Message)
		}
		if !strings.HasPrefix(c.Message, tc.field) {
			t.Errorf("%s: message %q does not start with the field %q", tc.name, c.Message, tc.field)
		}
		alone := Build(Input{Class: in.Class, Gateway: in.Gateway, Routes: []Route{good}, Services: in.Services}, opts)
		if d := cmp.Diff(alone.Stack, res.Stack); d != "" {
			t.Errorf("%s: the refused route changed the stack (-without +with):\n%s", tc.name, d)
		}
		if res.Listeners[0].AttachedRoutes != 1 {
			t.Errorf("%s: attachedRoutes %d, want 1", tc.name, res.Listeners[0].AttachedRoutes)
		}
	}
}

func TestBuildMissingBackend(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ref    gatewayv1.HTTPBackendRef
		reason gatewayv1.RouteConditionReason
	}{
		{"no Service", backend("", "nope", 80, 1), gatewayv1.RouteReasonBackendNotFound},
		{"no port", backend("", "web", 81, 1), gatewayv1.RouteReasonBackendNotFound},
		{"other kind", func() gatewayv1.HTTPBackendRef {
			b := backend("", "web", 80, 1)
			b.Kind = ptr(gatewayv1.Kind("Pod"))
			return b
		}(), gatewayv1.RouteReasonInvalidKind},
	} {
		rt := httpRoute("infra", "r", 1, gatewayv1.HTTPRouteRule{BackendRefs: []gatewayv1.HTTPBackendRef{tc.ref}})
		res := Build(Input{Class: albClass, Gateway: gateway("c", listener("http", 80, gatewayv1.HTTPProtocolType)),
			Routes: []Route{rt}, Services: services(service("infra", "web", 80, 80))}, opts)
		if c := condition(t, res, rt.Key(), gatewayv1.RouteConditionResolvedRefs); c.Reason != string(tc.reason) {
			t.Errorf("%s: ResolvedRefs reason %s, want %s", tc.name, c.Reason, tc.reason)
		}
		if c := condition(t, res, rt.Key(), gatewayv1.RouteConditionAccepted); c.Status != metav1.ConditionTrue {
			t.Errorf("%s: a route with an unresolved backend is still accepted; got %+v", tc.name, c)
		}
	}
}

func TestBuildPrecedence(t *testing.T) {
	prefix := func(p string) gatewayv1.HTTPRouteMatch {
		return gatewayv1.HTTPRouteMatch{Path: &gatewayv1.HTTPPathMatch{Type: ptr(gatewayv1.PathMatchPathPrefix), Value: ptr(p)}}
	}
	exact := func(p string) gatewayv1.HTTPRouteMatch {
		return gatewayv1.HTTPRouteMatch{Path: &gatewayv1.HTTPPathMatch{Type: ptr(gatewayv1.PathMatchExact), Value: ptr(p)}}
	}
	rule := func(m ...gatewayv1.HTTPRouteMatch) gatewayv1.HTTPRouteRule {
		return gatewayv1.HTTPRouteRule{Matches: m, BackendRefs: []gatewayv1.HTTPBackendRef{backend("", "web", 80, 1)}}
	}
	older := httpRoute("infra", "older", 1, rule(prefix("/")), rule(prefix("/a")))
	newer := httpRoute("infra", "newer", 2, rule(exact("/a/b")), rule(prefix("/a/b/")))
	newer.HTTP.Spec.Hostnames = []gatewayv1.Hostname{"x.example.com"}
	res := Build(Input{Class: albClass, Gateway: gateway("c", listener("http", 80, gatewayv1.HTTPProtocolType)),
		Routes: []Route{newer, older}, Services: services(service("infra", "web", 80, 80))}, opts)
	var got [][]model.Condition
	for _, r := range res.Stack.Listeners[0].Rules {
		got = append(got, r.Conditions)
	}
	host := model.Condition{Field: "host-header", Values: []string{"x.example.com"}}
	want := [][]model.Condition{
		{host, {Field: "path-pattern", Values: []string{"/a/b"}}},
		{host, {Field: "path-pattern", Values: []string{"/a/b", "/a/b/*"}}},
		{{Field: "path-pattern", Values: []string{"/a", "/a/*"}}},
		{{Field: "path-pattern", Values: []string{"/*"}}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rule order (-want +got):\n%s", d)
	}
}

func TestBuildFilters(t *testing.T) {
	rt := httpRoute("infra", "r", 1,
		gatewayv1.HTTPRouteRule{
			Matches: []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{Type: ptr(gatewayv1.PathMatchPathPrefix), Value: ptr("/old")}}},
			Filters: []gatewayv1.HTTPRouteFilter{{Type: gatewayv1.HTTPRouteFilterRequestRedirect, RequestRedirect: &gatewayv1.HTTPRequestRedirectFilter{
				Scheme: ptr("https"), Hostname: ptr(gatewayv1.PreciseHostname("new.example.com")), StatusCode: ptr(301)}}},
		},
		gatewayv1.HTTPRouteRule{
			Matches: []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{Type: ptr(gatewayv1.PathMatchPathPrefix), Value: ptr("/api")}}},
			Filters: []gatewayv1.HTTPRouteFilter{{Type: gatewayv1.HTTPRouteFilterURLRewrite, URLRewrite: &gatewayv1.HTTPURLRewriteFilter{
				Hostname: ptr(gatewayv1.PreciseHostname("internal")),
				Path:     &gatewayv1.HTTPPathModifier{Type: gatewayv1.PrefixMatchHTTPPathModifier, ReplacePrefixMatch: ptr("/v2")}}}},
			BackendRefs: []gatewayv1.HTTPBackendRef{backend("", "web", 80, 1)},
		},
		gatewayv1.HTTPRouteRule{
			Matches: []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{Type: ptr(gatewayv1.PathMatchPathPrefix), Value: ptr("/hdr")}}},
			Filters: []gatewayv1.HTTPRouteFilter{{Type: gatewayv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: &gatewayv1.HTTPHeaderFilter{
				Set:    []gatewayv1.HTTPHeader{{Name: "X-Set", Value: "s"}, {Name: "host", Value: "h.example"}},
				Add:    []gatewayv1.HTTPHeader{{Name: "X-Add", Value: "a"}},
				Remove: []string{"X-Remove"}}}},
			BackendRefs: []gatewayv1.HTTPBackendRef{backend("", "web", 80, 1)},
		},
	)
	res := Build(Input{Class: albClass, Gateway: gateway("c", listener("http", 80, gatewayv1.HTTPProtocolType)),
		Routes: []Route{rt}, Services: services(service("infra", "web", 80, 80))}, opts)
	rules := res.Stack.Listeners[0].Rules
	if len(rules) != 3 {
		t.Fatalf("%d rules, want 3", len(rules))
	}
	byPath := map[string]model.Rule{}
	for _, r := range rules {
		byPath[r.Conditions[0].Values[0]] = r
	}
	rd := byPath["/old"].Action.Redirect
	if d := cmp.Diff(&model.RedirectAction{Protocol: "HTTPS", Port: "443", Host: "new.example.com", StatusCode: "HTTP_301"}, rd); d != "" {
		t.Errorf("redirect (-want +got):\n%s", d)
	}
	wantT := []model.Transform{
		{Type: "host-header-rewrite", Rewrites: []model.Rewrite{{Regex: "^.*$", Replace: "internal"}}},
		{Type: "url-rewrite", Rewrites: []model.Rewrite{{Regex: "^/api(/[^?]*)?", Replace: "/v2$1"}}},
	}
	if d := cmp.Diff(wantT, byPath["/api"].Transforms); d != "" {
		t.Errorf("transforms (-want +got):\n%s", d)
	}
	// The Host header is an ALB host rewrite, the others kelb's header
	// transforms.
	wantH := []model.Transform{
		{Type: "host-header-rewrite", Rewrites: []model.Rewrite{{Regex: "^.*$", Replace: "h.example"}}},
		{Type: model.TransformRequestHeaderSet, Rewrites: []model.Rewrite{{Regex: "X-Set", Replace: "s"}}},
		{Type: model.TransformRequestHeaderAdd, Rewrites: []model.Rewrite{{Regex: "X-Add", Replace: "a"}}},
		{Type: model.TransformRequestHeaderRemove, Rewrites: []model.Rewrite{{Regex: "X-Remove"}}},
	}
	if d := cmp.Diff(wantH, byPath["/hdr"].Transforms); d != "" {
		t.Errorf("header transforms (-want +got):\n%s", d)
	}
}

func TestBuildNetwork(t *testing.T) {
	tcp := Route{Kind: KindTCPRoute, TCP: &gatewayv1.TCPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: "db", CreationTimestamp: metav1.NewTime(time.Unix(1, 0))},
		Spec: gatewayv1.TCPRouteSpec{CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{parent("gw")}},
			Rules: []gatewayv1.TCPRouteRule{{BackendRefs: []gatewayv1.BackendRef{backend("", "db", 5432, 1).BackendRef}}}},
	}}
	udp := Route{Kind: KindUDPRoute, UDP: &gatewayv1.UDPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: "dns", CreationTimestamp: metav1.NewTime(time.Unix(2, 0))},
		Spec: gatewayv1.UDPRouteSpec{CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{parent("gw")}},
			Rules: []gatewayv1.UDPRouteRule{{BackendRefs: []gatewayv1.BackendRef{backend("", "dns", 53, 1).BackendRef}}}},
	}}
	second := Route{Kind: KindTCPRoute, TCP: tcp.TCP.DeepCopy()}
	second.TCP.Name, second.TCP.CreationTimestamp = "db2", metav1.NewTime(time.Unix(3, 0))
	gw := gateway("c", listener("tcp", 5432, gatewayv1.TCPProtocolType), listener("udp", 53, gatewayv1.UDPProtocolType), listener("http", 80, gatewayv1.HTTPProtocolType))
	res := Build(Input{Class: nlbClass, Gateway: gw, Routes: []Route{udp, second, tcp},
		Services: services(service("infra", "db", 5432, 5432), service("infra", "dns", 53, 5353))}, opts)
	st := res.Stack
	if st.LoadBalancer.Type != model.TypeNetwork {
		t.Fatalf("load balancer type %s", st.LoadBalancer.Type)
	}
	got := map[int32]string{}
	for _, l := range st.Listeners {
		tg, _ := l.DefaultAction.SingleTargetGroup()
		got[l.Port] = l.Protocol + " " + tg
	}
	if d := cmp.Diff(map[int32]string{5432: "TCP infra/db:5432", 53: "UDP infra/dns:53/UDP"}, got); d != "" {
		t.Errorf("listeners (-want +got):\n%s", d)
	}
	if tg := st.TargetGroup("infra/dns:53/UDP"); tg == nil || tg.Protocol != "UDP" || tg.Port != 5353 || tg.HealthCheck.Protocol != "TCP" {
		t.Errorf("UDP target group %+v", tg)
	}
	if c := condition(t, res, second.Key(), gatewayv1.RouteConditionAccepted); c.Reason != string(gatewayv1.RouteReasonUnsupportedValue) {
		t.Errorf("a second TCPRoute on the listener: Accepted %+v, want UnsupportedValue", c)
	}
	for _, l := range res.Listeners {
		accepted := listenerCondition(l.Conditions, gatewayv1.ListenerConditionAccepted)
		if (l.Name == "http") != (accepted.Reason == string(gatewayv1.ListenerReasonUnsupportedProtocol)) {
			t.Errorf("listener %s: Accepted %+v", l.Name, accepted)
		}
	}
}

func listenerCondition(conds []metav1.Condition, t gatewayv1.ListenerConditionType) metav1.Condition {
	for _, c := range conds {
		if c.Type == string(t) {
			return c
		}
	}
	return metav1.Condition{}
}

// A listener whose certificate does not resolve is not programmed, yet
// routes attach to it and are counted, and their own references are
// judged; a Gateway with no other listener has no load balancer.
func TestBuildListenerWithUnresolvedCertificate(t *testing.T) {
	l := listener("tls", 443, gatewayv1.HTTPSProtocolType)
	l.TLS = &gatewayv1.ListenerTLSConfig{CertificateRefs: []gatewayv1.SecretObjectReference{{Name: "does-not-exist"}}}
	rt := httpRoute("infra", "r", 1, gatewayv1.HTTPRouteRule{BackendRefs: []gatewayv1.HTTPBackendRef{backend("", "missing", 8080, 1)}})
	res := Build(Input{Class: albClass, Gateway: gateway("aws-alb-gateway-class", l), Routes: []Route{rt},
		Secret: func(string, string) bool { return false }}, opts)
	if res.Stack != nil {
		t.Errorf("a stack for a Gateway without a valid listener: %+v", res.Stack)
	}
	if res.Accepted.Status != metav1.ConditionTrue {
		t.Errorf("Gateway Accepted %s, want True", res.Accepted.Status)
	}
	if got := res.Listeners[0].AttachedRoutes; got != 1 {
		t.Errorf("attachedRoutes %d, want 1", got)
	}
	if c := listenerCondition(res.Listeners[0].Conditions, gatewayv1.ListenerConditionResolvedRefs); c.Reason != string(gatewayv1.ListenerReasonInvalidCertificateRef) {
		t.Errorf("listener ResolvedRefs %+v", c)
	}
	if c := condition(t, res, rt.Key(), gatewayv1.RouteConditionAccepted); c.Status != metav1.ConditionTrue {
		t.Errorf("route Accepted %+v", c)
	}
	if c := condition(t, res, rt.Key(), gatewayv1.RouteConditionResolvedRefs); c.Reason != string(gatewayv1.RouteReasonBackendNotFound) {
		t.Errorf("route ResolvedRefs %+v", c)
	}
}

// A backend port of appProtocol kubernetes.io/h2c gets an HTTP2 target
// group (h2c to the targets); kubernetes.io/ws an HTTP1 one, which
// carries WebSocket upgrades.
func TestBuildBackendAppProtocol(t *testing.T) {
	h2c, ws := service("infra", "h2c", 80, 3001), service("infra", "ws", 80, 3000)
	h2c.Spec.Ports[0].AppProtocol = ptr("kubernetes.io/h2c")
	ws.Spec.Ports[0].AppProtocol = ptr("kubernetes.io/ws")
	rt := httpRoute("infra", "r", 1, gatewayv1.HTTPRouteRule{BackendRefs: []gatewayv1.HTTPBackendRef{backend("", "h2c", 80, 1), backend("", "ws", 80, 1)}})
	res := Build(Input{Class: albClass, Gateway: gateway("c", listener("http", 80, gatewayv1.HTTPProtocolType)),
		Routes: []Route{rt}, Services: services(h2c, ws)}, opts)
	got := map[string]string{}
	for _, tg := range res.Stack.TargetGroups {
		got[tg.ResourceID] = tg.ProtocolVersion
	}
	if d := cmp.Diff(map[string]string{"infra/h2c:80/HTTP2": "HTTP2", "infra/ws:80": "HTTP1"}, got); d != "" {
		t.Errorf("target groups' protocol versions (-want +got):\n%s", d)
	}
}

// A redirect that replaces the matched prefix is an ALB redirect keeping
// the path, behind a url-rewrite transform that replaces the prefix.
func TestBuildRedirectReplacePrefix(t *testing.T) {
	rt := httpRoute("infra", "r", 1, gatewayv1.HTTPRouteRule{
		Matches: []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{Type: ptr(gatewayv1.PathMatchPathPrefix), Value: ptr("/original-prefix")}}},
		Filters: []gatewayv1.HTTPRouteFilter{{Type: gatewayv1.HTTPRouteFilterRequestRedirect, RequestRedirect: &gatewayv1.HTTPRequestRedirectFilter{
			Path: &gatewayv1.HTTPPathModifier{Type: gatewayv1.PrefixMatchHTTPPathModifier, ReplacePrefixMatch: ptr("/replacement-prefix")}}}},
	})
	res := Build(Input{Class: albClass, Gateway: gateway("c", listener("http", 80, gatewayv1.HTTPProtocolType)), Routes: []Route{rt}}, opts)
	if c := condition(t, res, rt.Key(), gatewayv1.RouteConditionAccepted); c.Status != metav1.ConditionTrue {
		t.Fatalf("route Accepted %+v", c)
	}
	rule := res.Stack.Listeners[0].Rules[0]
	if d := cmp.Diff(model.Action{Type: model.ActionRedirect, Redirect: &model.RedirectAction{StatusCode: "HTTP_302"}}, rule.Action); d != "" {
		t.Errorf("action (-want +got):\n%s", d)
	}
	want := []model.Transform{{Type: "url-rewrite", Rewrites: []model.Rewrite{{Regex: "^/original-prefix(/[^?]*)?", Replace: "/replacement-prefix$1"}}}}
	if d := cmp.Diff(want, rule.Transforms); d != "" {
		t.Errorf("transforms (-want +got):\n%s", d)
	}
}

// A network listener whose route's backend does not resolve forwards to a
// target group without targets (connections are reset) and takes no
// other route.
func TestBuildNetworkUnresolvedBackend(t *testing.T) {
	mk := func(name string, created int64, svc string) Route {
		return Route{Kind: KindTCPRoute, TCP: &gatewayv1.TCPRoute{
			ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: name, CreationTimestamp: metav1.NewTime(time.Unix(created, 0))},
			Spec: gatewayv1.TCPRouteSpec{CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{parent("gw")}},
				Rules: []gatewayv1.TCPRouteRule{{BackendRefs: []gatewayv1.BackendRef{backend("", svc, 5432, 1).BackendRef}}}},
		}}
	}
	missing, later := mk("missing", 1, "nope"), mk("later", 2, "db")
	res := Build(Input{Class: nlbClass, Gateway: gateway("c", listener("tcp", 5432, gatewayv1.TCPProtocolType)),
		Routes: []Route{later, missing}, Services: services(service("infra", "db", 5432, 5432))}, opts)
	if len(res.Stack.Listeners) != 1 {
		t.Fatalf("listeners %+v", res.Stack.Listeners)
	}
	tgID, _ := res.Stack.Listeners[0].DefaultAction.SingleTargetGroup()
	if tg := res.Stack.TargetGroup(tgID); tg == nil || tgID != "unresolved:5432/TCP" || len(res.Stack.TargetGroupBindings) != 0 {
		t.Errorf("target group %q %+v, bindings %+v", tgID, tg, res.Stack.TargetGroupBindings)
	}
	if c := condition(t, res, missing.Key(), gatewayv1.RouteConditionResolvedRefs); c.Reason != string(gatewayv1.RouteReasonBackendNotFound) {
		t.Errorf("missing: ResolvedRefs %+v", c)
	}
	if c := condition(t, res, later.Key(), gatewayv1.RouteConditionAccepted); c.Reason != string(gatewayv1.RouteReasonUnsupportedValue) {
		t.Errorf("later: Accepted %+v", c)
	}
}
