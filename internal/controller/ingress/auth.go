package ingress

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kelb-io/kelb/internal/controller/deploy"
)

// Authentication annotations, as the AWS Load Balancer Controller reads
// them from an Ingress or, overriding it, from a backend Service.
const (
	AnnotationAuthScope                    = AnnotationPrefix + "auth-scope"
	AnnotationAuthSessionCookie            = AnnotationPrefix + "auth-session-cookie"
	AnnotationAuthSessionTimeout           = AnnotationPrefix + "auth-session-timeout"
	AnnotationAuthOnUnauthenticatedRequest = AnnotationPrefix + "auth-on-unauthenticated-request"
)

// OIDC client Secret keys, as the AWS Load Balancer Controller reads them
// (clientId is the older controller's name).
const (
	oidcSecretClientID       = "clientID"
	oidcSecretClientIDLegacy = "clientId"
	oidcSecretClientSecret   = "clientSecret"
)

// authenticate returns the authenticate action an Ingress backend (a
// Service, or the name of an actions annotation) asks for, from the
// Service's annotations over the Ingress's; nil for none. auth-type oidc
// or cognito and jwt-validation together are an error, as in the AWS Load
// Balancer Controller.
func (b *builder) authenticate(m Member, svcName string) (*AuthenticateAction, error) {
	ing := m.Ingress
	var svcAnn annotations
	if svc := b.in.Services[types.NamespacedName{Namespace: ing.Namespace, Name: svcName}]; svc != nil {
		svcAnn = annotations(svc.Annotations)
	}
	ann := layered{svcAnn, annotations(ing.Annotations)}
	authType := "none"
	if v, ok, err := ann.source(AnnotationAuthType).OneOf(AnnotationAuthType, "none", "oidc", "cognito"); err != nil {
		return nil, err
	} else if ok {
		authType = v
	}
	var jwt JWTValidationAuth
	hasJWT, err := ann.source(AnnotationJWTValidation).JSON(AnnotationJWTValidation, &jwt)
	if err != nil {
		return nil, err
	}
	if hasJWT {
		if authType != "none" {
			return nil, ann.source(AnnotationJWTValidation).Fail(AnnotationJWTValidation, "authentication (auth-type "+authType+") and JWT validation cannot both be configured")
		}
		if jwt.JwksEndpoint == "" || jwt.Issuer == "" {
			return nil, ann.source(AnnotationJWTValidation).Fail(AnnotationJWTValidation, "jwksEndpoint and issuer are required")
		}
		return &AuthenticateAction{Type: actionJWTValidation, JWT: &jwt}, nil
	}
	a := &AuthenticateAction{Scope: "openid", SessionCookieName: "AWSELBAuthSessionCookie", SessionTimeout: 604800, OnUnauthenticatedRequest: "authenticate"}
	switch authType {
	case "none":
		return nil, nil
	case "oidc":
		src := ann.source(AnnotationAuthIDPOIDC)
		var c struct {
			Issuer                           string            `json:"issuer"`
			AuthorizationEndpoint            string            `json:"authorizationEndpoint"`
			TokenEndpoint                    string            `json:"tokenEndpoint"`
			UserInfoEndpoint                 string            `json:"userInfoEndpoint"`
			SecretName                       string            `json:"secretName"`
			AuthenticationRequestExtraParams map[string]string `json:"authenticationRequestExtraParams"`
		}
		ok, err := src.JSON(AnnotationAuthIDPOIDC, &c)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, ann.source(AnnotationAuthType).Fail(AnnotationAuthType, "auth-type oidc needs "+AnnotationAuthIDPOIDC)
		}
		if c.SecretName == "" || c.Issuer == "" || c.AuthorizationEndpoint == "" || c.TokenEndpoint == "" || c.UserInfoEndpoint == "" {
			return nil, src.Fail(AnnotationAuthIDPOIDC, "issuer, authorizationEndpoint, tokenEndpoint, userInfoEndpoint and secretName are required")
		}
		a.Type = actionAuthenticateOIDC
		a.OIDC = &OIDCAuth{Issuer: c.Issuer, AuthorizationEndpoint: c.AuthorizationEndpoint, TokenEndpoint: c.TokenEndpoint,
			UserInfoEndpoint: c.UserInfoEndpoint, Secret: ing.Namespace + "/" + c.SecretName, ExtraParams: c.AuthenticationRequestExtraParams}
	case "cognito":
		src := ann.source(AnnotationAuthIDPCognito)
		var c CognitoAuth
		ok, err := src.JSON(AnnotationAuthIDPCognito, &c)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, ann.source(AnnotationAuthType).Fail(AnnotationAuthType, "auth-type cognito needs "+AnnotationAuthIDPCognito)
		}
		if c.UserPoolARN == "" || c.UserPoolClientID == "" || c.UserPoolDomain == "" {
			return nil, src.Fail(AnnotationAuthIDPCognito, "userPoolARN, userPoolClientID and userPoolDomain are required")
		}
		a.Type = actionAuthenticateCognito
		a.Cognito = &c
	}
	if v, ok := ann.source(AnnotationAuthScope).Str(AnnotationAuthScope); ok {
		a.Scope = v
	}
	if v, ok := ann.source(AnnotationAuthSessionCookie).Str(AnnotationAuthSessionCookie); ok {
		a.SessionCookieName = v
	}
	if v, ok := ann.source(AnnotationAuthSessionTimeout).Str(AnnotationAuthSessionTimeout); ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 1 || n > 604800 {
			return nil, ann.source(AnnotationAuthSessionTimeout).Fail(AnnotationAuthSessionTimeout, "must be a number of seconds from 1 to 604800")
		}
		a.SessionTimeout = n
	}
	if v, ok, err := ann.source(AnnotationAuthOnUnauthenticatedRequest).OneOf(AnnotationAuthOnUnauthenticatedRequest, "authenticate", "allow", "deny"); err != nil {
		return nil, err
	} else if ok {
		a.OnUnauthenticatedRequest = v
	}
	return a, nil
}

// withAuthenticate adds the authenticate action a backend asks for to
// action a of a listener with protocol. On HTTPS listeners it runs before
// a, as the AWS Load Balancer Controller builds it; an HTTP listener that
// would serve the backend without it is refused rather than left open
// (use ssl-redirect, or listen on HTTPS only).
func (b *builder) withAuthenticate(a *Action, protocol string, port int32, m Member, svcName string) error {
	auth, err := b.authenticate(m, svcName)
	if err != nil || auth == nil {
		return err
	}
	if protocol != "HTTPS" {
		return fmt.Errorf("backend %s asks for authentication (%s), which only HTTPS listeners give; the HTTP listener on port %d would serve it unauthenticated: set %s or listen on HTTPS only", svcName, auth.Type, port, AnnotationPrefix+"ssl-redirect")
	}
	a.Authenticate = auth
	return nil
}

// OIDCSecrets reads the client id and secret of an auth-idp-oidc Secret.
type OIDCSecrets = deploy.OIDCSecrets

var _ OIDCSecrets = KubeOIDCSecrets{}

// KubeOIDCSecrets reads OIDC client Secrets from the Kubernetes API: keys
// clientID (or clientId) and clientSecret, as the AWS Load Balancer
// Controller reads them.
type KubeOIDCSecrets struct {
	Kube client.Client
}

// OIDCClient implements OIDCSecrets.
func (k KubeOIDCSecrets) OIDCClient(ctx context.Context, namespacedName string) (string, string, error) {
	ns, name, _ := strings.Cut(namespacedName, "/")
	var s corev1.Secret
	if err := k.Kube.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &s); err != nil {
		return "", "", fmt.Errorf("OIDC client Secret %s: %w", namespacedName, err)
	}
	id, ok := s.Data[oidcSecretClientID]
	if !ok {
		id, ok = s.Data[oidcSecretClientIDLegacy]
	}
	secret, ok2 := s.Data[oidcSecretClientSecret]
	if !ok || !ok2 {
		return "", "", fmt.Errorf("OIDC client Secret %s: needs keys %s and %s", namespacedName, oidcSecretClientID, oidcSecretClientSecret)
	}
	return strings.TrimRightFunc(string(id), unicode.IsSpace), strings.TrimRightFunc(string(secret), unicode.IsControl), nil
}
