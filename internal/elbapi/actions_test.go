package elbapi

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kelb-io/kelb/internal/certstore"
	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elb/store"
)

// TestSDKAuthenticateActions creates a listener and a rule with an
// authenticate action before the forward through aws-sdk-go-v2: every field
// comes back as sent (defaults filled in) except the client secret, which
// ELBv2 never describes; ModifyRule with UseExistingClientSecret keeps it.
func TestSDKAuthenticateActions(t *testing.T) {
	srv := startELB(t)
	c := srv.client(t)
	ctx := t.Context()
	cert := "arn:aws:acm:us-west-2:123456789012:certificate/auth"
	if err := srv.store.Update(ctx, func(tx store.Tx) error { return tx.Put(certstore.Kind, cert, []byte("{}")) }); err != nil {
		t.Fatal(err)
	}
	lb := must(c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("auth")}))(t).LoadBalancers[0]
	web := must(c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{VpcId: aws.String("vpc-0ce1b000000000000"), Name: aws.String("web"),
		Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80), TargetType: types.TargetTypeEnumIp}))(t).TargetGroups[0]
	oidc := &types.AuthenticateOidcActionConfig{
		Issuer: aws.String("https://idp.example.com"), AuthorizationEndpoint: aws.String("https://idp.example.com/auth"),
		TokenEndpoint: aws.String("https://idp.example.com/token"), UserInfoEndpoint: aws.String("https://idp.example.com/userinfo"),
		ClientId: aws.String("kelb"), ClientSecret: aws.String("s3cret"),
		AuthenticationRequestExtraParams: map[string]string{"prompt": "login", "display": "page"},
		OnUnauthenticatedRequest:         types.AuthenticateOidcActionConditionalBehaviorEnumDeny,
	}
	l := must(c.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancerArn, Protocol: types.ProtocolEnumHttps, Port: aws.Int32(443),
		Certificates: []types.Certificate{{CertificateArn: aws.String(cert)}},
		DefaultActions: []types.Action{
			{Type: types.ActionTypeEnumForward, Order: aws.Int32(2), TargetGroupArn: web.TargetGroupArn},
			{Type: types.ActionTypeEnumAuthenticateOidc, Order: aws.Int32(1), AuthenticateOidcConfig: oidc},
		},
	}))(t).Listeners[0]
	want := &types.AuthenticateOidcActionConfig{
		Issuer: oidc.Issuer, AuthorizationEndpoint: oidc.AuthorizationEndpoint, TokenEndpoint: oidc.TokenEndpoint,
		UserInfoEndpoint: oidc.UserInfoEndpoint, ClientId: oidc.ClientId,
		AuthenticationRequestExtraParams: oidc.AuthenticationRequestExtraParams,
		OnUnauthenticatedRequest:         types.AuthenticateOidcActionConditionalBehaviorEnumDeny,
		Scope:                            aws.String("openid"), SessionCookieName: aws.String("AWSELBAuthSessionCookie"), SessionTimeout: aws.Int64(604800),
	}
	opts := cmpopts.IgnoreUnexported(types.AuthenticateOidcActionConfig{})
	described := must(c.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{aws.ToString(l.ListenerArn)}}))(t).Listeners[0]
	for _, got := range [][]types.Action{l.DefaultActions, described.DefaultActions} {
		if len(got) != 2 || got[0].Type != types.ActionTypeEnumAuthenticateOidc || aws.ToInt32(got[0].Order) != 1 || got[1].Type != types.ActionTypeEnumForward {
			t.Fatalf("default actions = %+v, want authenticate-oidc (1) then forward (2)", got)
		}
		if diff := cmp.Diff(want, got[0].AuthenticateOidcConfig, opts); diff != "" {
			t.Errorf("described oidc config (-want +got):\n%s", diff)
		}
	}

	// A rule with jwt-validation and cognito round-trips too.
	r := must(c.CreateRule(ctx, &elbv2.CreateRuleInput{
		ListenerArn: l.ListenerArn, Priority: aws.Int32(1),
		Conditions: []types.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/api/*"}}},
		Actions: []types.Action{
			{Type: types.ActionTypeEnumJwtValidation, Order: aws.Int32(10), JwtValidationConfig: &types.JwtValidationActionConfig{
				JwksEndpoint: aws.String("https://idp.example.com/jwks"), Issuer: aws.String("https://idp.example.com"),
				AdditionalClaims: []types.JwtValidationActionAdditionalClaim{{Format: types.JwtValidationActionAdditionalClaimFormatEnumSpaceSeparatedValues,
					Name: aws.String("scope"), Values: []string{"read", "write"}}}}},
			{Type: types.ActionTypeEnumFixedResponse, Order: aws.Int32(20), FixedResponseConfig: &types.FixedResponseActionConfig{StatusCode: aws.String("200")}},
		},
	}))(t).Rules[0]
	jc := r.Actions[0].JwtValidationConfig
	if jc == nil || aws.ToString(jc.JwksEndpoint) != "https://idp.example.com/jwks" || len(jc.AdditionalClaims) != 1 ||
		!cmp.Equal(jc.AdditionalClaims[0].Values, []string{"read", "write"}) {
		t.Fatalf("jwt-validation config = %+v", jc)
	}
	cognito := must(c.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: r.RuleArn, Actions: []types.Action{
		{Type: types.ActionTypeEnumAuthenticateCognito, Order: aws.Int32(1), AuthenticateCognitoConfig: &types.AuthenticateCognitoActionConfig{
			UserPoolArn:      aws.String("arn:aws:cognito-idp:us-west-2:123456789012:userpool/us-west-2_abcDEF123"),
			UserPoolClientId: aws.String("client"), UserPoolDomain: aws.String("kelb"), SessionTimeout: aws.Int64(3600)}},
		{Type: types.ActionTypeEnumForward, Order: aws.Int32(2), TargetGroupArn: web.TargetGroupArn},
	}}))(t).Rules[0]
	if cc := cognito.Actions[0].AuthenticateCognitoConfig; cc == nil || aws.ToString(cc.UserPoolDomain) != "kelb" ||
		aws.ToInt64(cc.SessionTimeout) != 3600 || cc.OnUnauthenticatedRequest != types.AuthenticateCognitoActionConditionalBehaviorEnumAuthenticate {
		t.Fatalf("cognito config = %+v", cc)
	}

	// Without a secret and without UseExistingClientSecret: refused.
	noSecret := *oidc
	noSecret.ClientSecret = nil
	_, err := c.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: l.ListenerArn, DefaultActions: []types.Action{
		{Type: types.ActionTypeEnumAuthenticateOidc, Order: aws.Int32(1), AuthenticateOidcConfig: &noSecret},
		{Type: types.ActionTypeEnumForward, Order: aws.Int32(2), TargetGroupArn: web.TargetGroupArn}}})
	wantAPIError(t, err, "ValidationError")
	noSecret.UseExistingClientSecret = aws.Bool(true)
	must(c.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: l.ListenerArn, DefaultActions: []types.Action{
		{Type: types.ActionTypeEnumAuthenticateOidc, Order: aws.Int32(1), AuthenticateOidcConfig: &noSecret},
		{Type: types.ActionTypeEnumForward, Order: aws.Int32(2), TargetGroupArn: web.TargetGroupArn}}}))(t)
	stored, err := srv.svc.DescribeListeners(ctx, elb.DescribeListenersInput{ListenerARNs: []string{aws.ToString(l.ListenerArn)}})
	if err != nil || stored[0].DefaultActions[0].AuthenticateOidc.ClientSecret != "s3cret" {
		t.Fatalf("stored secret after UseExistingClientSecret = %+v, %v", stored, err)
	}

	// Two terminal actions and an order out of range, as ELBv2 answers.
	_, err = c.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: l.ListenerArn, Priority: aws.Int32(2),
		Conditions: []types.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/b"}}},
		Actions: []types.Action{{Type: types.ActionTypeEnumForward, Order: aws.Int32(1), TargetGroupArn: web.TargetGroupArn},
			{Type: types.ActionTypeEnumFixedResponse, Order: aws.Int32(2), FixedResponseConfig: &types.FixedResponseActionConfig{StatusCode: aws.String("200")}}}})
	var tooMany *types.TooManyActionsException
	if !errors.As(err, &tooMany) {
		t.Errorf("two terminal actions: %v, want TooManyActionsException", err)
	}
	_, err = c.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: l.ListenerArn, Priority: aws.Int32(3),
		Conditions: []types.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/c"}}},
		Actions:    []types.Action{{Type: types.ActionTypeEnumForward, Order: aws.Int32(50001), TargetGroupArn: web.TargetGroupArn}}})
	wantAPIError(t, err, "ValidationError")
}
