package l7_test

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
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/kelb-io/kelb/internal/acmapi"
	"github.com/kelb-io/kelb/internal/certstore"
	"github.com/kelb-io/kelb/internal/confview"
	"github.com/kelb-io/kelb/internal/dataplane/l7"
	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/elbapi"
)

const (
	keyID  = "AKIAKELBL7TEST000000"
	secret = "kelb-l7-integration-secret"
)

// kelbAPI is the ELBv2 and ACM APIs over one store, with the L7 plane
// following the store as kelb server's sync loop does (health nil: every
// target initial, so groups fail open onto their targets).
type kelbAPI struct {
	URL   string
	svc   *elb.Service
	plane *l7.Plane
}

func startAPI(t *testing.T) *kelbAPI {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "kelb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := elb.New(elb.Config{Store: st, VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Zones: []elb.Zone{
		{Name: "us-west-2a", SubnetID: "subnet-0a", Pool: netip.MustParsePrefix("127.0.77.0/24")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	certs := certstore.New(certstore.Config{Store: st, InUse: elb.CertificateUsers})
	creds := elbapi.StaticCredentials{keyID: secret}
	ops := elbapi.Ops(svc)
	maps.Copy(ops, elbapi.ListenerCertificateOps(svc))
	elbH := elbapi.NewHandler(elbapi.HandlerConfig{Ops: ops, Credentials: creds, Region: "us-west-2"})
	acmH := acmapi.NewHandler(acmapi.Config{Certificates: certs, Credentials: creds, Region: "us-west-2"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if acmapi.IsACMRequest(r) {
			acmH.ServeHTTP(w, r)
			return
		}
		elbH.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	plane := l7.New(l7.Options{Certificates: certs})
	t.Cleanup(func() { plane.Close() })
	return &kelbAPI{URL: srv.URL, svc: svc, plane: plane}
}

// sync applies the store's current state to the plane.
func (k *kelbAPI) sync(t *testing.T) {
	t.Helper()
	st, err := k.svc.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := k.plane.Apply(l7.Build(confview.New(st), nil)); err != nil {
		t.Fatal(err)
	}
}

func (k *kelbAPI) client() *elbv2.Client {
	return elbv2.New(elbv2.Options{
		Region: "us-west-2", BaseEndpoint: aws.String(k.URL), RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}, nil
		}),
	})
}

// aws runs the aws CLI against the API and returns its JSON output.
func (k *kelbAPI) aws(t *testing.T, args ...string) (map[string]any, error) {
	t.Helper()
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("aws CLI not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "aws", append(args, "--output", "json")...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+keyID, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_DEFAULT_REGION=us-west-2",
		"AWS_ENDPOINT_URL_ACM="+k.URL, "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2="+k.URL, "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("aws %s: %w: %s", strings.Join(args, " "), err, out)
	}
	var v map[string]any
	if len(strings.TrimSpace(string(out))) > 0 {
		if err := json.Unmarshal(out, &v); err != nil {
			return nil, fmt.Errorf("aws %s output %q: %w", strings.Join(args, " "), out, err)
		}
	}
	return v, nil
}

// writeCert writes a self-signed certificate and key for name to dir.
func writeCert(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func namedBackend(t *testing.T, name string) (string, int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, name)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "127.0.0.1", int32(ln.Addr().(*net.TCPAddr).Port)
}

func freePort(t *testing.T, ip string) int32 {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return int32(ln.Addr().(*net.TCPAddr).Port)
}

func TestALBThroughTheAPIs(t *testing.T) {
	ctx := context.Background()
	k := startAPI(t)
	c := k.client()

	lb, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("web"), Type: types.LoadBalancerTypeEnumApplication})
	if err != nil {
		t.Fatal(err)
	}
	lbARN := lb.LoadBalancers[0].LoadBalancerArn
	lbIP := aws.ToString(lb.LoadBalancers[0].AvailabilityZones[0].LoadBalancerAddresses[0].IpAddress)
	group := func(name string) string {
		out, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(name), Protocol: types.ProtocolEnumHttp,
			Port: aws.Int32(80), TargetType: types.TargetTypeEnumIp, VpcId: aws.String(elb.DefaultVpcID)})
		if err != nil {
			t.Fatal(err)
		}
		arn := out.TargetGroups[0].TargetGroupArn
		ip, port := namedBackend(t, name)
		if _, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: arn,
			Targets: []types.TargetDescription{{Id: aws.String(ip), Port: aws.Int32(port)}}}); err != nil {
			t.Fatal(err)
		}
		return aws.ToString(arn)
	}
	tgA, tgB := group("tg-a"), group("tg-b")
	httpPort := freePort(t, lbIP)
	ls, err := c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lbARN, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(httpPort),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tgA)}}})
	if err != nil {
		t.Fatal(err)
	}
	httpARN := ls.Listeners[0].ListenerArn
	rules := []elbv2.CreateRuleInput{
		{Priority: aws.Int32(10), Conditions: []types.RuleCondition{{Field: aws.String("path-pattern"), PathPatternConfig: &types.PathPatternConditionConfig{Values: []string{"/b/*"}}}},
			Actions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tgB)}}},
		{Priority: aws.Int32(20), Conditions: []types.RuleCondition{{Field: aws.String("http-request-method"), HttpRequestMethodConfig: &types.HttpRequestMethodConditionConfig{Values: []string{"DELETE"}}}},
			Actions: []types.Action{{Type: types.ActionTypeEnumFixedResponse, FixedResponseConfig: &types.FixedResponseActionConfig{StatusCode: aws.String("405"), MessageBody: aws.String("no deletes")}}}},
		{Priority: aws.Int32(30), Conditions: []types.RuleCondition{{Field: aws.String("http-header"), HttpHeaderConfig: &types.HttpHeaderConditionConfig{HttpHeaderName: aws.String("X-Variant"), Values: []string{"b"}}}},
			Actions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tgB)}}},
		{Priority: aws.Int32(40), Conditions: []types.RuleCondition{{Field: aws.String("query-string"), QueryStringConfig: &types.QueryStringConditionConfig{Values: []types.QueryStringKeyValuePair{{Key: aws.String("to"), Value: aws.String("b")}}}}},
			Actions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tgB)}}},
		{Priority: aws.Int32(50), Conditions: []types.RuleCondition{{Field: aws.String("source-ip"), SourceIpConfig: &types.SourceIpConditionConfig{Values: []string{"127.0.0.0/8"}}}, {Field: aws.String("path-pattern"), Values: []string{"/local"}}},
			Actions: []types.Action{{Type: types.ActionTypeEnumRedirect, RedirectConfig: &types.RedirectActionConfig{Path: aws.String("/b/#{path}"), StatusCode: types.RedirectActionStatusCodeEnumHttp302}}}},
		{Priority: aws.Int32(60), Conditions: []types.RuleCondition{{Field: aws.String("host-header"), HostHeaderConfig: &types.HostHeaderConditionConfig{Values: []string{"*.b.test"}}}},
			Actions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tgB)}}},
	}
	for i := range rules {
		rules[i].ListenerArn = httpARN
		if _, err := c.CreateRule(ctx, &rules[i]); err != nil {
			t.Fatal(err)
		}
	}

	// Certificates: imported with the aws CLI, used by an HTTPS listener
	// created with the aws CLI, a second one added for SNI with the SDK.
	dir := t.TempDir()
	var certARNs []string
	for _, name := range []string{"one.test", "two.test"} {
		cf, kf := writeCert(t, dir, name)
		out, err := k.aws(t, "acm", "import-certificate", "--certificate", "fileb://"+cf, "--private-key", "fileb://"+kf)
		if err != nil {
			t.Fatal(err)
		}
		arn, _ := out["CertificateArn"].(string)
		if !strings.HasPrefix(arn, "arn:aws:acm:us-west-2:123456789012:certificate/") {
			t.Fatalf("import-certificate answered %v", out)
		}
		certARNs = append(certARNs, arn)
	}
	if out, err := k.aws(t, "acm", "describe-certificate", "--certificate-arn", certARNs[0]); err != nil {
		t.Fatal(err)
	} else if d, _ := out["Certificate"].(map[string]any); d["DomainName"] != "one.test" || d["Type"] != "IMPORTED" {
		t.Errorf("describe-certificate = %v", out)
	}
	httpsPort := freePort(t, lbIP)
	out, err := k.aws(t, "elbv2", "create-listener", "--load-balancer-arn", aws.ToString(lbARN), "--protocol", "HTTPS",
		"--port", strconv.Itoa(int(httpsPort)), "--certificates", "CertificateArn="+certARNs[0],
		"--default-actions", "Type=forward,TargetGroupArn="+tgA)
	if err != nil {
		t.Fatal(err)
	}
	httpsARN := out["Listeners"].([]any)[0].(map[string]any)["ListenerArn"].(string)
	if _, err := c.AddListenerCertificates(ctx, &elbv2.AddListenerCertificatesInput{ListenerArn: aws.String(httpsARN),
		Certificates: []types.Certificate{{CertificateArn: aws.String(certARNs[1])}}}); err != nil {
		t.Fatal(err)
	}
	lc, err := c.DescribeListenerCertificates(ctx, &elbv2.DescribeListenerCertificatesInput{ListenerArn: aws.String(httpsARN)})
	if err != nil {
		t.Fatal(err)
	}
	// The default certificate first, then the certificate list, which
	// holds the default certificate too, as ELBv2 lists them.
	if len(lc.Certificates) != 3 || !aws.ToBool(lc.Certificates[0].IsDefault) || aws.ToString(lc.Certificates[1].CertificateArn) != aws.ToString(lc.Certificates[0].CertificateArn) ||
		aws.ToBool(lc.Certificates[1].IsDefault) || aws.ToString(lc.Certificates[2].CertificateArn) != certARNs[1] {
		t.Errorf("DescribeListenerCertificates = %+v", lc.Certificates)
	}
	_, err = c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lbARN, Protocol: types.ProtocolEnumHttps, Port: aws.Int32(9443),
		Certificates:   []types.Certificate{{CertificateArn: aws.String("arn:aws:acm:us-west-2:123456789012:certificate/00000000-0000-4000-8000-000000000000")}},
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tgA)}}})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "CertificateNotFound" {
		t.Errorf("CreateListener with an unknown certificate: %v, want CertificateNotFound", err)
	}
	if _, err := k.aws(t, "acm", "delete-certificate", "--certificate-arn", certARNs[1]); err == nil || !strings.Contains(err.Error(), "ResourceInUseException") {
		t.Errorf("delete-certificate of a used certificate: %v, want ResourceInUseException", err)
	}

	k.sync(t)

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := fmt.Sprintf("http://%s:%d", lbIP, httpPort)
	tests := []struct {
		name, method, path, host string
		header                   [2]string
		wantCode                 int
		wantBody, wantLocation   string
	}{
		{name: "default", path: "/", wantCode: 200, wantBody: "tg-a"},
		{name: "path", path: "/b/x", wantCode: 200, wantBody: "tg-b"},
		{name: "method", method: "DELETE", path: "/", wantCode: 405, wantBody: "no deletes"},
		{name: "header", path: "/", header: [2]string{"X-Variant", "B"}, wantCode: 200, wantBody: "tg-b"},
		{name: "query", path: "/?to=B", wantCode: 200, wantBody: "tg-b"},
		{name: "source ip and path", path: "/local", wantCode: 302, wantLocation: fmt.Sprintf("http://%s:%d/b/local", lbIP, httpPort)},
		{name: "host", path: "/", host: "www.b.test", wantCode: 200, wantBody: "tg-b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(cmpOr(tt.method, http.MethodGet), base+tt.path, nil)
			if tt.host != "" {
				req.Host = tt.host
			}
			if tt.header[0] != "" {
				req.Header.Set(tt.header[0], tt.header[1])
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode || string(body) != tt.wantBody && tt.wantBody != "" || resp.Header.Get("Location") != tt.wantLocation {
				t.Errorf("%s %s = %d %q Location %q, want %d %q %q", req.Method, tt.path, resp.StatusCode, body, resp.Header.Get("Location"), tt.wantCode, tt.wantBody, tt.wantLocation)
			}
		})
	}
	for sni, wantCN := range map[string]string{"one.test": "one.test", "two.test": "two.test", "other.test": "one.test"} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: sni, InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
		resp, err := (&http.Client{Transport: tr}).Get(fmt.Sprintf("https://%s:%d/", lbIP, httpsPort))
		if err != nil {
			t.Fatalf("HTTPS with SNI %s: %v", sni, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		if cn := resp.TLS.PeerCertificates[0].Subject.CommonName; cn != wantCN || string(body) != "tg-a" || resp.ProtoMajor != 2 {
			t.Errorf("SNI %s: certificate %s, body %q, %s; want %s, tg-a, HTTP/2", sni, cn, body, resp.Proto, wantCN)
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
