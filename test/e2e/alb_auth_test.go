package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/kelb-io/kelb/internal/devcluster"
	"github.com/kelb-io/kelb/internal/testing/oidcprovider"
	"github.com/kelb-io/kelb/test/e2e/framework"
)

// authIngress serves auth.example.com over HTTPS behind OpenID Connect
// authentication with the provider at issuer, whose client id and secret
// are in Secret oidc-client, as the AWS Load Balancer Controller's
// documentation shows.
func authIngress(p *oidcprovider.Provider) string {
	return fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: auth
  annotations:
    alb.ingress.kubernetes.io/target-type: ip
    alb.ingress.kubernetes.io/listen-ports: '[{"HTTPS": 443}]'
    alb.ingress.kubernetes.io/auth-type: oidc
    alb.ingress.kubernetes.io/auth-idp-oidc: '{"issuer":"%s","authorizationEndpoint":"%s","tokenEndpoint":"%s","userInfoEndpoint":"%s","secretName":"oidc-client"}'
    alb.ingress.kubernetes.io/auth-scope: openid email profile
    alb.ingress.kubernetes.io/auth-on-unauthenticated-request: authenticate
spec:
  ingressClassName: alb
  tls:
  - hosts: [auth.example.com]
    secretName: auth-tls
  rules:
  - host: auth.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: v1
kind: Secret
metadata:
  name: oidc-client
data:
  clientID: %s
  clientSecret: %s
`, p.Issuer, p.Endpoint("authorize"), p.Endpoint("token"), p.Endpoint("userinfo"),
		base64.StdEncoding.EncodeToString([]byte("kelb-e2e")), base64.StdEncoding.EncodeToString([]byte("kelb-e2e-secret")))
}

// TestALBAuthOIDC logs a browser in through an Ingress with auth-type
// oidc in kelb up, against a real OpenID provider the test runs inside the
// environment's network namespace (kelb server trusts its CA through kelb
// up --server-flag=--auth-ca-file): the browser is sent to the provider,
// posts its login form, comes back through /oauth2/idpresponse and reaches
// the pod, which sees x-amzn-oidc-identity, -accesstoken and -data; the
// data's signature verifies with the key kelb's API serves for its kid.
// With auth-on-unauthenticated-request deny, a browser without a session
// gets 401.
func TestALBAuthOIDC(t *testing.T) {
	env := framework.Get(t)
	requireController(t, env)
	if idpCA == nil {
		t.Fatal("TestMain did not make the provider's CA")
	}
	st, err := devcluster.LoadState(env.Name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rootless {
		t.Skip("the test process enters the environment's network namespace, which needs root")
	}
	ns := env.Namespace(t)
	const host = "auth.example.com"

	ln, err := env.Listen("tcp", net.JoinHostPort(devcluster.ControlPlaneIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	idp := oidcprovider.Start(t, oidcprovider.Config{
		Listener: ln, CA: idpCA,
		Clients: []oidcprovider.Client{{ID: "kelb-e2e", Secret: "kelb-e2e-secret", Redirects: []string{"https://" + host + "/oauth2/idpresponse"}}},
		Users:   []oidcprovider.User{{Subject: "u-alice", Username: "alice", Password: "wonderland", Email: "alice@example.test", Name: "Alice"}},
	})
	server := selfSigned(t, host)
	env.Apply(t, ns, tlsSecret("auth-tls", server)+"---\n"+albDeployment("web", 1)+"---\n"+authIngress(idp))
	lbHost := ingressHostname(t, env, ns, "auth")
	waitReadyPods(t, env, ns, "app=web", 1)

	// The browser runs in the test process; its connections, and its
	// name lookups at kelb's DNS, are made inside the environment.
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return env.DialContext(ctx, network, net.JoinHostPort(devcluster.ControlPlaneIP, "53"))
	}}
	roots := idp.CertPool.Clone()
	roots.AppendCertsFromPEM(server.certPEM)
	newBrowser := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots},
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if addr == host+":443" {
					ips, err := resolver.LookupHost(ctx, lbHost)
					if err != nil {
						return nil, err
					}
					addr = net.JoinHostPort(ips[0], "443")
				}
				return env.DialContext(ctx, network, addr)
			},
		}}
	}

	// Without a session the browser lands on the provider's login form
	// (once the listener runs the Ingress's actions), logs in and comes
	// back to the pod.
	browser := newBrowser()
	var resp *http.Response
	var body string
	framework.Eventually(t, 2*time.Minute, func() error {
		r, err := browser.Get("https://" + host + "/private?q=1")
		if err != nil {
			return err
		}
		resp, body = r, oidcprovider.ReadBody(r)
		if !idp.LoginForm(resp, body) {
			return fmt.Errorf("GET /private without a session: %d at %s, want the provider's login form", resp.StatusCode, resp.Request.URL)
		}
		return nil
	})
	resp, err = idp.SubmitLogin(browser, body, "alice", "wonderland")
	if err != nil {
		t.Fatal(err)
	}
	body = oidcprovider.ReadBody(resp)
	if resp.StatusCode != 200 || resp.Request.URL.String() != "https://"+host+"/private?q=1" {
		t.Fatalf("after login: %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	seen := echoedHeaders(body)
	if seen["x-amzn-oidc-identity"] != "u-alice" || seen["x-amzn-oidc-accesstoken"] == "" {
		t.Errorf("the pod saw identity %q, access token %q:\n%s", seen["x-amzn-oidc-identity"], seen["x-amzn-oidc-accesstoken"], body)
	}
	claims := verifyOIDCData(t, env, st.APIEndpoint(), seen["x-amzn-oidc-data"], idp.Issuer)
	if claims["sub"] != "u-alice" || claims["email"] != "alice@example.test" {
		t.Errorf("x-amzn-oidc-data claims = %v", claims)
	}

	// deny: a browser without a session gets 401, once the controller
	// has changed the listener.
	env.Kubectl(t, "annotate", "ingress", "-n", ns, "auth", "--overwrite", "alb.ingress.kubernetes.io/auth-on-unauthenticated-request=deny")
	framework.Eventually(t, time.Minute, func() error {
		r, err := newBrowser().Get("https://" + host + "/private")
		if err != nil {
			return err
		}
		oidcprovider.ReadBody(r)
		if r.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("deny without a session: %d at %s, want 401", r.StatusCode, r.Request.URL)
		}
		return nil
	})
}

// echoedHeaders returns the request headers the echo server lists in its
// answer (lines "name=value"), by lower-case name.
func echoedHeaders(body string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(body, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			out[strings.ToLower(k)] = v
		}
	}
	return out
}

// verifyOIDCData checks an x-amzn-oidc-data JWT as an application does:
// its header names the issuer and the client, and the public key kelb's
// API at apiURL serves for its kid verifies its ES256 signature. It
// returns the user claims.
func verifyOIDCData(t *testing.T, env *framework.Env, apiURL, data, issuer string) map[string]any {
	t.Helper()
	tok, err := jwt.ParseSigned(data, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("x-amzn-oidc-data %q: %v", data, err)
	}
	h := tok.Headers[0]
	if h.ExtraHeaders["iss"] != issuer || h.ExtraHeaders["client"] != "kelb-e2e" || !strings.Contains(fmt.Sprint(h.ExtraHeaders["signer"]), ":loadbalancer/app/") {
		t.Errorf("x-amzn-oidc-data header = %+v", h.ExtraHeaders)
	}
	api := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: env.DialContext}}
	resp, err := api.Get(apiURL + "/public-keys/" + h.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	body := oidcprovider.ReadBody(resp)
	block, _ := pem.Decode([]byte(body))
	if resp.StatusCode != 200 || block == nil {
		t.Fatalf("public key %s: %d %q", h.KeyID, resp.StatusCode, body)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := tok.Claims(pub, &claims); err != nil {
		t.Fatalf("x-amzn-oidc-data does not verify with the key %s/public-keys/%s serves: %v", apiURL, h.KeyID, err)
	}
	t.Logf("x-amzn-oidc-data (kid %s) verified; claims %v", h.KeyID, claims)
	return claims
}
