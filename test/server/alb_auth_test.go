package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/kelb-io/kelb/internal/testing/oidcprovider"
)

// headerBackend is a target that answers with the x-amzn-oidc-* headers
// it got, and expires the session cookie at /logout as ALB's
// documentation tells applications to.
type headerBackend struct {
	mu   sync.Mutex
	last http.Header
}

func (b *headerBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.last = r.Header.Clone()
	b.mu.Unlock()
	if r.URL.Path == "/logout" {
		http.SetCookie(w, &http.Cookie{Name: "AWSELBAuthSessionCookie-0", Value: "", Path: "/", MaxAge: -1, Secure: true})
	}
	w.Write([]byte("backend " + r.URL.Path))
}

func (b *headerBackend) header() http.Header {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// selfSignedFor returns a certificate and key PEM for name.
func selfSignedFor(t *testing.T, name string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// TestALBAuthenticateOidc logs a browser in through an HTTPS listener
// whose actions are authenticate-oidc then forward, against a real OpenID
// provider: the unauthenticated browser is sent to the provider, posts
// its login form, comes back through /oauth2/idpresponse, and reaches
// the target with x-amzn-oidc-identity, -accesstoken and -data, whose
// signature verifies with the key kelb's API serves for its kid. A rule
// with on-unauthenticated-request deny answers 401 and one with allow
// passes without claims (forged client headers removed); the
// application's logout and an expired session send the browser back to
// the provider.
func TestALBAuthenticateOidc(t *testing.T) {
	t.Parallel()
	const host = "app.auth.test"
	idp := oidcprovider.Start(t, oidcprovider.Config{
		Clients: []oidcprovider.Client{{ID: "kelb-app", Secret: "kelb-app-secret", Redirects: []string{"https://" + host + "/oauth2/idpresponse"}}},
		Users:   []oidcprovider.User{{Subject: "u-alice", Username: "alice", Password: "wonderland", Email: "alice@example.test", Name: "Alice"}},
	})
	caFile := filepath.Join(t.TempDir(), "idp-ca.pem")
	if err := os.WriteFile(caFile, idp.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	tn := newNet()
	s := startServer(t, tn, serverOptions{extraArgs: []string{"--auth-ca-file", caFile}})
	ctx := context.Background()

	backend := &headerBackend{}
	ln := listenRetry(t, "tcp", tn.backend("a", 7)+":18431")
	srv := &http.Server{Handler: backend, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	certPEM, keyPEM := selfSignedFor(t, host)
	certs := acm.New(acm.Options{Region: region, BaseEndpoint: aws.String(s.APIURL),
		Credentials: staticCredentials(keyID, secretKey), HTTPClient: s.httpClient()})
	imp, err := certs.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: certPEM, PrivateKey: keyPEM})
	if err != nil {
		t.Fatal(err)
	}
	lb := must(s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("auth"), Type: types.LoadBalancerTypeEnumApplication}))(t).LoadBalancers[0]
	tg := must(s.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("auth"), Protocol: types.ProtocolEnumHttp,
		Port: aws.Int32(18431), TargetType: types.TargetTypeEnumIp, VpcId: aws.String("vpc-0ce1b000000000000")}))(t).TargetGroups[0]
	must(s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tg.TargetGroupArn,
		Targets: []types.TargetDescription{ipTarget(t, tn.backend("a", 7)+":18431")}}))(t)
	oidc := func(onUnauth types.AuthenticateOidcActionConditionalBehaviorEnum) *types.AuthenticateOidcActionConfig {
		return &types.AuthenticateOidcActionConfig{
			Issuer: aws.String(idp.Issuer), AuthorizationEndpoint: aws.String(idp.Endpoint("authorize")),
			TokenEndpoint: aws.String(idp.Endpoint("token")), UserInfoEndpoint: aws.String(idp.Endpoint("userinfo")),
			ClientId: aws.String("kelb-app"), ClientSecret: aws.String("kelb-app-secret"),
			Scope: aws.String("openid email profile"), OnUnauthenticatedRequest: onUnauth,
		}
	}
	actions := func(onUnauth types.AuthenticateOidcActionConditionalBehaviorEnum) []types.Action {
		return []types.Action{
			{Type: types.ActionTypeEnumAuthenticateOidc, Order: aws.Int32(1), AuthenticateOidcConfig: oidc(onUnauth)},
			{Type: types.ActionTypeEnumForward, Order: aws.Int32(2), TargetGroupArn: tg.TargetGroupArn},
		}
	}
	l := must(s.ELB.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancerArn,
		Protocol: types.ProtocolEnumHttps, Port: aws.Int32(443), Certificates: []types.Certificate{{CertificateArn: imp.CertificateArn}},
		DefaultActions: actions(types.AuthenticateOidcActionConditionalBehaviorEnumAuthenticate)}))(t).Listeners[0]
	for i, r := range []struct {
		path     string
		onUnauth types.AuthenticateOidcActionConditionalBehaviorEnum
	}{{"/deny/*", types.AuthenticateOidcActionConditionalBehaviorEnumDeny}, {"/allow/*", types.AuthenticateOidcActionConditionalBehaviorEnumAllow}} {
		must(s.ELB.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: l.ListenerArn, Priority: aws.Int32(int32(i + 1)),
			Conditions: []types.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{r.path}}},
			Actions:    actions(r.onUnauth)}))(t)
	}

	lbAddr := net.JoinHostPort(aws.ToString(lb.AvailabilityZones[0].LoadBalancerAddresses[0].IpAddress), "443")
	roots := idp.CertPool.Clone()
	roots.AppendCertsFromPEM(certPEM)
	jar, _ := cookiejar.New(nil)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	browser := &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr == host+":443" {
				addr = lbAddr
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}}
	get := func(path string, header ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "https://"+host+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		var resp *http.Response
		eventually(t, 10*time.Second, "GET "+path+" through "+lbAddr, func() error {
			var err error
			resp, err = browser.Do(req)
			return err
		})
		return resp, oidcprovider.ReadBody(resp)
	}
	login := func(path string) http.Header {
		t.Helper()
		resp, body := get(path)
		if !idp.LoginForm(resp, body) {
			t.Fatalf("GET %s without a session: %d at %s, want the provider's login form", path, resp.StatusCode, resp.Request.URL)
		}
		resp, err := idp.SubmitLogin(browser, body, "alice", "wonderland")
		if err != nil {
			t.Fatal(err)
		}
		body = oidcprovider.ReadBody(resp)
		if resp.StatusCode != 200 || body != "backend "+strings.SplitN(path, "?", 2)[0] || resp.Request.URL.String() != "https://"+host+path {
			t.Fatalf("after login: %d %q at %s", resp.StatusCode, body, resp.Request.URL)
		}
		return backend.header()
	}

	// No session: deny answers 401, allow passes without claims and
	// without the client's forged headers.
	resp, _ := get("/deny/x")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("deny without a session: %d, want 401", resp.StatusCode)
	}
	resp, body := get("/allow/x", "X-Amzn-Oidc-Identity", "mallory", "X-Amzn-Oidc-Data", "forged")
	if resp.StatusCode != 200 || body != "backend /allow/x" {
		t.Fatalf("allow without a session: %d %q", resp.StatusCode, body)
	}
	for k := range backend.header() {
		if strings.HasPrefix(strings.ToLower(k), "x-amzn-oidc-") {
			t.Errorf("allow without a session: the target got %s", k)
		}
	}

	h := login("/private?q=1")
	if h.Get("X-Amzn-Oidc-Identity") != "u-alice" || h.Get("X-Amzn-Oidc-Accesstoken") == "" {
		t.Errorf("target headers: identity %q, access token %q", h.Get("X-Amzn-Oidc-Identity"), h.Get("X-Amzn-Oidc-Accesstoken"))
	}
	claims := verifyOidcData(t, s, h.Get("X-Amzn-Oidc-Data"), aws.ToString(lb.LoadBalancerArn), idp.Issuer)
	if claims["email"] != "alice@example.test" || claims["sub"] != "u-alice" {
		t.Errorf("user claims = %v", claims)
	}
	var sessionCookies int
	for _, c := range jar.Cookies(&urlHost) {
		if strings.HasPrefix(c.Name, "AWSELBAuthSessionCookie-") {
			sessionCookies++
		}
	}
	if sessionCookies == 0 {
		t.Error("the browser holds no AWSELBAuthSessionCookie-N cookie")
	}

	// With the session, deny passes with the claims.
	resp, _ = get("/deny/x", "X-Amzn-Oidc-Identity", "mallory")
	if resp.StatusCode != 200 || backend.header().Get("X-Amzn-Oidc-Identity") != "u-alice" {
		t.Errorf("deny with a session: %d, identity %q", resp.StatusCode, backend.header().Get("X-Amzn-Oidc-Identity"))
	}

	// The application logs the user out by expiring the cookie.
	get("/logout")
	resp, body = get("/private")
	if !idp.LoginForm(resp, body) {
		t.Errorf("after logout: %d at %s, want the login form", resp.StatusCode, resp.Request.URL)
	}

	// A session of one second: once it ends, the browser authenticates
	// again. The secret stays with UseExistingClientSecret.
	short := actions(types.AuthenticateOidcActionConditionalBehaviorEnumAuthenticate)
	short[0].AuthenticateOidcConfig.ClientSecret = nil
	short[0].AuthenticateOidcConfig.UseExistingClientSecret = aws.Bool(true)
	short[0].AuthenticateOidcConfig.SessionTimeout = aws.Int64(1)
	must(s.ELB.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: l.ListenerArn, DefaultActions: short}))(t)
	// ModifyListener answers once the data plane runs the new actions.
	login("/short")
	time.Sleep(1100 * time.Millisecond)
	resp, body = get("/short")
	if !idp.LoginForm(resp, body) {
		t.Errorf("an expired session: %d at %s, want the login form", resp.StatusCode, resp.Request.URL)
	}
}

var urlHost = url.URL{Scheme: "https", Host: "app.auth.test", Path: "/"}

// must returns v once the test has checked err: must(c.Op(ctx, in))(t).
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// verifyOidcData checks an x-amzn-oidc-data JWT as an application does:
// the public key for its kid from kelb's public key endpoint verifies its
// ES256 signature, and its header names the load balancer and issuer.
func verifyOidcData(t *testing.T, s *kelbServer, data, lbARN, issuer string) map[string]any {
	t.Helper()
	tok, err := jwt.ParseSigned(data, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("x-amzn-oidc-data %q: %v", data, err)
	}
	h := tok.Headers[0]
	if h.ExtraHeaders["signer"] != lbARN || h.ExtraHeaders["iss"] != issuer || h.ExtraHeaders["client"] != "kelb-app" || h.ExtraHeaders["exp"] == nil {
		t.Errorf("x-amzn-oidc-data header = %+v", h.ExtraHeaders)
	}
	resp, err := s.httpClient().Get(s.APIURL + "/public-keys/" + h.KeyID)
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
		t.Fatalf("x-amzn-oidc-data does not verify with the served public key: %v", err)
	}
	if resp, err := s.httpClient().Get(s.APIURL + "/public-keys/unknown"); err != nil || resp.StatusCode != 404 {
		t.Errorf("unknown kid: %v %v, want 404", resp, err)
	}
	raw, _ := json.Marshal(claims)
	t.Logf("user claims: %s", raw)
	return claims
}
