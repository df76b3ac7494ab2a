package elb

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Defaults and limits of the authenticate actions, as ELBv2 documents them.
const (
	DefaultSessionCookieName = "AWSELBAuthSessionCookie"
	DefaultAuthScope         = "openid"
	// DefaultSessionTimeout is 7 days, also the longest session.
	DefaultSessionTimeout = 604800
	maxAuthExtraParams    = 10
	maxJwtClaims          = 10
	maxJwtClaimValues     = 10

	UnauthenticatedDeny         = "deny"
	UnauthenticatedAllow        = "allow"
	UnauthenticatedAuthenticate = "authenticate"
)

// AuthenticateOidcConfig is an authenticate-oidc action: ALB's OpenID
// Connect authorization code flow against the identity provider's
// endpoints. ClientSecret is kept (the data plane needs it at the token
// endpoint) and never described. UseExistingClientSecret only travels in
// a Modify request: the stored action keeps the secret it had.
type AuthenticateOidcConfig struct {
	Issuer                           string
	AuthorizationEndpoint            string
	TokenEndpoint                    string
	UserInfoEndpoint                 string
	ClientID                         string
	ClientSecret                     string
	UseExistingClientSecret          bool `json:"-"`
	SessionCookieName                string
	Scope                            string
	SessionTimeout                   int64
	AuthenticationRequestExtraParams map[string]string `json:",omitempty"`
	OnUnauthenticatedRequest         string
}

// AuthenticateCognitoConfig is an authenticate-cognito action: the same
// flow against an Amazon Cognito user pool's hosted endpoints.
type AuthenticateCognitoConfig struct {
	UserPoolArn                      string
	UserPoolClientID                 string
	UserPoolDomain                   string
	SessionCookieName                string
	Scope                            string
	SessionTimeout                   int64
	AuthenticationRequestExtraParams map[string]string `json:",omitempty"`
	OnUnauthenticatedRequest         string
}

// JwtValidationConfig is a jwt-validation action: a bearer token in the
// Authorization header, verified with the keys of JwksEndpoint, issued by
// Issuer, and carrying AdditionalClaims.
type JwtValidationConfig struct {
	JwksEndpoint     string
	Issuer           string
	AdditionalClaims []JwtClaim `json:",omitempty"`
}

// JwtClaim is one additional claim a jwt-validation action checks: the
// claim Name must hold one of Values, read as Format says
// (single-string, string-array or space-separated-values).
type JwtClaim struct {
	Format string
	Name   string
	Values []string
}

// userPoolARN matches a Cognito user pool ARN; the pool id is group 2.
var userPoolARN = regexp.MustCompile(`^arn:aws[a-z-]*:cognito-idp:([a-z0-9-]+):[0-9]{12}:userpool/([a-z0-9-]+_[0-9A-Za-z]+)$`)

// CognitoPool returns the region and pool id of a user pool ARN.
func CognitoPool(arn string) (region, poolID string, ok bool) {
	m := userPoolARN.FindStringSubmatch(arn)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

func (s *Service) checkOidc(c *AuthenticateOidcConfig) (*AuthenticateOidcConfig, error) {
	if c == nil {
		return nil, validationf("An authenticate-oidc action needs an AuthenticateOidcConfig")
	}
	out := *c
	out.UseExistingClientSecret = false
	for _, e := range []struct{ name, v string }{
		{"Issuer", c.Issuer}, {"AuthorizationEndpoint", c.AuthorizationEndpoint},
		{"TokenEndpoint", c.TokenEndpoint}, {"UserInfoEndpoint", c.UserInfoEndpoint},
	} {
		if err := checkHTTPSURL(e.name, e.v); err != nil {
			return nil, err
		}
	}
	if c.ClientID == "" {
		return nil, validationf("The client ID of an authenticate-oidc action must be specified")
	}
	if c.ClientSecret == "" {
		return nil, validationf("The client secret of an authenticate-oidc action must be specified")
	}
	if err := checkSession(&out.SessionCookieName, &out.Scope, &out.SessionTimeout, &out.OnUnauthenticatedRequest, c.AuthenticationRequestExtraParams); err != nil {
		return nil, err
	}
	out.AuthenticationRequestExtraParams = cloneMap(c.AuthenticationRequestExtraParams)
	return &out, nil
}

func (s *Service) checkCognito(c *AuthenticateCognitoConfig) (*AuthenticateCognitoConfig, error) {
	if c == nil {
		return nil, validationf("An authenticate-cognito action needs an AuthenticateCognitoConfig")
	}
	out := *c
	if _, _, ok := CognitoPool(c.UserPoolArn); !ok {
		return nil, validationf("The user pool ARN '%s' is not valid", c.UserPoolArn)
	}
	if c.UserPoolClientID == "" {
		return nil, validationf("The user pool client ID of an authenticate-cognito action must be specified")
	}
	if c.UserPoolDomain == "" || strings.ContainsAny(c.UserPoolDomain, "/:?#@ ") {
		return nil, validationf("The user pool domain '%s' is not valid", c.UserPoolDomain)
	}
	if err := checkSession(&out.SessionCookieName, &out.Scope, &out.SessionTimeout, &out.OnUnauthenticatedRequest, c.AuthenticationRequestExtraParams); err != nil {
		return nil, err
	}
	out.AuthenticationRequestExtraParams = cloneMap(c.AuthenticationRequestExtraParams)
	return &out, nil
}

// checkSession checks and defaults the settings both authenticate actions
// share.
func checkSession(cookie, scope *string, timeout *int64, unauth *string, extra map[string]string) error {
	if *cookie == "" {
		*cookie = DefaultSessionCookieName
	}
	if strings.ContainsAny(*cookie, " \t\r\n;,=\"\\") {
		return validationf("The session cookie name '%s' is not valid", *cookie)
	}
	if *scope == "" {
		*scope = DefaultAuthScope
	}
	if *timeout == 0 {
		*timeout = DefaultSessionTimeout
	}
	if *timeout < 1 || *timeout > DefaultSessionTimeout {
		return validationf("The session timeout must be between 1 and %d seconds", DefaultSessionTimeout)
	}
	switch *unauth {
	case "":
		*unauth = UnauthenticatedAuthenticate
	case UnauthenticatedDeny, UnauthenticatedAllow, UnauthenticatedAuthenticate:
	default:
		return validationf("OnUnauthenticatedRequest must be one of deny, allow, authenticate")
	}
	if len(extra) > maxAuthExtraParams {
		return validationf("You can specify at most %d authentication request extra parameters", maxAuthExtraParams)
	}
	for k := range extra {
		if k == "" {
			return validationf("An authentication request extra parameter must have a name")
		}
		switch k {
		case "client_id", "redirect_uri", "response_type", "scope", "state", "nonce":
			return validationf("The authentication request extra parameter '%s' is reserved", k)
		}
	}
	return nil
}

func checkJwtValidation(c *JwtValidationConfig) (*JwtValidationConfig, error) {
	if c == nil {
		return nil, validationf("A jwt-validation action needs a JwtValidationConfig")
	}
	if err := checkHTTPSURL("JwksEndpoint", c.JwksEndpoint); err != nil {
		return nil, err
	}
	if c.Issuer == "" || len(c.Issuer) > 256 {
		return nil, validationf("The issuer of a jwt-validation action must be 1 to 256 characters")
	}
	if len(c.AdditionalClaims) > maxJwtClaims {
		return nil, validationf("A jwt-validation action can have at most %d additional claims", maxJwtClaims)
	}
	out := *c
	out.AdditionalClaims = nil
	seen := map[string]bool{}
	for _, cl := range c.AdditionalClaims {
		switch cl.Name {
		case "exp", "iss", "nbf", "iat":
			return nil, validationf("The claim '%s' is validated by default and cannot be an additional claim", cl.Name)
		case "":
			return nil, validationf("An additional claim must have a name")
		}
		if seen[cl.Name] {
			return nil, validationf("The additional claim '%s' is specified more than once", cl.Name)
		}
		seen[cl.Name] = true
		if !slices.Contains([]string{"single-string", "string-array", "space-separated-values"}, cl.Format) {
			return nil, validationf("The format of claim '%s' must be one of single-string, string-array, space-separated-values", cl.Name)
		}
		if len(cl.Values) == 0 || len(cl.Values) > maxJwtClaimValues {
			return nil, validationf("The claim '%s' must have 1 to %d values", cl.Name, maxJwtClaimValues)
		}
		for _, v := range cl.Values {
			if len(v) > 256 {
				return nil, validationf("A value of claim '%s' is longer than 256 characters", cl.Name)
			}
			if cl.Format == "space-separated-values" && strings.Contains(v, " ") {
				return nil, validationf("A value of claim '%s' cannot contain spaces with format space-separated-values", cl.Name)
			}
		}
		cl.Values = slices.Clone(cl.Values)
		out.AdditionalClaims = append(out.AdditionalClaims, cl)
	}
	return &out, nil
}

// checkHTTPSURL checks an identity provider endpoint: a full https URL,
// as ELBv2 requires.
func checkHTTPSURL(name, v string) error {
	u, err := url.Parse(v)
	if v == "" || err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" {
		return validationf("The %s '%s' must be a full URL, including the HTTPS protocol, the domain, and the path", name, v)
	}
	return nil
}

// keepClientSecrets gives every authenticate-oidc action in next that asks
// for UseExistingClientSecret (without a ClientSecret of its own) the
// secret of prev's authenticate-oidc action, as ModifyListener and
// ModifyRule do.
func keepClientSecrets(next, prev []Action) error {
	for i := range next {
		c := next[i].AuthenticateOidc
		if next[i].Type != ActionAuthenticateOidc || c == nil || !c.UseExistingClientSecret {
			continue
		}
		if c.ClientSecret != "" {
			return validationf("You cannot specify both a client secret and UseExistingClientSecret")
		}
		for _, p := range prev {
			if p.Type == ActionAuthenticateOidc && p.AuthenticateOidc != nil {
				c.ClientSecret = p.AuthenticateOidc.ClientSecret
			}
		}
		if c.ClientSecret == "" {
			return validationf("UseExistingClientSecret is set but there is no existing client secret to use")
		}
	}
	return nil
}
