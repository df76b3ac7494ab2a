package gateway

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	awsv1 "github.com/kelb-io/kelb/api/gateway/v1"
	"github.com/kelb-io/kelb/internal/controller/model"
)

func ruleConfigs(spec awsv1.ListenerRuleConfigurationSpec) map[types.NamespacedName]*awsv1.ListenerRuleConfiguration {
	return map[types.NamespacedName]*awsv1.ListenerRuleConfiguration{{Namespace: "shop", Name: "rules"}: {
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "rules"}, Spec: spec}}
}

var ruleConfigFilter = gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterExtensionRef,
	ExtensionRef: &gatewayv1.LocalObjectReference{Group: GroupAWS, Kind: KindListenerRuleConfiguration, Name: "rules"}}

// TestBuildListenerRuleConfiguration applies a ListenerRuleConfiguration
// an HTTPRoute rule names: an OIDC authentication and stickiness on its
// forward, a source-ip condition on the match it names.
func TestBuildListenerRuleConfiguration(t *testing.T) {
	rule := gatewayv1.HTTPRouteRule{
		Matches: []gatewayv1.HTTPRouteMatch{
			{Path: &gatewayv1.HTTPPathMatch{Type: ptr(gatewayv1.PathMatchExact), Value: ptr("/a")}},
			{Path: &gatewayv1.HTTPPathMatch{Type: ptr(gatewayv1.PathMatchExact), Value: ptr("/b")}},
		},
		Filters:     []gatewayv1.HTTPRouteFilter{ruleConfigFilter},
		BackendRefs: []gatewayv1.HTTPBackendRef{backend("", "web", 80, 1)},
	}
	in := configuredGateway(Config{RuleConfigs: ruleConfigs(awsv1.ListenerRuleConfigurationSpec{
		Actions: []awsv1.RuleAction{
			{Type: "forward", ForwardConfig: &awsv1.ForwardConfig{TargetGroupStickinessConfig: &awsv1.Stickiness{Enabled: ptr(true), DurationSeconds: ptr(int32(120))}}},
			{Type: "authenticate-oidc", AuthenticateOIDCConfig: &awsv1.OIDCConfig{Issuer: "https://idp", AuthorizationEndpoint: "https://idp/auth",
				TokenEndpoint: "https://idp/token", UserInfoEndpoint: "https://idp/userinfo", Secret: &awsv1.SecretReference{Name: "oidc"}, OnUnauthenticatedRequest: ptr("deny")}},
		},
		Conditions: []awsv1.RuleCondition{{Field: "source-ip", SourceIPConfig: &awsv1.SourceIPCondition{Values: []string{"198.18.0.0/15"}}, MatchIndexes: &[]int{1}}},
	})}, rule)
	in.Class.Spec.ParametersRef, in.Gateway.Spec.Infrastructure = nil, nil
	in.Gateway.Spec.Listeners = in.Gateway.Spec.Listeners[:1]
	res := Build(in, opts)
	if c := condition(t, res, in.Routes[0].Key(), gatewayv1.RouteConditionAccepted); c.Status != metav1.ConditionTrue {
		t.Fatalf("route not accepted: %+v", c)
	}
	action := model.Action{Type: model.ActionForward,
		Forward: &model.ForwardAction{TargetGroups: []model.WeightedTargetGroup{{TargetGroup: "shop/web:80", Weight: 1}}, StickinessSeconds: 120},
		Authenticate: &model.AuthenticateAction{Type: model.AuthenticateOIDC, OnUnauthenticatedRequest: "deny",
			OIDC: &model.OIDCAuth{Issuer: "https://idp", AuthorizationEndpoint: "https://idp/auth", TokenEndpoint: "https://idp/token", UserInfoEndpoint: "https://idp/userinfo", Secret: "shop/oidc"}}}
	want := []model.Rule{
		{Priority: 1, Conditions: []model.Condition{{Field: "path-pattern", Values: []string{"/a"}}}, Action: action},
		{Priority: 2, Conditions: []model.Condition{{Field: "path-pattern", Values: []string{"/b"}}, {Field: "source-ip", Values: []string{"198.18.0.0/15"}}}, Action: action},
	}
	if d := cmp.Diff(want, res.Stack.Listeners[0].Rules); d != "" {
		t.Errorf("rules (-want +got):\n%s", d)
	}

	// A fixed response replaces the forward.
	in.Config.RuleConfigs = ruleConfigs(awsv1.ListenerRuleConfigurationSpec{Actions: []awsv1.RuleAction{{Type: "fixed-response",
		FixedResponseConfig: &awsv1.FixedResponseConfig{StatusCode: 503, ContentType: ptr("text/plain"), MessageBody: ptr("maintenance")}}}})
	res = Build(in, opts)
	if d := cmp.Diff(model.Action{Type: model.ActionFixedResponse, FixedResponse: &model.FixedResponseAction{StatusCode: "503", ContentType: "text/plain", MessageBody: "maintenance"}},
		res.Stack.Listeners[0].Rules[0].Action); d != "" {
		t.Errorf("fixed response (-want +got):\n%s", d)
	}
}

// TestBuildListenerRuleConfigurationRefused: a configuration kelb cannot
// apply refuses the route, naming the field.
func TestBuildListenerRuleConfigurationRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     map[types.NamespacedName]*awsv1.ListenerRuleConfiguration
		message string
	}{
		{"missing", nil, "spec.rules[0].filters[0].extensionRef: ListenerRuleConfiguration shop/rules not found"},
		{"status code", ruleConfigs(awsv1.ListenerRuleConfigurationSpec{Actions: []awsv1.RuleAction{{Type: "fixed-response", FixedResponseConfig: &awsv1.FixedResponseConfig{StatusCode: 302}}}}),
			"spec.rules[0].filters[0].extensionRef: ListenerRuleConfiguration shop/rules spec.actions[0].fixedResponseConfig.statusCode: 302"},
		{"redirect without RequestRedirect", ruleConfigs(awsv1.ListenerRuleConfigurationSpec{Actions: []awsv1.RuleAction{{Type: "redirect", RedirectConfig: &awsv1.RedirectConfig{Query: ptr("a=1")}}}}),
			"spec.rules[0].filters[0].extensionRef: ListenerRuleConfiguration shop/rules spec.actions[0]: a redirect action"},
		{"source ip", ruleConfigs(awsv1.ListenerRuleConfigurationSpec{Conditions: []awsv1.RuleCondition{{Field: "source-ip", SourceIPConfig: &awsv1.SourceIPCondition{Values: []string{"nope"}}}}}),
			"spec.rules[0].filters[0].extensionRef: ListenerRuleConfiguration shop/rules spec.conditions[0].sourceIPConfig.values[0]"},
	} {
		in := configuredGateway(Config{RuleConfigs: tc.cfg}, gatewayv1.HTTPRouteRule{Filters: []gatewayv1.HTTPRouteFilter{ruleConfigFilter},
			BackendRefs: []gatewayv1.HTTPBackendRef{backend("", "web", 80, 1)}})
		in.Class.Spec.ParametersRef, in.Gateway.Spec.Infrastructure = nil, nil
		res := Build(in, opts)
		c := condition(t, res, in.Routes[0].Key(), gatewayv1.RouteConditionAccepted)
		if c.Status != metav1.ConditionFalse || c.Reason != string(gatewayv1.RouteReasonUnsupportedValue) || !strings.HasPrefix(c.Message, tc.message) {
			t.Errorf("%s: Accepted %s/%s %q, want False/UnsupportedValue starting %q", tc.name, c.Status, c.Reason, c.Message, tc.message)
		}
	}
}
