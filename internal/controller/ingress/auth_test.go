package ingress

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kelb-io/kelb/internal/controller/deploy"
)

// TestAuthenticateAnnotations builds the authenticate action of HTTPS
// rules from the AWS Load Balancer Controller's annotations, the backend
// Service's over the Ingress's, and refuses what would leave a backend
// open or is malformed.
func TestAuthenticateAnnotations(t *testing.T) {
	const oidc = `{"issuer":"https://idp.example","authorizationEndpoint":"https://idp.example/auth","tokenEndpoint":"https://idp.example/token","userInfoEndpoint":"https://idp.example/userinfo","secretName":"oidc","authenticationRequestExtraParams":{"prompt":"login"}}`
	https := map[string]string{AnnotationListenPorts: `[{"HTTPS":443}]`, AnnotationCertificateARN: "arn:aws:acm:us-west-2:123456789012:certificate/x"}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range https {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name    string
		ing     map[string]string
		svc     map[string]string
		want    *AuthenticateAction
		wantErr string
	}{
		{name: "oidc", ing: with(map[string]string{AnnotationAuthType: "oidc", AnnotationAuthIDPOIDC: oidc, AnnotationAuthScope: "openid email",
			AnnotationAuthSessionTimeout: "3600", AnnotationAuthOnUnauthenticatedRequest: "deny", AnnotationAuthSessionCookie: "sess"}),
			want: &AuthenticateAction{Type: "authenticate-oidc", OIDC: &OIDCAuth{Issuer: "https://idp.example", AuthorizationEndpoint: "https://idp.example/auth",
				TokenEndpoint: "https://idp.example/token", UserInfoEndpoint: "https://idp.example/userinfo", Secret: "web/oidc", ExtraParams: map[string]string{"prompt": "login"}},
				Scope: "openid email", SessionCookieName: "sess", SessionTimeout: 3600, OnUnauthenticatedRequest: "deny"}},
		{name: "cognito on the Service", ing: https, svc: map[string]string{AnnotationAuthType: "cognito",
			AnnotationAuthIDPCognito: `{"userPoolARN":"arn:aws:cognito-idp:us-west-2:123456789012:userpool/us-west-2_abc","userPoolClientID":"c","userPoolDomain":"d"}`},
			want: &AuthenticateAction{Type: "authenticate-cognito", Cognito: &CognitoAuth{UserPoolARN: "arn:aws:cognito-idp:us-west-2:123456789012:userpool/us-west-2_abc", UserPoolClientID: "c", UserPoolDomain: "d"},
				Scope: "openid", SessionCookieName: "AWSELBAuthSessionCookie", SessionTimeout: 604800, OnUnauthenticatedRequest: "authenticate"}},
		{name: "Service none overrides Ingress oidc", ing: with(map[string]string{AnnotationAuthType: "oidc", AnnotationAuthIDPOIDC: oidc}), svc: map[string]string{AnnotationAuthType: "none"}},
		{name: "jwt-validation", ing: with(map[string]string{AnnotationJWTValidation: `{"jwksEndpoint":"https://idp.example/jwks","issuer":"https://idp.example","additionalClaims":[{"format":"single-string","name":"aud","values":["api"]}]}`}),
			want: &AuthenticateAction{Type: "jwt-validation", JWT: &JWTValidationAuth{JwksEndpoint: "https://idp.example/jwks", Issuer: "https://idp.example",
				AdditionalClaims: []JWTClaim{{Format: "single-string", Name: "aud", Values: []string{"api"}}}}}},
		{name: "oidc on HTTP is refused", ing: map[string]string{AnnotationAuthType: "oidc", AnnotationAuthIDPOIDC: oidc}, wantErr: "only HTTPS listeners give"},
		{name: "oidc without idp", ing: with(map[string]string{AnnotationAuthType: "oidc"}), wantErr: AnnotationAuthIDPOIDC},
		{name: "oidc and jwt", ing: with(map[string]string{AnnotationAuthType: "oidc", AnnotationAuthIDPOIDC: oidc, AnnotationJWTValidation: `{"jwksEndpoint":"https://j","issuer":"i"}`}), wantErr: "cannot both"},
		{name: "bad timeout", ing: with(map[string]string{AnnotationAuthType: "oidc", AnnotationAuthIDPOIDC: oidc, AnnotationAuthSessionTimeout: "0"}), wantErr: AnnotationAuthSessionTimeout},
		{name: "bad behaviour", ing: with(map[string]string{AnnotationAuthType: "oidc", AnnotationAuthIDPOIDC: oidc, AnnotationAuthOnUnauthenticatedRequest: "maybe"}), wantErr: AnnotationAuthOnUnauthenticatedRequest},
		{name: "oidc without secretName", ing: with(map[string]string{AnnotationAuthType: "oidc", AnnotationAuthIDPOIDC: `{"issuer":"https://i","authorizationEndpoint":"https://a","tokenEndpoint":"https://t","userInfoEndpoint":"https://u"}`}), wantErr: "secretName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ing, svcs := seedIngress(tt.ing)
			if tt.svc != nil {
				svcs[types.NamespacedName{Namespace: "web", Name: "web"}].Annotations = tt.svc
			}
			st, err := Build(BuildInput{Group: GroupID{Namespace: "web", Name: "site"}, Members: []Member{{Ingress: ing}}, Services: svcs}, testOptions)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Build error = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := st.Listeners[0].Rules[0].Action.Authenticate
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("authenticate action (-want +got):\n%s", diff)
			}
		})
	}
}

type fakeOIDCSecrets map[string][2]string

func (f fakeOIDCSecrets) OIDCClient(_ context.Context, name string) (string, string, error) {
	v := f[name]
	return v[0], v[1], nil
}

// TestDeployAuthenticate deploys the auth-oidc-jwt case to kelb server's
// API: the HTTPS rules get authenticate-oidc (with the Secret's client id
// and secret) or jwt-validation before their forward, and a second deploy
// writes nothing though the API never describes the secret.
func TestDeployAuthenticate(t *testing.T) {
	ctx := context.Background()
	client, log := elbServer(t)
	d := &deploy.Deployer{Frontend: Frontend, Client: client, ClusterName: testOptions.ClusterName, OIDCSecrets: fakeOIDCSecrets{"app/oidc-client": {"kelb-app", "s3cret"}}}
	cert := importCert(t, "app.example.test")
	st := buildGroup(t, "testdata/auth-oidc-jwt.yaml", GroupID{Namespace: "app", Name: "site"}, func(w *world) {
		w.ingresses[0].Annotations[AnnotationCertificateARN] = cert
	})
	res, err := d.Deploy(ctx, st)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	ls, err := client.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: &res.LoadBalancerARN})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, l := range ls.Listeners {
		if l.Protocol != "HTTPS" {
			continue
		}
		rules, err := client.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: l.ListenerArn})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rules.Rules {
			var s []string
			for _, a := range r.Actions {
				s = append(s, string(a.Type))
				if c := a.AuthenticateOidcConfig; c != nil && (aws.ToString(c.ClientId) != "kelb-app" || c.ClientSecret != nil) {
					t.Errorf("described oidc config: client %q, secret %v", aws.ToString(c.ClientId), c.ClientSecret)
				}
			}
			types = append(types, aws.ToString(r.Priority)+" "+strings.Join(s, ","))
		}
	}
	want := []string{"1 jwt-validation,forward", "2 authenticate-oidc,forward", "default fixed-response"}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Errorf("HTTPS rules (-want +got):\n%s", diff)
	}
	log.writes()
	if _, err := d.Deploy(ctx, st); err != nil {
		t.Fatal(err)
	}
	if w := log.writes(); len(w) != 0 {
		t.Errorf("redeploy wrote %v", w)
	}
}
