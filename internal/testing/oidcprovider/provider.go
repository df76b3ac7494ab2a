// Package oidcprovider runs a real OpenID Connect provider for kelb's
// tests: zitadel/oidc's certified op package over an in-memory storage of
// clients and users, served over HTTPS (a test CA) with a login page whose
// form takes a username and password. Tests drive it as a browser does:
// the authorization endpoint redirects to /login, the form posts back, and
// the provider redirects to the client's redirect URI with a code.
//
// Failure behaviour: a wrong password answers the login form again with
// 401; unknown clients, redirect URIs or codes are refused by the op
// package with OAuth 2.0 errors.
package oidcprovider

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Client is an OAuth 2.0 client of the provider. An empty Secret makes a
// public client (authenticating with its id alone).
type Client struct {
	ID        string
	Secret    string
	Redirects []string
}

// User is a user who can log in.
type User struct {
	Subject  string
	Username string
	Password string
	Email    string
	Name     string
}

// Config configures a Provider.
type Config struct {
	Clients []Client
	Users   []User
	// Addr is the address to listen on; empty is 127.0.0.1:0.
	Addr string
	// Listener, when set, is served instead of listening on Addr: one
	// opened in another network namespace, say.
	Listener net.Listener
	// CA signs the provider's certificate; nil makes a new one.
	CA *CA
	// CognitoPaths serves the endpoints where a Cognito user pool's hosted
	// domain has them: /oauth2/authorize, /oauth2/token, /oauth2/userInfo.
	CognitoPaths bool
}

// Provider is a running OpenID provider.
type Provider struct {
	// Issuer is the provider's https URL, also its base URL.
	Issuer string
	// CAPEM is the CA certificate its TLS certificate chains to.
	CAPEM []byte
	// CertPool holds CAPEM.
	CertPool *x509.CertPool
	op       *op.Provider
	store    *storage
	server   *httptest.Server
}

// Start runs a provider until the test ends.
func Start(t testing.TB, cfg Config) *Provider {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st := &storage{key: key, kid: "oidcprovider-1", clients: map[string]*Client{}, users: map[string]*User{},
		requests: map[string]*authRequest{}, codes: map[string]string{}, tokens: map[string]*token{}}
	for i := range cfg.Clients {
		st.clients[cfg.Clients[i].ID] = &cfg.Clients[i]
	}
	for i := range cfg.Users {
		st.users[cfg.Users[i].Subject] = &cfg.Users[i]
	}
	ca := cfg.CA
	if ca == nil {
		if ca, err = NewCA(); err != nil {
			t.Fatal(err)
		}
	}
	ln := cfg.Listener
	if ln == nil {
		addr := cfg.Addr
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		if ln, err = net.Listen("tcp", addr); err != nil {
			t.Fatal(err)
		}
	}
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	caPEM := ca.PEM
	serverCert, err := ca.serverConfig(host)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = serverCert
	issuer := "https://" + ln.Addr().String()
	var cryptoKey [32]byte
	rand.Read(cryptoKey[:])
	opts := []op.Option{}
	if cfg.CognitoPaths {
		opts = append(opts, op.WithCustomAuthEndpoint(op.NewEndpoint("/oauth2/authorize")),
			op.WithCustomTokenEndpoint(op.NewEndpoint("/oauth2/token")),
			op.WithCustomUserinfoEndpoint(op.NewEndpoint("/oauth2/userInfo")))
	}
	provider, err := op.NewOpenIDProvider(issuer, &op.Config{CryptoKey: cryptoKey, AuthMethodPost: true,
		SupportedScopes: []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail}}, st, opts...)
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{Issuer: issuer, CAPEM: caPEM, CertPool: x509.NewCertPool(), op: provider, store: st, server: srv}
	p.CertPool.AppendCertsFromPEM(caPEM)
	mux := http.NewServeMux()
	mux.HandleFunc("/login", p.login)
	mux.Handle("/", provider)
	srv.Config.Handler = mux
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return p
}

// Endpoint returns the URL of one of the provider's endpoints: authorize,
// token, userinfo or keys.
func (p *Provider) Endpoint(name string) string {
	switch name {
	case "authorize":
		return p.Issuer + p.op.AuthorizationEndpoint().Relative()
	case "token":
		return p.Issuer + p.op.TokenEndpoint().Relative()
	case "userinfo":
		return p.Issuer + p.op.UserinfoEndpoint().Relative()
	case "keys":
		return p.Issuer + p.op.KeysEndpoint().Relative()
	}
	panic("oidcprovider: unknown endpoint " + name)
}

// Logins counts the users who logged in at the login page.
func (p *Provider) Logins() int {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	n := 0
	for _, r := range p.store.requests {
		if r.done {
			n++
		}
	}
	return n
}

// loginForm is the page the authorization endpoint sends browsers to.
const loginForm = `<!DOCTYPE html>
<html><body>
<form method="POST" action="/login">
<input type="hidden" name="id" value="%s">
<label>Username <input type="text" name="username"></label>
<label>Password <input type="password" name="password"></label>
<button type="submit">Log in</button>
</form>
</body></html>
`

func (p *Provider) login(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		id := r.URL.Query().Get("authRequestID")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, loginForm, html.EscapeString(id))
	case http.MethodPost:
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id := r.PostForm.Get("id")
		st := p.store
		st.mu.Lock()
		req, ok := st.requests[id]
		var user *User
		for _, u := range st.users {
			if u.Username == r.PostForm.Get("username") && u.Password == r.PostForm.Get("password") {
				user = u
			}
		}
		if ok && user != nil {
			req.subject, req.authTime, req.done = user.Subject, time.Now(), true
		}
		st.mu.Unlock()
		if !ok {
			http.Error(w, "unknown authorization request", http.StatusBadRequest)
			return
		}
		if user == nil {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, loginForm, html.EscapeString(id))
			return
		}
		http.Redirect(w, r, op.AuthCallbackURL(p.op)(r.Context(), id), http.StatusFound)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// Client interface of the op package.

func (c *Client) GetID() string                    { return c.ID }
func (c *Client) RedirectURIs() []string           { return c.Redirects }
func (c *Client) PostLogoutRedirectURIs() []string { return nil }
func (c *Client) ApplicationType() op.ApplicationType {
	return op.ApplicationTypeWeb
}
func (c *Client) AuthMethod() oidc.AuthMethod {
	if c.Secret == "" {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}
func (c *Client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *Client) GrantTypes() []oidc.GrantType { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *Client) LoginURL(id string) string    { return "/login?authRequestID=" + id }
func (c *Client) AccessTokenType() op.AccessTokenType {
	return op.AccessTokenTypeBearer
}
func (c *Client) IDTokenLifetime() time.Duration { return 5 * time.Minute }
func (c *Client) DevMode() bool                  { return false }
func (c *Client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *Client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *Client) IsScopeAllowed(string) bool           { return false }
func (c *Client) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *Client) ClockSkew() time.Duration             { return 0 }
