package albauth

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/kelb-io/kelb/internal/elb"
)

func testKeys(t testing.TB, seed byte) *Keys {
	t.Helper()
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = seed + byte(i)
	}
	k, err := NewKeys(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeysAreDerivedFromTheSecret(t *testing.T) {
	a, b, other := testKeys(t, 1), testKeys(t, 1), testKeys(t, 2)
	if a.KeyID() != b.KeyID() || a.KeyID() == other.KeyID() {
		t.Fatalf("kids %s %s %s: want equal for one secret, different for another", a.KeyID(), b.KeyID(), other.KeyID())
	}
	s := Session{Action: "x", Subject: "alice", Expires: time.Now().Add(time.Hour).Unix()}
	cookies, err := a.SessionCookies("C", s, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ParseSession(cookies, "C", time.Now()); err != nil {
		t.Errorf("a server with the same secret cannot open the session: %v", err)
	}
	if _, err := other.ParseSession(cookies, "C", time.Now()); err == nil {
		t.Error("a server with another secret opened the session")
	}
	if _, ok := a.PublicKeyPEM("nope"); ok {
		t.Error("public key served for an unknown kid")
	}
	if _, err := NewKeys(make([]byte, 16)); err == nil {
		t.Error("a 16-byte secret was accepted")
	}
}

func TestSessionCookiesSplitAndJoin(t *testing.T) {
	k := testKeys(t, 1)
	now := time.Unix(1_700_000_000, 0)
	claims, _ := json.Marshal(map[string]string{"sub": "alice", "blob": strings.Repeat("x", 9000)})
	s := Session{Action: "a1", Subject: "alice", AccessToken: "tok", Claims: claims, Expires: now.Add(time.Hour).Unix()}
	cookies, err := k.SessionCookies("AWSELBAuthSessionCookie", s, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(cookies) != 4 {
		t.Fatalf("%d cookies, want 4 for a session of about 12 KB", len(cookies))
	}
	for i, c := range cookies {
		if c.Name != "AWSELBAuthSessionCookie-"+string(rune('0'+i)) || len(c.Value) > shardSize || !c.Secure || !c.HttpOnly {
			t.Errorf("cookie %d = %s (%d bytes, secure %v)", i, c.Name, len(c.Value), c.Secure)
		}
	}
	got, err := k.ParseSession(cookies, "AWSELBAuthSessionCookie", now)
	if err != nil || got.Subject != "alice" || string(got.Claims) != string(claims) {
		t.Fatalf("ParseSession = %+v, %v", got.Subject, err)
	}
	// Reordered cookies still join; a missing one, a tampered one,
	// another name, or a later time do not open.
	rev := []*http.Cookie{cookies[3], cookies[1], cookies[2], cookies[0]}
	if _, err := k.ParseSession(rev, "AWSELBAuthSessionCookie", now); err != nil {
		t.Errorf("reordered: %v", err)
	}
	if _, err := k.ParseSession(cookies[:3], "AWSELBAuthSessionCookie", now); err == nil {
		t.Error("a session without its last cookie opened")
	}
	if _, err := k.ParseSession([]*http.Cookie{cookies[0], cookies[2], cookies[3]}, "AWSELBAuthSessionCookie", now); err == nil {
		t.Error("a session without cookie 1 opened")
	}
	bad := *cookies[1]
	bad.Value = "A" + bad.Value[1:]
	if _, err := k.ParseSession([]*http.Cookie{cookies[0], &bad, cookies[2], cookies[3]}, "AWSELBAuthSessionCookie", now); err == nil {
		t.Error("a tampered session opened")
	}
	renamed := make([]*http.Cookie, len(cookies))
	for i, c := range cookies {
		cc := *c
		cc.Name = strings.Replace(c.Name, "AWSELBAuthSessionCookie", "Other", 1)
		renamed[i] = &cc
	}
	if _, err := k.ParseSession(renamed, "Other", now); err == nil {
		t.Error("a session opened under another cookie name")
	}
	if _, err := k.ParseSession(cookies, "AWSELBAuthSessionCookie", now.Add(time.Hour)); !errors.Is(err, ErrExpired) {
		t.Errorf("at expiry: %v, want ErrExpired", err)
	}
	if _, err := k.ParseSession(nil, "AWSELBAuthSessionCookie", now); !errors.Is(err, ErrNoSession) {
		t.Errorf("no cookies: %v, want ErrNoSession", err)
	}
}

func TestState(t *testing.T) {
	k := testKeys(t, 1)
	now := time.Unix(1_700_000_000, 0)
	st := State{Action: "a1", Nonce: "n", URL: "https://app.example.com/x?y=1", Bind: "b", Expires: now.Add(stateLifetime).Unix()}
	p, err := k.SealState(st)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k.ParseState(p, "b", now); err != nil || got != st {
		t.Fatalf("ParseState = %+v, %v", got, err)
	}
	if _, err := k.ParseState(p, "other", now); err == nil {
		t.Error("state accepted with another browser's cookie")
	}
	if _, err := k.ParseState(p, "", now); err == nil {
		t.Error("state accepted without the cookie")
	}
	if _, err := k.ParseState(p, "b", now.Add(stateLifetime)); err == nil {
		t.Error("expired state accepted")
	}
	if _, err := testKeys(t, 2).ParseState(p, "b", now); err == nil {
		t.Error("state opened with another key")
	}
}

func TestDecide(t *testing.T) {
	bad := errors.New("no session")
	for _, tt := range []struct {
		err      error
		onUnauth string
		want     Outcome
	}{
		{nil, elb.UnauthenticatedAuthenticate, Pass},
		{nil, elb.UnauthenticatedDeny, Pass},
		{nil, elb.UnauthenticatedAllow, Pass},
		{bad, elb.UnauthenticatedAuthenticate, Login},
		{bad, "", Login},
		{bad, elb.UnauthenticatedDeny, Deny},
		{bad, elb.UnauthenticatedAllow, PassAnonymous},
		{ErrExpired, elb.UnauthenticatedAuthenticate, Login},
	} {
		if got := Decide(tt.err, tt.onUnauth); got != tt.want {
			t.Errorf("Decide(%v, %q) = %v, want %v", tt.err, tt.onUnauth, got, tt.want)
		}
	}
}

func testFlow(t *testing.T, k *Keys, onUnauth string) *Flow {
	t.Helper()
	f, err := NewFlow(elb.Action{Type: elb.ActionAuthenticateOidc, AuthenticateOidc: &elb.AuthenticateOidcConfig{
		Issuer: "https://idp.example.com", AuthorizationEndpoint: "https://idp.example.com/authorize",
		TokenEndpoint: "https://idp.example.com/token", UserInfoEndpoint: "https://idp.example.com/userinfo",
		ClientID: "kelb", ClientSecret: "s", SessionCookieName: "AWSELBAuthSessionCookie", Scope: "openid email",
		SessionTimeout: 3600, OnUnauthenticatedRequest: onUnauth, AuthenticationRequestExtraParams: map[string]string{"prompt": "login"}}},
		"arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/auth/0123456789abcdef", Options{Keys: k})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestSignClaims verifies the x-amzn-oidc-data JWT with the PEM public key
// served for its kid, and checks ALB's header fields.
func TestSignClaims(t *testing.T) {
	k := testKeys(t, 1)
	f := testFlow(t, k, "")
	exp := time.Now().Add(time.Hour).Unix()
	data, err := f.SignClaims(Session{Subject: "alice", Claims: json.RawMessage(`{"sub":"alice","email":"alice@example.com"}`), Expires: exp}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(data, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	h := tok.Headers[0]
	pemKey, ok := k.PublicKeyPEM(h.KeyID)
	if !ok {
		t.Fatalf("no public key for kid %q", h.KeyID)
	}
	block, _ := pem.Decode(pemKey)
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := tok.Claims(pub, &claims); err != nil {
		t.Fatalf("signature does not verify with the served key: %v", err)
	}
	if claims["email"] != "alice@example.com" || claims["iss"] != "https://idp.example.com" || claims["exp"] != float64(exp) {
		t.Errorf("claims = %v", claims)
	}
	if h.Algorithm != "ES256" || h.ExtraHeaders["signer"] != f.signerARN || h.ExtraHeaders["client"] != "kelb" ||
		h.ExtraHeaders["iss"] != "https://idp.example.com" || h.ExtraHeaders["exp"] != float64(exp) {
		t.Errorf("header = %+v", h)
	}
	if err := tok.Claims(testKeys(t, 2).PublicKey(), &claims); err == nil {
		t.Error("verified with another key")
	}
}

// TestAuthenticateDecisions runs a flow on requests: no session redirects
// to the authorization endpoint with ALB's parameters, or answers 401
// (deny), or passes without headers (allow); a valid session passes with
// the identity headers and a client's own x-amzn-oidc-* headers are gone.
func TestAuthenticateDecisions(t *testing.T) {
	k := testKeys(t, 1)
	req := func() *http.Request {
		r := httptest.NewRequest("GET", "https://app.example.com/private?q=1", nil)
		r.Header.Set("X-Amzn-Oidc-Identity", "forged")
		r.Header.Set("x-amzn-oidc-data", "forged")
		return r
	}

	w := httptest.NewRecorder()
	r := req()
	if testFlow(t, k, "").Authenticate(w, r) != http.StatusFound || w.Code != http.StatusFound {
		t.Fatalf("authenticate without session: %d, want 302", w.Code)
	}
	loc, _ := url.Parse(w.Header().Get("Location"))
	q := loc.Query()
	if loc.Host != "idp.example.com" || loc.Path != "/authorize" || q.Get("client_id") != "kelb" || q.Get("response_type") != "code" ||
		q.Get("redirect_uri") != "https://app.example.com/oauth2/idpresponse" || q.Get("scope") != "openid email" ||
		q.Get("nonce") == "" || q.Get("prompt") != "login" || q.Get("state") == "" {
		t.Errorf("authorization request = %s", loc)
	}
	var bind string
	for _, c := range w.Result().Cookies() {
		if c.Name == StateCookie {
			bind = c.Value
		}
	}
	st, err := k.ParseState(q.Get("state"), bind, time.Now())
	if err != nil || st.URL != "https://app.example.com/private?q=1" || st.Nonce != q.Get("nonce") {
		t.Errorf("state = %+v, %v", st, err)
	}

	w, r = httptest.NewRecorder(), req()
	if testFlow(t, k, "deny").Authenticate(w, r) != http.StatusUnauthorized || w.Code != http.StatusUnauthorized {
		t.Errorf("deny: %d, want 401", w.Code)
	}
	w, r = httptest.NewRecorder(), req()
	if testFlow(t, k, "allow").Authenticate(w, r) != 0 || r.Header.Get(HeaderIdentity) != "" || r.Header.Get(HeaderData) != "" {
		t.Errorf("allow: headers %v, want none", r.Header)
	}

	f := testFlow(t, k, "deny")
	cookies, err := k.SessionCookies("AWSELBAuthSessionCookie", Session{Action: f.ID(), Subject: "alice", AccessToken: "at",
		Claims: json.RawMessage(`{"sub":"alice"}`), Expires: time.Now().Add(time.Hour).Unix()}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	w, r = httptest.NewRecorder(), req()
	for _, c := range cookies {
		r.AddCookie(c)
	}
	if f.Authenticate(w, r) != 0 || r.Header.Get(HeaderIdentity) != "alice" || r.Header.Get(HeaderAccessToken) != "at" || r.Header.Get(HeaderData) == "forged" {
		t.Errorf("with session: identity %q token %q", r.Header.Get(HeaderIdentity), r.Header.Get(HeaderAccessToken))
	}
}

func TestCheckClaims(t *testing.T) {
	claims := map[string]any{"aud": "api", "groups": []any{"a", "b"}, "scope": "read write"}
	for _, tt := range []struct {
		c  elb.JwtClaim
		ok bool
	}{
		{elb.JwtClaim{Format: "single-string", Name: "aud", Values: []string{"x", "api"}}, true},
		{elb.JwtClaim{Format: "single-string", Name: "aud", Values: []string{"x"}}, false},
		{elb.JwtClaim{Format: "string-array", Name: "groups", Values: []string{"a", "b"}}, true},
		{elb.JwtClaim{Format: "string-array", Name: "groups", Values: []string{"c"}}, false},
		{elb.JwtClaim{Format: "space-separated-values", Name: "scope", Values: []string{"write"}}, true},
		{elb.JwtClaim{Format: "space-separated-values", Name: "scope", Values: []string{"admin"}}, false},
		{elb.JwtClaim{Format: "single-string", Name: "missing", Values: []string{"x"}}, false},
		{elb.JwtClaim{Format: "single-string", Name: "groups", Values: []string{"a"}}, false},
	} {
		if err := CheckClaims(claims, []elb.JwtClaim{tt.c}); (err == nil) != tt.ok {
			t.Errorf("CheckClaims(%+v) = %v, want ok %v", tt.c, err, tt.ok)
		}
	}
}

func TestBearerToken(t *testing.T) {
	for h, want := range map[string]string{"Bearer abc": "abc", "bearer  abc ": "abc", "Basic abc": "", "Bearer": "", "Bearer a b": "", "": ""} {
		if got, ok := BearerToken(h); got != want || ok != (want != "") {
			t.Errorf("BearerToken(%q) = %q, %v", h, got, ok)
		}
	}
}

func FuzzParseSession(f *testing.F) {
	k := testKeys(f, 1)
	cookies, _ := k.SessionCookies("C", Session{Action: "a", Subject: "s", Expires: 1 << 40}, time.Hour)
	f.Add("C-0=" + cookies[0].Value)
	f.Add("C-0=abc; C-1=def; C-15=x; C-16=y; C-01=z")
	f.Add("C-0=; C-0=a")
	f.Fuzz(func(t *testing.T, header string) {
		r := http.Request{Header: http.Header{"Cookie": {header}}}
		s, err := k.ParseSession(r.Cookies(), "C", time.Unix(0, 0))
		if err == nil && s.Expires <= 0 {
			t.Fatalf("expired session accepted: %+v", s)
		}
	})
}

func FuzzParseState(f *testing.F) {
	k := testKeys(f, 1)
	p, _ := k.SealState(State{Action: "a", Bind: "b", Expires: 1 << 40})
	f.Add(p, "b")
	f.Add("", "")
	f.Add("!!!", "b")
	f.Fuzz(func(t *testing.T, param, bind string) {
		st, err := k.ParseState(param, bind, time.Unix(0, 0))
		if err == nil && (st.Bind != bind || bind == "") {
			t.Fatalf("state accepted with bind %q: %+v", bind, st)
		}
	})
}

// TestCognitoEndpoints maps a user pool to its hosted domain's endpoints
// and issuer, or to CognitoEndpoint when set.
func TestCognitoEndpoints(t *testing.T) {
	k := testKeys(t, 1)
	action := func(domain string) elb.Action {
		return elb.Action{Type: elb.ActionAuthenticateCognito, AuthenticateCognito: &elb.AuthenticateCognitoConfig{
			UserPoolArn: "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC123", UserPoolClientID: "client", UserPoolDomain: domain}}
	}
	for _, tt := range []struct {
		domain, override          string
		authURL, userInfo, issuer string
	}{
		{"kelb", "", "https://kelb.auth.eu-west-1.amazoncognito.com/oauth2/authorize", "https://kelb.auth.eu-west-1.amazoncognito.com/oauth2/userInfo", "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"},
		{"auth.example.test", "", "https://auth.example.test/oauth2/authorize", "https://auth.example.test/oauth2/userInfo", "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"},
		{"kelb", "https://127.0.0.1:8443/", "https://127.0.0.1:8443/oauth2/authorize", "https://127.0.0.1:8443/oauth2/userInfo", "https://127.0.0.1:8443/"},
	} {
		f, err := NewFlow(action(tt.domain), "arn", Options{Keys: k, CognitoEndpoint: tt.override})
		if err != nil {
			t.Fatal(err)
		}
		if f.oauth.Endpoint.AuthURL != tt.authURL || f.userInfo != tt.userInfo || f.issuer != tt.issuer || f.oauth.ClientSecret != "" {
			t.Errorf("%s %s: auth %s userinfo %s issuer %s", tt.domain, tt.override, f.oauth.Endpoint.AuthURL, f.userInfo, f.issuer)
		}
	}
}
