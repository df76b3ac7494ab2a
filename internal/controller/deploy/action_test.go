package deploy

import (
	"context"
	"testing"

	"github.com/kelb-io/kelb/internal/controller/model"
)

type fakeOIDCSecrets map[string][2]string

func (f fakeOIDCSecrets) OIDCClient(_ context.Context, name string) (string, string, error) {
	v := f[name]
	return v[0], v[1], nil
}

// An action with authentication goes to the API as authenticate (order 1)
// then its own action (order 2), and reads back as the same action.
func TestSDKActionsRoundTrip(t *testing.T) {
	forward := &model.ForwardAction{TargetGroups: []model.WeightedTargetGroup{{ARN: "arn:tg:a", Weight: 1}}}
	for _, a := range []model.Action{
		{Type: model.ActionForward, Forward: forward},
		{Type: model.ActionForward, Forward: forward, Authenticate: &model.AuthenticateAction{Type: model.AuthenticateOIDC,
			OIDC: &model.OIDCAuth{Issuer: "https://idp.example", AuthorizationEndpoint: "https://idp.example/auth", TokenEndpoint: "https://idp.example/token",
				UserInfoEndpoint: "https://idp.example/userinfo", ClientID: "id"},
			Scope: "openid", SessionCookieName: "AWSELBAuthSessionCookie", SessionTimeout: 604800, OnUnauthenticatedRequest: "authenticate"}},
		{Type: model.ActionForward, Forward: forward, Authenticate: &model.AuthenticateAction{Type: model.JWTValidation,
			JWT: &model.JWTValidationAuth{JwksEndpoint: "https://idp.example/jwks", Issuer: "https://idp.example",
				AdditionalClaims: []model.JWTClaim{{Format: "single-string", Name: "sub", Values: []string{"x"}}}}}},
		{Type: model.ActionRedirect, Redirect: &model.RedirectAction{Protocol: "HTTPS", Port: "443", StatusCode: "HTTP_301"}},
		{Type: model.ActionFixedResponse, FixedResponse: &model.FixedResponseAction{StatusCode: "404", ContentType: "text/plain", MessageBody: "no"}},
	} {
		sdk := sdkActions(a, model.TypeApplication)
		if a.Authenticate != nil && (len(sdk) != 2 || *sdk[0].Order != 1 || *sdk[1].Order != 2) {
			t.Fatalf("sdkActions(%+v) = %+v", a, sdk)
		}
		if back := fromSDKActions(sdk); !SameAction(back, a) {
			t.Errorf("fromSDKActions(sdkActions(a)) = %+v, want %+v", back, a)
		}
	}
	// A network listener's forward names its one target group alone.
	sdk := sdkActions(model.Action{Type: model.ActionForward, Forward: forward}, model.TypeNetwork)
	if len(sdk) != 1 || sdk[0].TargetGroupArn == nil || *sdk[0].TargetGroupArn != "arn:tg:a" || sdk[0].ForwardConfig != nil {
		t.Errorf("network forward = %+v", sdk)
	}
}

// resolveAction fills the client id and secret in at deploy time; the
// model never holds them, and the input is not changed.
func TestResolveActionOIDC(t *testing.T) {
	d := &Deployer{OIDCSecrets: fakeOIDCSecrets{"web/oidc": {"id", "secret"}}}
	a := model.Action{Type: model.ActionForward, Authenticate: &model.AuthenticateAction{Type: model.AuthenticateOIDC, OIDC: &model.OIDCAuth{Secret: "web/oidc"}}}
	got, err := d.resolveAction(context.Background(), a, nil)
	if err != nil || got.Authenticate.OIDC.ClientID != "id" || got.Authenticate.OIDC.ClientSecret != "secret" || a.Authenticate.OIDC.ClientSecret != "" {
		t.Fatalf("resolveAction = %+v, %v (input changed: %+v)", got.Authenticate.OIDC, err, a.Authenticate.OIDC)
	}
	sdk := sdkActions(got, model.TypeApplication)
	if *sdk[0].AuthenticateOidcConfig.ClientSecret != "secret" || *sdk[0].AuthenticateOidcConfig.ClientId != "id" {
		t.Errorf("sdk config = %+v", sdk[0].AuthenticateOidcConfig)
	}
	if _, err := (&Deployer{}).resolveAction(context.Background(), a, nil); err == nil {
		t.Error("resolved without a Secret reader")
	}
}
