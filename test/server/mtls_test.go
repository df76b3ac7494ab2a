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
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// pki is a CA that issues client certificates for the mutual TLS tests.
type pki struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newPKI(t *testing.T, name string) pki {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name, Organization: []string{"kelb test"}},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return pki{cert: c, key: key}
}

func (p pki) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.cert.Raw})
}

// client issues a client certificate valid from notBefore to notAfter.
func (p pki) client(t *testing.T, cn string, serial int64, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func (p pki) crl(t *testing.T, serials ...int64) []byte {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, s := range serials {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: big.NewInt(s), RevocationTime: time.Now().Add(-time.Hour)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
		ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(24 * time.Hour), RevokedCertificateEntries: entries}, p.cert, p.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// headerBackend is an HTTP target that answers with the request's headers
// as JSON.
func startHeaderBackend(t *testing.T, addr string) {
	t.Helper()
	ln := listenRetry(t, "tcp", addr)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(r.Header)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// mtlsGet sends one request over a new connection with cert (none when
// nil) from the test network's client address, and returns the headers
// the target got.
func mtlsGet(addr string, cert *tls.Certificate, h2 bool, header http.Header) (http.Header, error) {
	conf := &tls.Config{InsecureSkipVerify: true}
	if cert != nil {
		conf.Certificates = []tls.Certificate{*cert}
	}
	tr := &http.Transport{TLSClientConfig: conf, DisableKeepAlives: true, ForceAttemptHTTP2: h2}
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/", nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if h2 && resp.ProtoMajor != 2 {
		return nil, fmt.Errorf("answered over %s, want HTTP/2", resp.Proto)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	var got http.Header
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		return nil, err
	}
	return got, nil
}

// TestMutualTLS uploads a CA bundle and a CRL with the aws CLI and boto3
// to kelb's S3, makes a trust store of them with `aws elbv2
// create-trust-store`, checks the trust store operations' answers and
// errors with aws-sdk-go-v2, and sends real TLS clients with and without
// certificates to HTTPS listeners in verify and passthrough mode.
func TestMutualTLS(t *testing.T) {
	t.Parallel()
	requireTools(t, "aws", "python3")
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	ctx := context.Background()
	ca, other := newPKI(t, "kelb client CA"), newPKI(t, "stranger CA")
	now := time.Now()
	valid := ca.client(t, "client one", 0x10A, now.Add(-time.Hour), now.Add(time.Hour))
	revoked := ca.client(t, "revoked client", 0x666, now.Add(-time.Hour), now.Add(time.Hour))
	expired := ca.client(t, "expired client", 0x20, now.Add(-3*time.Hour), now.Add(-2*time.Hour))
	stranger := other.client(t, "stranger", 0x10A, now.Add(-time.Hour), now.Add(time.Hour))

	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("ca.pem", ca.pem())
	write("leaf.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: valid.Certificate[0]}))
	revokedCRL := ca.crl(t, 0x666)
	write("revoked.crl", revokedCRL)
	write("other.crl", other.crl(t, 1))
	write("big.bin", make([]byte, 2<<20))

	// What a user types: the aws CLI for S3 and the trust store, boto3
	// for the CRLs and an object over the size limit (the aws CLI v1
	// reports EntityTooLarge for a file that size, then does not exit).
	script := `
cd "$DIR"
aws s3 mb s3://kelb-mtls >/dev/null
aws s3 cp ca.pem s3://kelb-mtls/ca.pem >/dev/null
aws s3 cp leaf.pem s3://kelb-mtls/leaf.pem >/dev/null
python3 -c "
import boto3, botocore
s3 = boto3.client('s3')
s3.put_object(Bucket='kelb-mtls', Key='crl/revoked.crl', Body=open('revoked.crl','rb').read())
s3.put_object(Bucket='kelb-mtls', Key='crl/other.crl', Body=open('other.crl','rb').read())
try:
    s3.put_object(Bucket='kelb-mtls', Key='big.bin', Body=open('big.bin','rb').read())
except botocore.exceptions.ClientError as e:
    assert e.response['Error']['Code'] == 'EntityTooLarge', e.response
else:
    raise SystemExit('big object accepted')
"
aws s3 ls s3://kelb-mtls/ | awk '{print $NF}' | tr '\n' ' ' >ls.out
aws elbv2 create-trust-store --name kelb-mtls --ca-certificates-bundle-s3-bucket kelb-mtls \
  --ca-certificates-bundle-s3-key ca.pem --query 'TrustStores[0].TrustStoreArn' --output text
`
	tsARN := strings.TrimSpace(s.shell(t, script, "DIR="+dir, "AWS_ENDPOINT_URL_S3="+s.APIURL))
	if !strings.Contains(tsARN, ":truststore/kelb-mtls/") {
		t.Fatalf("create-trust-store: %q", tsARN)
	}
	if ls, _ := os.ReadFile(filepath.Join(dir, "ls.out")); strings.TrimSpace(string(ls)) != "crl/ ca.pem leaf.pem" {
		t.Errorf("aws s3 ls: %q", ls)
	}

	c := s.ELB
	code := func(_ any, err error) string { return errCode(err) }
	for name, tc := range map[string]struct{ got, want string }{
		"leaf as bundle": {code(c.CreateTrustStore(ctx, &elbv2.CreateTrustStoreInput{Name: aws.String("bad"),
			CaCertificatesBundleS3Bucket: aws.String("kelb-mtls"), CaCertificatesBundleS3Key: aws.String("leaf.pem")})), "InvalidCaCertificatesBundle"},
		"missing object": {code(c.CreateTrustStore(ctx, &elbv2.CreateTrustStoreInput{Name: aws.String("bad"),
			CaCertificatesBundleS3Bucket: aws.String("kelb-mtls"), CaCertificatesBundleS3Key: aws.String("nope.pem")})), "CaCertificatesBundleNotFound"},
		"duplicate name": {code(c.CreateTrustStore(ctx, &elbv2.CreateTrustStoreInput{Name: aws.String("kelb-mtls"),
			CaCertificatesBundleS3Bucket: aws.String("kelb-mtls"), CaCertificatesBundleS3Key: aws.String("ca.pem")})), "DuplicateTrustStoreName"},
		"CRL of another CA": {code(c.AddTrustStoreRevocations(ctx, &elbv2.AddTrustStoreRevocationsInput{TrustStoreArn: &tsARN,
			RevocationContents: []types.RevocationContent{{S3Bucket: aws.String("kelb-mtls"), S3Key: aws.String("crl/other.crl")}}})), "InvalidRevocationContent"},
		"missing CRL": {code(c.AddTrustStoreRevocations(ctx, &elbv2.AddTrustStoreRevocationsInput{TrustStoreArn: &tsARN,
			RevocationContents: []types.RevocationContent{{S3Bucket: aws.String("kelb-mtls"), S3Key: aws.String("crl/none.crl")}}})), "RevocationContentNotFound"},
		"unknown trust store": {code(c.DescribeTrustStoreRevocations(ctx, &elbv2.DescribeTrustStoreRevocationsInput{TrustStoreArn: aws.String(tsARN + "0")})), "TrustStoreNotFound"},
		"unknown revocation":  {code(c.GetTrustStoreRevocationContent(ctx, &elbv2.GetTrustStoreRevocationContentInput{TrustStoreArn: &tsARN, RevocationId: aws.Int64(99)})), "RevocationIdNotFound"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %s", name, tc.got, tc.want)
		}
	}
	add, err := c.AddTrustStoreRevocations(ctx, &elbv2.AddTrustStoreRevocationsInput{TrustStoreArn: &tsARN,
		RevocationContents: []types.RevocationContent{{S3Bucket: aws.String("kelb-mtls"), S3Key: aws.String("crl/revoked.crl"), RevocationType: types.RevocationTypeCrl}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := add.TrustStoreRevocations; len(r) != 1 || aws.ToInt64(r[0].RevocationId) != 1 || aws.ToInt64(r[0].NumberOfRevokedEntries) != 1 {
		t.Errorf("AddTrustStoreRevocations: %+v", r)
	}
	desc, err := c.DescribeTrustStores(ctx, &elbv2.DescribeTrustStoresInput{Names: []string{"kelb-mtls"}})
	if err != nil {
		t.Fatal(err)
	}
	if ts := desc.TrustStores; len(ts) != 1 || aws.ToString(ts[0].TrustStoreArn) != tsARN || ts[0].Status != types.TrustStoreStatusActive ||
		aws.ToInt32(ts[0].NumberOfCaCertificates) != 1 || aws.ToInt64(ts[0].TotalRevokedEntries) != 1 {
		t.Errorf("DescribeTrustStores: %+v", ts)
	}

	// The bundle and the CRL come back from presigned URLs on kelb's
	// endpoint; a tampered signature is refused.
	bundle, err := c.GetTrustStoreCaCertificatesBundle(ctx, &elbv2.GetTrustStoreCaCertificatesBundleInput{TrustStoreArn: &tsARN})
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(loc string) (int, string) {
		resp, err := s.httpClient().Get(loc)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	loc := aws.ToString(bundle.Location)
	if !strings.HasPrefix(loc, s.APIURL+"/") || !strings.Contains(loc, "X-Amz-Signature=") {
		t.Errorf("bundle location %q is not a presigned URL on %s", loc, s.APIURL)
	}
	if st, body := fetch(loc); st != http.StatusOK || body != string(ca.pem()) {
		t.Errorf("GET bundle location: %d %q", st, body)
	}
	u, _ := url.Parse(loc)
	q := u.Query()
	q.Set("X-Amz-Signature", strings.Repeat("0", 64))
	u.RawQuery = q.Encode()
	if st, body := fetch(u.String()); st != http.StatusForbidden || !strings.Contains(body, "SignatureDoesNotMatch") {
		t.Errorf("tampered bundle location: %d %q", st, body)
	}
	crlLoc, err := c.GetTrustStoreRevocationContent(ctx, &elbv2.GetTrustStoreRevocationContentInput{TrustStoreArn: &tsARN, RevocationId: aws.Int64(1)})
	if err != nil {
		t.Fatal(err)
	}
	if st, body := fetch(aws.ToString(crlLoc.Location)); st != http.StatusOK || body != string(revokedCRL) {
		t.Errorf("GET revocation location: %d %q", st, body)
	}
	if _, err := c.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{tsARN}, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("edge")}}}); err != nil {
		t.Errorf("AddTags on a trust store: %v", err)
	}
	if tags, err := c.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{tsARN}}); err != nil || len(tags.TagDescriptions[0].Tags) != 1 {
		t.Errorf("DescribeTags of a trust store: %+v %v", tags, err)
	}

	// An application load balancer with a verify listener on 443 and a
	// passthrough one on 8443.
	startHeaderBackend(t, tn.backend("a", 1)+":8080")
	lbOut, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("mtls"), Type: types.LoadBalancerTypeEnumApplication})
	if err != nil {
		t.Fatal(err)
	}
	lb := lbOut.LoadBalancers[0]
	tgOut, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("mtls"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(8080),
		TargetType: types.TargetTypeEnumIp, VpcId: aws.String("vpc-0ce1b000000000000"), HealthCheckIntervalSeconds: aws.Int32(5), HealthyThresholdCount: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	tg := aws.ToString(tgOut.TargetGroups[0].TargetGroupArn)
	if _, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: &tg, Targets: []types.TargetDescription{ipTarget(t, tn.backend("a", 1)+":8080")}}); err != nil {
		t.Fatal(err)
	}
	certs := acm.New(acm.Options{Region: region, BaseEndpoint: aws.String(s.APIURL), Credentials: staticCredentials(keyID, secretKey), HTTPClient: s.httpClient()})
	certPEM, keyPEM := abuseSelfSigned(t, "mtls.example.com")
	imp, err := certs.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: certPEM, PrivateKey: keyPEM})
	if err != nil {
		t.Fatal(err)
	}
	listener := func(port int32, ma *types.MutualAuthenticationAttributes) (string, error) {
		out, err := c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancerArn, Protocol: types.ProtocolEnumHttps, Port: aws.Int32(port),
			Certificates:         []types.Certificate{{CertificateArn: imp.CertificateArn}},
			DefaultActions:       []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: &tg}},
			MutualAuthentication: ma})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.Listeners[0].ListenerArn), nil
	}
	for name, tc := range map[string]struct {
		ma   types.MutualAuthenticationAttributes
		want string
	}{
		"verify without trust store":   {types.MutualAuthenticationAttributes{Mode: aws.String("verify")}, "ValidationError"},
		"unknown trust store":          {types.MutualAuthenticationAttributes{Mode: aws.String("verify"), TrustStoreArn: aws.String(tsARN + "0")}, "TrustStoreNotFound"},
		"trust store in passthrough":   {types.MutualAuthenticationAttributes{Mode: aws.String("passthrough"), TrustStoreArn: &tsARN}, "InvalidConfigurationRequest"},
		"unknown mode":                 {types.MutualAuthenticationAttributes{Mode: aws.String("strict")}, "ValidationError"},
		"ignore expiry in passthrough": {types.MutualAuthenticationAttributes{Mode: aws.String("passthrough"), IgnoreClientCertificateExpiry: aws.Bool(true)}, "InvalidConfigurationRequest"},
	} {
		if _, err := listener(9000, &tc.ma); errCode(err) != tc.want {
			t.Errorf("CreateListener, %s: %v, want %s", name, err, tc.want)
		}
	}
	verifyARN, err := listener(443, &types.MutualAuthenticationAttributes{Mode: aws.String("verify"), TrustStoreArn: &tsARN, AdvertiseTrustStoreCaNames: types.AdvertiseTrustStoreCaNamesEnumOn})
	if err != nil {
		t.Fatal(err)
	}
	passARN, err := listener(8443, &types.MutualAuthenticationAttributes{Mode: aws.String("passthrough")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ModifyListenerAttributes(ctx, &elbv2.ModifyListenerAttributesInput{ListenerArn: &passARN, Attributes: []types.ListenerAttribute{
		{Key: aws.String("routing.http.request.x_amzn_mtls_clientcert.header_name"), Value: aws.String("X-Client-Chain")}}}); err != nil {
		t.Fatal(err)
	}
	ls, err := c.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{verifyARN, passARN}})
	if err != nil {
		t.Fatal(err)
	}
	if m := ls.Listeners[0].MutualAuthentication; m == nil || aws.ToString(m.Mode) != "verify" || aws.ToString(m.TrustStoreArn) != tsARN ||
		m.TrustStoreAssociationStatus != types.TrustStoreAssociationStatusEnumActive || m.AdvertiseTrustStoreCaNames != types.AdvertiseTrustStoreCaNamesEnumOn ||
		aws.ToBool(m.IgnoreClientCertificateExpiry) {
		t.Errorf("DescribeListeners, verify: %+v", m)
	}
	if m := ls.Listeners[1].MutualAuthentication; m == nil || aws.ToString(m.Mode) != "passthrough" || m.TrustStoreArn != nil {
		t.Errorf("DescribeListeners, passthrough: %+v", m)
	}
	if code := code(c.DeleteTrustStore(ctx, &elbv2.DeleteTrustStoreInput{TrustStoreArn: &tsARN})); code != "TrustStoreInUse" {
		t.Errorf("DeleteTrustStore in use: %q, want TrustStoreInUse", code)
	}
	assoc, err := c.DescribeTrustStoreAssociations(ctx, &elbv2.DescribeTrustStoreAssociationsInput{TrustStoreArn: &tsARN})
	if err != nil || len(assoc.TrustStoreAssociations) != 1 || aws.ToString(assoc.TrustStoreAssociations[0].ResourceArn) != aws.ToString(lb.LoadBalancerArn) {
		t.Errorf("DescribeTrustStoreAssociations: %+v %v", assoc, err)
	}
	if code := code(c.DeleteSharedTrustStoreAssociation(ctx, &elbv2.DeleteSharedTrustStoreAssociationInput{TrustStoreArn: &tsARN, ResourceArn: lb.LoadBalancerArn})); code != "DeleteAssociationSameAccount" {
		t.Errorf("DeleteSharedTrustStoreAssociation: %q", code)
	}
	waitHealth(t, s, tg, tn.backend("a", 1)+":8080", "healthy", 30*time.Second)

	var addr string
	for _, az := range lb.AvailabilityZones {
		if aws.ToString(az.ZoneName) == region+"a" {
			addr = aws.ToString(az.LoadBalancerAddresses[0].IpAddress)
		}
	}
	verify, pass := net.JoinHostPort(addr, "443"), net.JoinHostPort(addr, "8443")
	forged := http.Header{"X-Amzn-Mtls-Clientcert-Subject": {"CN=admin"}, "X-Amzn-Mtls-Clientcert": {"forged"}}
	for _, h2 := range []bool{false, true} {
		got, err := mtlsGet(verify, &valid, h2, forged)
		if err != nil {
			t.Fatalf("valid client certificate (h2 %v): %v", h2, err)
		}
		want := map[string]string{
			"X-Amzn-Mtls-Clientcert-Serial-Number": "10A",
			"X-Amzn-Mtls-Clientcert-Subject":       "CN=client one",
			"X-Amzn-Mtls-Clientcert-Issuer":        "CN=kelb client CA,O=kelb test",
			"X-Amzn-Mtls-Clientcert-Validity": "NotBefore=" + valid.Leaf.NotBefore.UTC().Format(time.RFC3339) +
				";NotAfter=" + valid.Leaf.NotAfter.UTC().Format(time.RFC3339),
		}
		for k, v := range want {
			if got.Get(k) != v || len(got[k]) != 1 {
				t.Errorf("h2 %v: target got %s %q, want %q", h2, k, got[k], v)
			}
		}
		if leaf, _ := url.PathUnescape(got.Get("X-Amzn-Mtls-Clientcert-Leaf")); leaf != string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: valid.Certificate[0]})) {
			t.Errorf("h2 %v: X-Amzn-Mtls-Clientcert-Leaf %q", h2, got.Get("X-Amzn-Mtls-Clientcert-Leaf"))
		}
		if got.Get("X-Amzn-Mtls-Clientcert") != "" {
			t.Errorf("h2 %v: the client's X-Amzn-Mtls-Clientcert reached the target", h2)
		}
	}
	for name, cert := range map[string]*tls.Certificate{"no certificate": nil, "other CA": &stranger, "revoked": &revoked, "expired": &expired} {
		if _, err := mtlsGet(verify, cert, false, nil); err == nil {
			t.Errorf("verify listener served a client with %s", name)
		}
	}
	got, err := mtlsGet(pass, nil, false, forged)
	if err != nil || len(got["X-Client-Chain"]) != 0 || len(got["X-Amzn-Mtls-Clientcert"]) != 0 || len(got["X-Amzn-Mtls-Clientcert-Subject"]) != 0 {
		t.Errorf("passthrough without a certificate: %v %v", got, err)
	}
	got, err = mtlsGet(pass, &stranger, false, nil)
	if chain, _ := url.PathUnescape(got.Get("X-Client-Chain")); err != nil || chain != string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: stranger.Certificate[0]})) {
		t.Errorf("passthrough with a certificate: %v %v", got, err)
	}

	// Ignoring expiry lets the expired certificate in, not the revoked one.
	if _, err := c.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: &verifyARN, MutualAuthentication: &types.MutualAuthenticationAttributes{
		Mode: aws.String("verify"), TrustStoreArn: &tsARN, IgnoreClientCertificateExpiry: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := mtlsGet(verify, &expired, false, nil); err != nil {
		t.Errorf("expired certificate with expiry ignored: %v", err)
	}
	if _, err := mtlsGet(verify, &revoked, false, nil); err == nil {
		t.Error("revoked certificate served with expiry ignored")
	}
	// Without the revocation list, the revoked certificate passes.
	if _, err := c.RemoveTrustStoreRevocations(ctx, &elbv2.RemoveTrustStoreRevocationsInput{TrustStoreArn: &tsARN, RevocationIds: []int64{1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := mtlsGet(verify, &revoked, false, nil); err != nil {
		t.Errorf("certificate after its CRL was removed: %v", err)
	}
	for _, l := range []string{verifyARN, passARN} {
		if _, err := c.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: &l}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteTrustStore(ctx, &elbv2.DeleteTrustStoreInput{TrustStoreArn: &tsARN}); err != nil {
		t.Errorf("DeleteTrustStore unused: %v", err)
	}
}
