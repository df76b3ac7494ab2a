package model

// Action types.
const (
	ActionForward       = "forward"
	ActionRedirect      = "redirect"
	ActionFixedResponse = "fixed-response"
)

// Authenticate action types.
const (
	AuthenticateOIDC    = "authenticate-oidc"
	AuthenticateCognito = "authenticate-cognito"
	JWTValidation       = "jwt-validation"
)

// Action is a listener's default action or a rule's action: exactly one of
// Forward, Redirect and FixedResponse, as Type says, after Authenticate
// when it is set.
type Action struct {
	Type          string               `json:"type"`
	Forward       *ForwardAction       `json:"forward,omitempty"`
	Redirect      *RedirectAction      `json:"redirect,omitempty"`
	FixedResponse *FixedResponseAction `json:"fixedResponse,omitempty"`
	// Authenticate runs first, on HTTPS listeners.
	Authenticate *AuthenticateAction `json:"authenticate,omitempty"`
}

// NetworkForward is the default action of a network load balancer's
// listener: forward to the stack's target group with ResourceID tg.
func NetworkForward(tg string) Action {
	return Action{Type: ActionForward, Forward: &ForwardAction{
		TargetGroups: []WeightedTargetGroup{{TargetGroup: tg, Weight: 1}},
	}}
}

// SingleTargetGroup returns the ResourceID of the one stack target group a
// forward action sends to, and whether it is such an action (the shape of
// NetworkForward).
func (a Action) SingleTargetGroup() (string, bool) {
	if a.Type != ActionForward || a.Forward == nil || len(a.Forward.TargetGroups) != 1 {
		return "", false
	}
	tg := a.Forward.TargetGroups[0]
	return tg.TargetGroup, tg.TargetGroup != ""
}

// ForwardAction forwards to weighted target groups.
type ForwardAction struct {
	TargetGroups []WeightedTargetGroup `json:"targetGroups"`
	// StickinessSeconds is the group stickiness duration; 0 when off.
	StickinessSeconds int32 `json:"stickinessSeconds,omitempty"`
}

// WeightedTargetGroup is a target group of the stack (by ResourceID), or
// any target group (by ARN, or by Name, which deploy resolves with
// DescribeTargetGroups), with its weight. Exactly one of TargetGroup, ARN
// and Name is set.
type WeightedTargetGroup struct {
	TargetGroup string `json:"targetGroup,omitempty"`
	ARN         string `json:"arn,omitempty"`
	Name        string `json:"name,omitempty"`
	Weight      int32  `json:"weight"`
}

// RedirectAction is a redirect; empty fields keep the request's part.
type RedirectAction struct {
	Protocol   string `json:"protocol,omitempty"`
	Port       string `json:"port,omitempty"`
	Host       string `json:"host,omitempty"`
	Path       string `json:"path,omitempty"`
	Query      string `json:"query,omitempty"`
	StatusCode string `json:"statusCode"`
}

// FixedResponseAction answers with a fixed response.
type FixedResponseAction struct {
	StatusCode  string `json:"statusCode"`
	ContentType string `json:"contentType,omitempty"`
	MessageBody string `json:"messageBody,omitempty"`
}

// AuthenticateAction is the authentication that runs before an action on
// an HTTPS listener: Type is AuthenticateOIDC, AuthenticateCognito or
// JWTValidation, with its one configuration.
type AuthenticateAction struct {
	Type    string             `json:"type"`
	OIDC    *OIDCAuth          `json:"oidc,omitempty"`
	Cognito *CognitoAuth       `json:"cognito,omitempty"`
	JWT     *JWTValidationAuth `json:"jwt,omitempty"`
	// Session settings of authenticate-oidc and authenticate-cognito.
	Scope                    string `json:"scope,omitempty"`
	SessionCookieName        string `json:"sessionCookieName,omitempty"`
	SessionTimeout           int64  `json:"sessionTimeout,omitempty"`
	OnUnauthenticatedRequest string `json:"onUnauthenticatedRequest,omitempty"`
}

// OIDCAuth is an OpenID Connect identity provider. The client id and
// secret come from the Kubernetes Secret ("<namespace>/<name>") when the
// stack is deployed; they never appear in the stack's JSON.
type OIDCAuth struct {
	Issuer                string            `json:"issuer"`
	AuthorizationEndpoint string            `json:"authorizationEndpoint"`
	TokenEndpoint         string            `json:"tokenEndpoint"`
	UserInfoEndpoint      string            `json:"userInfoEndpoint"`
	Secret                string            `json:"secret"`
	ExtraParams           map[string]string `json:"authenticationRequestExtraParams,omitempty"`
	// ClientID and ClientSecret are filled from Secret at deploy.
	ClientID     string `json:"-"`
	ClientSecret string `json:"-"`
}

// CognitoAuth is an Amazon Cognito user pool.
type CognitoAuth struct {
	UserPoolARN      string            `json:"userPoolARN"`
	UserPoolClientID string            `json:"userPoolClientID"`
	UserPoolDomain   string            `json:"userPoolDomain"`
	ExtraParams      map[string]string `json:"authenticationRequestExtraParams,omitempty"`
}

// JWTValidationAuth validates a bearer JWT against a JWKS endpoint.
type JWTValidationAuth struct {
	JwksEndpoint     string     `json:"jwksEndpoint"`
	Issuer           string     `json:"issuer"`
	AdditionalClaims []JWTClaim `json:"additionalClaims,omitempty"`
}

// JWTClaim is an additional claim of jwt-validation.
type JWTClaim struct {
	Format string   `json:"format"`
	Name   string   `json:"name"`
	Values []string `json:"values"`
}
