package elb

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/certstore"
	"github.com/kelb-io/kelb/internal/elb/store"
)

func oidcAction(order int32) Action {
	return Action{Type: ActionAuthenticateOidc, Order: order, AuthenticateOidc: &AuthenticateOidcConfig{
		Issuer: "https://idp.example.com", AuthorizationEndpoint: "https://idp.example.com/authorize",
		TokenEndpoint: "https://idp.example.com/token", UserInfoEndpoint: "https://idp.example.com/userinfo",
		ClientID: "kelb", ClientSecret: "s3cret"}}
}

// TestActionsValidation checks the ordering rules of several actions and
// the authenticate actions' checks, with ELBv2's error codes.
func TestActionsValidation(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	cert := Certificate{ARN: "arn:aws:acm:us-west-2:123456789012:certificate/auth"}
	if err := env.store.Update(ctx, func(tx store.Tx) error { return tx.Put(certstore.Kind, cert.ARN, []byte("{}")) }); err != nil {
		t.Fatal(err)
	}
	alb, err := env.svc.CreateLoadBalancer(ctx, CreateLoadBalancerInput{Name: "app", Subnets: []string{"subnet-a"}})
	wantCode(t, err, "")
	web := env.tg(t, "web", "HTTP")
	fwd := func(order int32) Action { return Action{Type: ActionForward, Order: order, TargetGroupARN: web.ARN} }
	fixed := func(order int32) Action {
		return Action{Type: ActionFixedResponse, Order: order, FixedResponse: &FixedResponseConfig{StatusCode: "200"}}
	}
	jwt := func(order int32, mut func(*JwtValidationConfig)) Action {
		c := &JwtValidationConfig{JwksEndpoint: "https://idp.example.com/jwks", Issuer: "https://idp.example.com"}
		if mut != nil {
			mut(c)
		}
		return Action{Type: ActionJwtValidation, Order: order, JwtValidation: c}
	}
	mutOidc := func(mut func(*AuthenticateOidcConfig)) Action {
		a := oidcAction(1)
		mut(a.AuthenticateOidc)
		return a
	}
	tests := []struct {
		name     string
		protocol string
		actions  []Action
		code     string
	}{
		{"oidc then forward", "HTTPS", []Action{fwd(2), oidcAction(1)}, ""},
		{"jwt then fixed", "HTTPS", []Action{jwt(1, nil), fixed(5)}, ""},
		{"cognito then forward", "HTTPS", []Action{{Type: ActionAuthenticateCognito, Order: 1, AuthenticateCognito: &AuthenticateCognitoConfig{
			UserPoolArn: "arn:aws:cognito-idp:us-west-2:123456789012:userpool/us-west-2_abcDEF123", UserPoolClientID: "c", UserPoolDomain: "kelb"}}, fwd(2)}, ""},
		{"auth on HTTP", "HTTP", []Action{oidcAction(1), fwd(2)}, CodeInvalidLoadBalancerAction},
		{"terminal not last", "HTTPS", []Action{fwd(1), oidcAction(2)}, CodeInvalidLoadBalancerAction},
		{"two terminals", "HTTPS", []Action{fwd(1), fixed(2)}, CodeTooManyActions},
		{"two authenticate", "HTTPS", []Action{oidcAction(1), jwt(2, nil), fwd(3)}, CodeTooManyActions},
		{"no terminal", "HTTPS", []Action{oidcAction(1)}, CodeInvalidLoadBalancerAction},
		{"order missing", "HTTPS", []Action{oidcAction(1), fwd(0)}, CodeValidationError},
		{"order repeated", "HTTPS", []Action{oidcAction(1), fwd(1)}, CodeValidationError},
		{"order too large", "HTTPS", []Action{oidcAction(1), fwd(50001)}, CodeValidationError},
		{"oidc without secret", "HTTPS", []Action{mutOidc(func(c *AuthenticateOidcConfig) { c.ClientSecret = "" }), fwd(2)}, CodeValidationError},
		{"oidc http issuer", "HTTPS", []Action{mutOidc(func(c *AuthenticateOidcConfig) { c.Issuer = "http://idp" }), fwd(2)}, CodeValidationError},
		{"oidc bad behaviour", "HTTPS", []Action{mutOidc(func(c *AuthenticateOidcConfig) { c.OnUnauthenticatedRequest = "maybe" }), fwd(2)}, CodeValidationError},
		{"oidc timeout too long", "HTTPS", []Action{mutOidc(func(c *AuthenticateOidcConfig) { c.SessionTimeout = 604801 }), fwd(2)}, CodeValidationError},
		{"jwt default claim", "HTTPS", []Action{jwt(1, func(c *JwtValidationConfig) {
			c.AdditionalClaims = []JwtClaim{{Format: "single-string", Name: "exp", Values: []string{"1"}}}
		}), fwd(2)}, CodeValidationError},
		{"jwt spaces", "HTTPS", []Action{jwt(1, func(c *JwtValidationConfig) {
			c.AdditionalClaims = []JwtClaim{{Format: "space-separated-values", Name: "scope", Values: []string{"a b"}}}
		}), fwd(2)}, CodeValidationError},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := CreateListenerInput{LoadBalancerARN: alb.ARN, Protocol: tt.protocol, Port: int32(1000 + i), DefaultActions: tt.actions}
			if tt.protocol == "HTTPS" {
				in.Certificates = []Certificate{cert}
			}
			l, err := env.svc.CreateListener(ctx, in)
			wantCode(t, err, tt.code)
			if err != nil {
				return
			}
			for j := 1; j < len(l.DefaultActions); j++ {
				if l.DefaultActions[j-1].Order >= l.DefaultActions[j].Order {
					t.Fatalf("actions not sorted by order: %+v", l.DefaultActions)
				}
			}
		})
	}
}

// TestOidcDefaultsAndExistingSecret checks the defaults ELBv2 fills in and
// that a modify with UseExistingClientSecret keeps the stored secret.
func TestOidcDefaultsAndExistingSecret(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	cert := Certificate{ARN: "arn:aws:acm:us-west-2:123456789012:certificate/auth"}
	if err := env.store.Update(ctx, func(tx store.Tx) error { return tx.Put(certstore.Kind, cert.ARN, []byte("{}")) }); err != nil {
		t.Fatal(err)
	}
	alb, err := env.svc.CreateLoadBalancer(ctx, CreateLoadBalancerInput{Name: "app", Subnets: []string{"subnet-a"}})
	wantCode(t, err, "")
	web := env.tg(t, "web", "HTTP")
	l, err := env.svc.CreateListener(ctx, CreateListenerInput{LoadBalancerARN: alb.ARN, Protocol: "HTTPS", Port: 443,
		Certificates: []Certificate{cert}, DefaultActions: []Action{oidcAction(1), {Type: ActionForward, Order: 2, TargetGroupARN: web.ARN}}})
	wantCode(t, err, "")
	want := &AuthenticateOidcConfig{
		Issuer: "https://idp.example.com", AuthorizationEndpoint: "https://idp.example.com/authorize",
		TokenEndpoint: "https://idp.example.com/token", UserInfoEndpoint: "https://idp.example.com/userinfo",
		ClientID: "kelb", ClientSecret: "s3cret", SessionCookieName: "AWSELBAuthSessionCookie", Scope: "openid",
		SessionTimeout: 604800, OnUnauthenticatedRequest: "authenticate"}
	if diff := cmp.Diff(want, l.DefaultActions[0].AuthenticateOidc); diff != "" {
		t.Fatalf("stored oidc config (-want +got):\n%s", diff)
	}

	keep := oidcAction(1)
	keep.AuthenticateOidc.ClientSecret = ""
	keep.AuthenticateOidc.UseExistingClientSecret = true
	keep.AuthenticateOidc.Scope = "openid email"
	m, err := env.svc.ModifyListener(ctx, ModifyListenerInput{ListenerARN: l.ARN,
		DefaultActions: []Action{keep, {Type: ActionForward, Order: 2, TargetGroupARN: web.ARN}}})
	wantCode(t, err, "")
	if got := m.DefaultActions[0].AuthenticateOidc; got.ClientSecret != "s3cret" || got.Scope != "openid email" {
		t.Fatalf("modified oidc config = %+v, want the existing secret and the new scope", got)
	}

	// A rule without an authenticate-oidc action has no secret to keep.
	r, err := env.svc.CreateRule(ctx, CreateRuleInput{ListenerARN: l.ARN, Priority: 1,
		Conditions: []RuleCondition{{Field: "path-pattern", Values: []string{"/x"}}},
		Actions:    []Action{{Type: ActionForward, TargetGroupARN: web.ARN}}})
	wantCode(t, err, "")
	_, err = env.svc.ModifyRule(ctx, ModifyRuleInput{RuleARN: r.ARN, Actions: []Action{keep, {Type: ActionForward, Order: 2, TargetGroupARN: web.ARN}}})
	wantCode(t, err, CodeValidationError)
}

// TestForwardTargetGroups checks which target groups an action forwards
// to, in both forms an action can name them.
func TestForwardTargetGroups(t *testing.T) {
	weighted := []WeightedTargetGroup{{TargetGroupARN: "tg-a", Weight: 3}, {TargetGroupARN: "tg-b", Weight: 1}}
	for _, tc := range []struct {
		name   string
		action Action
		want   []WeightedTargetGroup
	}{
		{"target group ARN", Action{Type: ActionForward, TargetGroupARN: "tg-a"}, []WeightedTargetGroup{{TargetGroupARN: "tg-a", Weight: 1}}},
		{"forward config", Action{Type: ActionForward, Forward: &ForwardConfig{TargetGroups: weighted}}, weighted},
		{"both, as stored", Action{Type: ActionForward, TargetGroupARN: "tg-a", Forward: &ForwardConfig{TargetGroups: weighted[:1]}}, weighted[:1]},
		{"empty forward config", Action{Type: ActionForward, TargetGroupARN: "tg-a", Forward: &ForwardConfig{StickinessEnabled: true}}, []WeightedTargetGroup{{TargetGroupARN: "tg-a", Weight: 1}}},
		{"no group", Action{Type: ActionForward}, nil},
		{"not a forward action", Action{Type: ActionFixedResponse, TargetGroupARN: "tg-a"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.action.ForwardTargetGroups()); diff != "" {
				t.Errorf("ForwardTargetGroups (-want +got):\n%s", diff)
			}
		})
	}
	actions := []Action{
		{Type: ActionAuthenticateOidc, Order: 1},
		{Type: ActionForward, Order: 2, Forward: &ForwardConfig{TargetGroups: weighted}},
		{Type: ActionForward, Order: 3, TargetGroupARN: "tg-b"},
		{Type: ActionForward, Order: 4, TargetGroupARN: "tg-c"},
	}
	if diff := cmp.Diff([]string{"tg-a", "tg-b", "tg-c"}, TargetGroupARNs(actions)); diff != "" {
		t.Errorf("TargetGroupARNs (-want +got):\n%s", diff)
	}
}
