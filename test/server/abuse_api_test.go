package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
)

// The API under abuse, against the real binary: requests an attacker can
// build from a captured one, targets that point where no load balancer
// should send traffic, and inputs beyond AWS's limits. Forbidden target
// addresses are only ever API input here; no traffic goes to them.

// abuseSignedRequest signs a request to the server for service (acm or
// elasticloadbalancing) with the test's key, with header set before
// signing, and returns it unsent.
func abuseSignedRequest(t *testing.T, s *kelbServer, service string, header map[string]string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.APIURL+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secretKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, region, time.Now()); err != nil {
		t.Fatal(err)
	}
	return req
}

// abuseSend sends req (its body rewound) and returns the status and body.
func abuseSend(t *testing.T, s *kelbServer, req *http.Request, body []byte) (int, string) {
	t.Helper()
	req.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := s.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func abuseSelfSigned(t *testing.T, host string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
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

func abuseCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return "not an API error: " + err.Error()
	}
	return ""
}

// TestAbuseSignatures replays captured requests with what SigV4 does not
// allow changed, and checks that nothing they asked for happened.
func TestAbuseSignatures(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	ctx := context.Background()
	certs := acm.New(acm.Options{Region: region, BaseEndpoint: aws.String(s.APIURL), Credentials: staticCredentials(keyID, secretKey), HTTPClient: s.httpClient()})
	certPEM, keyPEM := abuseSelfSigned(t, "abuse.example")
	imported, err := certs.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: certPEM, PrivateKey: keyPEM})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(imported.CertificateArn)
	body, _ := json.Marshal(map[string]string{"CertificateArn": arn})
	acmHeader := func(op string) map[string]string {
		return map[string]string{"X-Amz-Target": "CertificateManager." + op, "Content-Type": "application/x-amz-json-1.1"}
	}

	// The captured GetCertificate works as sent.
	if status, out := abuseSend(t, s, abuseSignedRequest(t, s, "acm", acmHeader("GetCertificate"), body), body); status != http.StatusOK {
		t.Fatalf("captured GetCertificate: %d %s", status, out)
	}
	tests := []struct {
		name     string
		req      func() *http.Request
		wantCode string
	}{
		{"X-Amz-Target changed on a captured request", func() *http.Request {
			req := abuseSignedRequest(t, s, "acm", acmHeader("GetCertificate"), body)
			req.Header.Set("X-Amz-Target", "CertificateManager.DeleteCertificate")
			return req
		}, "InvalidSignatureException"},
		{"X-Amz-Target added after signing", func() *http.Request {
			req := abuseSignedRequest(t, s, "acm", map[string]string{"Content-Type": "application/x-amz-json-1.1"}, body)
			req.Header.Set("X-Amz-Target", "CertificateManager.DeleteCertificate")
			return req
		}, "InvalidSignatureException"},
		{"X-Amz-Target struck from SignedHeaders", func() *http.Request {
			req := abuseSignedRequest(t, s, "acm", acmHeader("DeleteCertificate"), body)
			req.Header.Set("Authorization", strings.Replace(req.Header.Get("Authorization"), ";x-amz-target", "", 1))
			return req
		}, "InvalidSignatureException"},
		{"signed bogus security token", func() *http.Request {
			return abuseSignedRequest(t, s, "acm", map[string]string{"X-Amz-Target": "CertificateManager.DeleteCertificate",
				"Content-Type": "application/x-amz-json-1.1", "X-Amz-Security-Token": "FwoGZXIvYXdzEKelbBogusToken"}, body)
		}, "UnrecognizedClientException"},
		{"upper-case hex signature", func() *http.Request {
			req := abuseSignedRequest(t, s, "acm", acmHeader("DeleteCertificate"), body)
			auth := req.Header.Get("Authorization")
			i := strings.Index(auth, "Signature=") + len("Signature=")
			req.Header.Set("Authorization", auth[:i]+strings.ToUpper(auth[i:]))
			return req
		}, "InvalidSignatureException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := abuseSend(t, s, tt.req(), body)
			var e struct {
				Type string `json:"__type"`
			}
			_ = json.Unmarshal([]byte(out), &e)
			if status < 400 || e.Type != tt.wantCode {
				t.Errorf("got %d %s, want %s", status, out, tt.wantCode)
			}
		})
	}
	if _, err := certs.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)}); err != nil {
		t.Errorf("certificate gone after the refused requests: %v", err)
	}

	tokenCreds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secretKey, SessionToken: "FwoGZXIvYXdzEKelbBogusToken"}, nil
	})
	certsWithToken := acm.New(acm.Options{Region: region, BaseEndpoint: aws.String(s.APIURL), Credentials: tokenCreds, HTTPClient: s.httpClient(), RetryMaxAttempts: 1})
	if _, err := certsWithToken.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: aws.String(arn)}); abuseCode(err) != "UnrecognizedClientException" {
		t.Errorf("ACM with a session token: %v, want UnrecognizedClientException", err)
	}
	if _, err := certs.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)}); err != nil {
		t.Errorf("certificate gone after a session token's DeleteCertificate: %v", err)
	}

	// The ELBv2 API, through the SDK where it can send the request.
	withToken := elbv2.New(elbv2.Options{Region: region, BaseEndpoint: aws.String(s.APIURL), HTTPClient: s.httpClient(), RetryMaxAttempts: 1,
		Credentials: tokenCreds})
	if _, err := withToken.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{}); abuseCode(err) != "InvalidClientTokenId" {
		t.Errorf("ELBv2 with a session token: %v, want InvalidClientTokenId", err)
	}
	form := []byte("Action=DescribeLoadBalancers&Version=2015-12-01")
	formHeader := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	req := abuseSignedRequest(t, s, "elasticloadbalancing", formHeader, form)
	auth := req.Header.Get("Authorization")
	i := strings.Index(auth, "Signature=") + len("Signature=")
	req.Header.Set("Authorization", auth[:i]+strings.ToUpper(auth[i:]))
	if status, out := abuseSend(t, s, req, form); status != http.StatusForbidden || !strings.Contains(out, "<Code>SignatureDoesNotMatch</Code>") {
		t.Errorf("ELBv2 upper-case signature: %d %s", status, out)
	}
}

// TestAbuseTargets registers targets that point where a load balancer must
// not send traffic, and checks that none was registered.
func TestAbuseTargets(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	ctx := context.Background()
	out, err := s.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{VpcId: aws.String("vpc-0ce1b000000000000"),
		Name: aws.String("abuse-targets"), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(7000), TargetType: types.TargetTypeEnumIp,
	})
	if err != nil {
		t.Fatal(err)
	}
	tg := out.TargetGroups[0].TargetGroupArn
	tests := []struct {
		id, zone, wantCode string
	}{
		{"169.254.169.254", "all", "InvalidTarget"},
		{"0.0.0.0", "all", "InvalidTarget"},
		{"224.0.0.1", "all", "InvalidTarget"},
		{"255.255.255.255", "all", "InvalidTarget"},
		{"8.8.8.8", "all", "InvalidTarget"},
		{"8.8.8.8", "", "InvalidTarget"},
		{"fe80::1", "all", "InvalidTarget"},
		{"::ffff:169.254.169.254", "all", "InvalidTarget"},
		{"10.1.2.3", "", "ValidationError"},     // outside the VPC: a zone is required
		{"127.0.0.1", "all", "ValidationError"}, // in the VPC: its zone is its subnet's
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.zone, func(t *testing.T) {
			target := types.TargetDescription{Id: aws.String(tt.id), Port: aws.Int32(7000)}
			if tt.zone != "" {
				target.AvailabilityZone = aws.String(tt.zone)
			}
			_, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tg, Targets: []types.TargetDescription{target}})
			if got := abuseCode(err); got != tt.wantCode {
				t.Errorf("register %s in zone %q: %s, want %s", tt.id, tt.zone, got, tt.wantCode)
			}
		})
	}
	// One bad target refuses the whole call.
	_, err = s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tg, Targets: []types.TargetDescription{
		{Id: aws.String(tn.backend("a", 1)), Port: aws.Int32(7000)},
		{Id: aws.String("169.254.169.254"), Port: aws.Int32(80), AvailabilityZone: aws.String("all")},
	}})
	if abuseCode(err) != "InvalidTarget" {
		t.Errorf("mixed call: %v, want InvalidTarget", err)
	}
	health, err := s.ELB.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tg})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(health.TargetHealthDescriptions); n != 0 {
		t.Errorf("%d targets registered, want none", n)
	}
	// Addresses of the VPC (loopback for this server) and private ones
	// with a zone are targets.
	if _, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tg, Targets: []types.TargetDescription{
		{Id: aws.String(tn.backend("a", 1)), Port: aws.Int32(7000)},
		{Id: aws.String("10.1.2.3"), Port: aws.Int32(7000), AvailabilityZone: aws.String("all")},
	}}); err != nil {
		t.Errorf("register allowed targets: %v", err)
	}
}

// TestAbuseLimits sends calls beyond AWS's limits and malformed lists, and
// checks AWS's error codes, that the errors stay small, and that nothing
// was changed.
func TestAbuseLimits(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	ctx := context.Background()
	out, err := s.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{VpcId: aws.String("vpc-0ce1b000000000000"),
		Name: aws.String("abuse-limits"), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(7000), TargetType: types.TargetTypeEnumIp,
	})
	if err != nil {
		t.Fatal(err)
	}
	tg := out.TargetGroups[0].TargetGroupArn
	targets := func(n int) []types.TargetDescription {
		out := make([]types.TargetDescription, n)
		for i := range out {
			out[i] = types.TargetDescription{Id: aws.String(fmt.Sprintf("127.%d.0.%d", tn.n, 10+i%100)), Port: aws.Int32(int32(1 + i))}
		}
		return out
	}
	names := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("abuse-%d", i)
		}
		return out
	}
	tags := make([]types.Tag, 51)
	for i := range tags {
		tags[i] = types.Tag{Key: aws.String(fmt.Sprintf("k%d", i)), Value: aws.String("v")}
	}
	tests := []struct {
		name     string
		call     func() error
		wantCode string
	}{
		{"1,001 targets in one group", func() error {
			_, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tg, Targets: targets(1001)})
			return err
		}, "TooManyTargets"},
		{"5,000 targets: more than net/url's 10,000 parameters", func() error {
			_, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tg, Targets: targets(5000)})
			return err
		}, "TooManyTargets"},
		{"21 load balancer names", func() error {
			_, err := s.ELB.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: names(21)})
			return err
		}, "ValidationError"},
		{"21 target group names", func() error {
			_, err := s.ELB.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: names(21)})
			return err
		}, "ValidationError"},
		{"21 resources to describe tags of", func() error {
			arns := make([]string, 21)
			for i := range arns {
				arns[i] = aws.ToString(tg)
			}
			_, err := s.ELB.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: arns})
			return err
		}, "ValidationError"},
		{"51 tags", func() error {
			_, err := s.ELB.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{aws.ToString(tg)}, Tags: tags})
			return err
		}, "TooManyTags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := abuseCode(tt.call()); got != tt.wantCode {
				t.Errorf("got %s, want %s", got, tt.wantCode)
			}
		})
	}

	// What the SDK would not send: list indexes no list has, and a large
	// request whose every member is wrong.
	formHeader := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	raw := func(t *testing.T, form string) (int, string) {
		b := []byte(form)
		return abuseSend(t, s, abuseSignedRequest(t, s, "elasticloadbalancing", formHeader, b), b)
	}
	for _, form := range []string{
		"Action=DescribeLoadBalancers&Version=2015-12-01&Names.member.99999999999999999999=x",
		"Action=DescribeTargetGroups&Version=2015-12-01&Names.member.0=x",
		"Action=DescribeTags&Version=2015-12-01&ResourceArns.member.1=" + aws.ToString(tg) + "&ResourceArns.member.-5=x",
	} {
		if status, out := raw(t, form); status != http.StatusBadRequest || !strings.Contains(out, "<Code>ValidationError</Code>") {
			t.Errorf("%s: %d %.300s, want 400 ValidationError", form, status, out)
		}
	}
	var big strings.Builder
	big.WriteString("Action=RegisterTargets&Version=2015-12-01&TargetGroupArn=" + aws.ToString(tg))
	long := strings.Repeat("9", 1000)
	for i := 1; big.Len() < 700_000; i++ {
		fmt.Fprintf(&big, "&Targets.member.%d.Id=127.0.0.1&Targets.member.%d.Port=%s", i, i, long)
	}
	status, errBody := raw(t, big.String())
	if status != http.StatusBadRequest || !strings.Contains(errBody, "<Code>ValidationError</Code>") {
		t.Errorf("large invalid request: %d %.300s, want 400 ValidationError", status, errBody)
	}
	if len(errBody) > 16<<10 {
		t.Errorf("a %d-byte request got a %d-byte error", big.Len(), len(errBody))
	}
	t.Logf("a %d-byte request of bad values got a %d-byte error", big.Len(), len(errBody))
	health, err := s.ELB.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tg})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(health.TargetHealthDescriptions); n != 0 {
		t.Errorf("%d targets registered, want none", n)
	}
}
