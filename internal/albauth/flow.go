package albauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/kelb-io/kelb/internal/elb"
)

// CallbackPath is where the identity provider sends the browser back, as
// on ALB: https://<host>/oauth2/idpresponse.
const CallbackPath = "/oauth2/idpresponse"

// Headers the target gets from an authenticate action; a client's own
// x-amzn-oidc-* headers never reach it.
const (
	HeaderAccessToken = "X-Amzn-Oidc-Accesstoken"
	HeaderIdentity    = "X-Amzn-Oidc-Identity"
	HeaderData        = "X-Amzn-Oidc-Data"
)

// StatusIdPError is ALB's 561: the identity provider answered the token or
// user info request with an error, or could not be reached.
const StatusIdPError = 561

// DefaultCognitoDomain is the hosted domain of a Cognito user pool domain
// prefix; {domain} and {region} are replaced.
const DefaultCognitoDomain = "https://{domain}.auth.{region}.amazoncognito.com"

// Options are what every Flow of a data plane shares.
type Options struct {
	Keys *Keys
	// Client calls the identity provider's token, user info and JWKS
	// endpoints; nil means http.DefaultClient.
	Client *http.Client
	// CognitoEndpoint, when set, replaces the hosted domain of every
	// Cognito user pool and its issuer (https://cognito-idp...): the
	// endpoints are CognitoEndpoint/oauth2/authorize, /oauth2/token and
	// /oauth2/userInfo and the issuer is CognitoEndpoint itself.
	CognitoEndpoint string
	// Now defaults to time.Now.
	Now func() time.Time
	// Logger reports identity provider failures; nil discards them.
	Logger *slog.Logger
}

func (o Options) logf(format string, args ...any) {
	if o.Logger != nil {
		o.Logger.Warn(fmt.Sprintf(format, args...))
	}
}

// Flow is one compiled authenticate-oidc or authenticate-cognito action:
// ALB's authorization code flow with its settings.
type Flow struct {
	id        string
	issuer    string
	userInfo  string
	oauth     oauth2.Config
	cookie    string
	timeout   time.Duration
	extra     map[string]string
	onUnauth  string
	signerARN string
	opts      Options
}

// NewFlow compiles action a (authenticate-oidc or authenticate-cognito) of
// a listener of load balancer lbARN.
func NewFlow(a elb.Action, lbARN string, opts Options) (*Flow, error) {
	if opts.Keys == nil {
		return nil, errors.New("no authentication keys")
	}
	if opts.Client == nil {
		opts.Client = http.DefaultClient
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &Flow{signerARN: lbARN, opts: opts}
	var authURL, tokenURL string
	switch {
	case a.Type == elb.ActionAuthenticateOidc && a.AuthenticateOidc != nil:
		c := a.AuthenticateOidc
		f.issuer, authURL, tokenURL, f.userInfo = c.Issuer, c.AuthorizationEndpoint, c.TokenEndpoint, c.UserInfoEndpoint
		f.oauth.ClientID, f.oauth.ClientSecret = c.ClientID, c.ClientSecret
		f.cookie, f.timeout, f.extra, f.onUnauth = c.SessionCookieName, time.Duration(c.SessionTimeout)*time.Second, c.AuthenticationRequestExtraParams, c.OnUnauthenticatedRequest
		f.oauth.Scopes = strings.Fields(c.Scope)
	case a.Type == elb.ActionAuthenticateCognito && a.AuthenticateCognito != nil:
		c := a.AuthenticateCognito
		region, pool, ok := elb.CognitoPool(c.UserPoolArn)
		if !ok {
			return nil, fmt.Errorf("user pool ARN %q", c.UserPoolArn)
		}
		base := opts.CognitoEndpoint
		f.issuer = base
		if base == "" {
			base = "https://" + c.UserPoolDomain
			if !strings.Contains(c.UserPoolDomain, ".") {
				base = strings.NewReplacer("{domain}", c.UserPoolDomain, "{region}", region).Replace(DefaultCognitoDomain)
			}
			f.issuer = "https://cognito-idp." + region + ".amazonaws.com/" + pool
		}
		base = strings.TrimSuffix(base, "/")
		authURL, tokenURL, f.userInfo = base+"/oauth2/authorize", base+"/oauth2/token", base+"/oauth2/userInfo"
		// kelb cannot read the app client's secret from Cognito: the
		// client authenticates with its id alone (a public client).
		f.oauth.ClientID = c.UserPoolClientID
		f.cookie, f.timeout, f.extra, f.onUnauth = c.SessionCookieName, time.Duration(c.SessionTimeout)*time.Second, c.AuthenticationRequestExtraParams, c.OnUnauthenticatedRequest
		f.oauth.Scopes = strings.Fields(c.Scope)
	default:
		return nil, fmt.Errorf("action type %q is not an authenticate action", a.Type)
	}
	f.oauth.Endpoint = oauth2.Endpoint{AuthURL: authURL, TokenURL: tokenURL}
	if f.oauth.ClientSecret == "" {
		f.oauth.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	}
	if f.cookie == "" {
		f.cookie = elb.DefaultSessionCookieName
	}
	if f.timeout <= 0 {
		f.timeout = elb.DefaultSessionTimeout * time.Second
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{a.Type, f.issuer, authURL, f.oauth.ClientID, f.cookie}, "\n")))
	f.id = hex.EncodeToString(sum[:8])
	return f, nil
}

// ID names the flow in its state and sessions.
func (f *Flow) ID() string { return f.id }

// Outcome is what an authenticate action does with a request.
type Outcome int

// Outcomes of Decide.
const (
	// Pass: the session is valid; the request goes on with the user's
	// claims.
	Pass Outcome = iota
	// PassAnonymous: no valid session, and on-unauthenticated-request
	// allow; the request goes on without claims.
	PassAnonymous
	// Login: redirect the browser to the identity provider.
	Login
	// Deny: 401.
	Deny
)

// Decide is the authenticate action's decision for a request whose
// session cookies parsed with sessionErr (nil: a valid session of this
// action), under on-unauthenticated-request onUnauth.
func Decide(sessionErr error, onUnauth string) Outcome {
	if sessionErr == nil {
		return Pass
	}
	switch onUnauth {
	case elb.UnauthenticatedAllow:
		return PassAnonymous
	case elb.UnauthenticatedDeny:
		return Deny
	}
	return Login
}

// StripIdentityHeaders removes every x-amzn-oidc-* header a client sent.
func StripIdentityHeaders(h http.Header) {
	for k := range h {
		if len(k) >= 12 && strings.EqualFold(k[:12], "x-amzn-oidc-") {
			delete(h, k)
		}
	}
}

// Authenticate runs the action on r. It returns 0 when the request goes
// on to the next action, with the identity headers set when the user is
// authenticated; else the status it answered with (302 to the identity
// provider, 401, 500).
func (f *Flow) Authenticate(w http.ResponseWriter, r *http.Request) int {
	StripIdentityHeaders(r.Header)
	now := f.opts.Now()
	s, err := f.opts.Keys.ParseSession(r.Cookies(), f.cookie, now)
	if err == nil && s.Action != f.id {
		err = errors.New("session of another authenticate action")
	}
	switch Decide(err, f.onUnauth) {
	case Pass:
		data, err := f.SignClaims(s, now)
		if err != nil {
			return writeError(w, http.StatusInternalServerError)
		}
		r.Header.Set(HeaderAccessToken, s.AccessToken)
		r.Header.Set(HeaderIdentity, s.Subject)
		r.Header.Set(HeaderData, data)
		return 0
	case PassAnonymous:
		return 0
	case Deny:
		return writeError(w, http.StatusUnauthorized)
	}
	return f.login(w, r, now)
}

// login redirects the browser to the authorization endpoint with a fresh
// state, bound to the browser by StateCookie.
func (f *Flow) login(w http.ResponseWriter, r *http.Request, now time.Time) int {
	st := State{Action: f.id, Nonce: randomToken(), URL: "https://" + r.Host + r.URL.RequestURI(),
		Bind: randomToken(), Expires: now.Add(stateLifetime).Unix()}
	param, err := f.opts.Keys.SealState(st)
	if err != nil {
		return writeError(w, http.StatusInternalServerError)
	}
	cfg := f.oauth
	cfg.RedirectURL = "https://" + r.Host + CallbackPath
	opts := []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("nonce", st.Nonce)}
	for _, k := range sortedKeys(f.extra) {
		opts = append(opts, oauth2.SetAuthURLParam(k, f.extra[k]))
	}
	http.SetCookie(w, &http.Cookie{Name: StateCookie, Value: st.Bind, Path: "/", MaxAge: int(stateLifetime / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Location", cfg.AuthCodeURL(param, opts...))
	w.Header().Set("Cache-Control", "no-cache, no-store")
	w.Header().Set("Server", "awselb/2.0")
	w.WriteHeader(http.StatusFound)
	return http.StatusFound
}

// Callback answers a request to CallbackPath: the state must open, be
// bound to the browser and name one of flows; the code is exchanged at
// the token endpoint, the ID token's issuer, audience and nonce checked,
// the user info fetched, and the browser gets its session cookies and is
// sent back where it started. A bad or foreign state, or an error from the
// identity provider's authorization endpoint, is 401; a failing token or
// user info endpoint is 561. It returns the status it answered with.
func Callback(w http.ResponseWriter, r *http.Request, keys *Keys, flows map[string]*Flow, now time.Time) int {
	q := r.URL.Query()
	bind := ""
	if c, err := r.Cookie(StateCookie); err == nil {
		bind = c.Value
	}
	st, err := keys.ParseState(q.Get("state"), bind, now)
	f := flows[st.Action]
	if err != nil || f == nil || q.Get("error") != "" || q.Get("code") == "" {
		return writeError(w, http.StatusUnauthorized)
	}
	s, err := f.exchange(r.Context(), r.Host, q.Get("code"), st.Nonce, now)
	if err != nil {
		f.opts.logf("authenticate %s: %v", f.issuer, err)
		return writeError(w, StatusIdPError)
	}
	cookies, err := keys.SessionCookies(f.cookie, s, f.timeout)
	if err != nil {
		return writeError(w, http.StatusInternalServerError)
	}
	for _, c := range ExpiredSessionCookies(r, f.cookie) {
		if !slices.ContainsFunc(cookies, func(n *http.Cookie) bool { return n.Name == c.Name }) {
			http.SetCookie(w, c)
		}
	}
	for _, c := range cookies {
		http.SetCookie(w, c)
	}
	http.SetCookie(w, &http.Cookie{Name: StateCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true})
	w.Header().Set("Location", st.URL)
	w.Header().Set("Cache-Control", "no-cache, no-store")
	w.Header().Set("Server", "awselb/2.0")
	w.WriteHeader(http.StatusFound)
	return http.StatusFound
}

// exchange trades the authorization code for tokens and the user's claims.
func (f *Flow) exchange(ctx context.Context, host, code, nonce string, now time.Time) (Session, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, f.opts.Client)
	cfg := f.oauth
	cfg.RedirectURL = "https://" + host + CallbackPath
	tok, err := cfg.Exchange(ctx, code)
	if err != nil {
		return Session{}, fmt.Errorf("token endpoint: %w", err)
	}
	idSub := ""
	if raw, ok := tok.Extra("id_token").(string); ok && raw != "" {
		if idSub, err = f.checkIDToken(raw, nonce, now); err != nil {
			return Session{}, err
		}
	}
	claims, err := f.fetchUserInfo(ctx, tok.AccessToken)
	if err != nil {
		return Session{}, err
	}
	var c struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(claims, &c); err != nil || c.Sub == "" {
		return Session{}, errors.New("user info without sub")
	}
	if idSub != "" && c.Sub != idSub {
		return Session{}, errors.New("user info sub differs from the ID token's")
	}
	return Session{Action: f.id, Subject: c.Sub, AccessToken: tok.AccessToken, Claims: claims,
		Expires: now.Add(f.timeout).Unix()}, nil
}

// idTokenAlgorithms are the signature algorithms an ID token may carry.
var idTokenAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512, jose.EdDSA}

// checkIDToken checks the ID token that came straight from the token
// endpoint over TLS (OpenID Connect Core 3.1.3.7 lets that channel stand
// for the signature): its issuer, audience, nonce and expiry. It returns
// its sub.
func (f *Flow) checkIDToken(raw, nonce string, now time.Time) (string, error) {
	tok, err := jwt.ParseSigned(raw, idTokenAlgorithms)
	if err != nil {
		return "", fmt.Errorf("ID token: %w", err)
	}
	var c jwt.Claims
	var extra struct {
		Nonce string `json:"nonce"`
	}
	if err := tok.UnsafeClaimsWithoutVerification(&c, &extra); err != nil {
		return "", fmt.Errorf("ID token: %w", err)
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: f.issuer, AnyAudience: jwt.Audience{f.oauth.ClientID}, Time: now}, time.Minute); err != nil {
		return "", fmt.Errorf("ID token: %w", err)
	}
	if extra.Nonce != nonce {
		return "", errors.New("ID token: nonce does not match")
	}
	return c.Subject, nil
}

// fetchUserInfo returns the user's claims from the user info endpoint.
func (f *Flow) fetchUserInfo(ctx context.Context, accessToken string) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.userInfo, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := f.opts.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("user info endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("user info endpoint: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("user info endpoint: %s", resp.Status)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("user info endpoint: %w", err)
	}
	return json.RawMessage(body), nil
}

// SignClaims returns the x-amzn-oidc-data JWT of session s as ALB signs
// it: ES256, a header with kid, signer (the load balancer ARN), iss (the
// issuer), client (the client id) and exp (the session's expiry), and the
// user claims as payload, with exp and iss added.
func (f *Flow) SignClaims(s Session, now time.Time) (string, error) {
	claims := map[string]any{}
	if len(s.Claims) > 0 {
		if err := json.Unmarshal(s.Claims, &claims); err != nil {
			return "", fmt.Errorf("session claims: %w", err)
		}
	}
	if _, ok := claims["exp"]; !ok {
		claims["exp"] = s.Expires
	}
	if _, ok := claims["iss"]; !ok {
		claims["iss"] = f.issuer
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	opts := (&jose.SignerOptions{}).WithType("JWT").
		WithHeader("kid", f.opts.Keys.KeyID()).WithHeader("signer", f.signerARN).
		WithHeader("iss", f.issuer).WithHeader("client", f.oauth.ClientID).WithHeader("exp", s.Expires)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: f.opts.Keys.signer}, opts)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// writeError answers with ALB's plain error page for status, and returns
// status.
func writeError(w http.ResponseWriter, status int) int {
	text := http.StatusText(status)
	if status == StatusIdPError {
		text = "Authorization Error"
	}
	body := fmt.Sprintf("<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n</body>\r\n</html>\r\n", status, text, status, text)
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Server", "awselb/2.0")
	w.WriteHeader(status)
	io.WriteString(w, body)
	return status
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
