package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
)

func acmCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestACMRequestCertificate requests certificates from kelb's certificate
// authority with aws-sdk-go-v2, checks what ACM reports about them, serves
// one on an HTTPS listener that a client trusting only kelb's CA (the data
// dir's kelb-ca.pem, as `kelb server ca` prints it) accepts, renews it
// while it serves, and refuses what ACM refuses.
func TestACMRequestCertificate(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	ctx := context.Background()
	certs := acm.New(acm.Options{Region: region, BaseEndpoint: aws.String(s.APIURL),
		Credentials: staticCredentials(keyID, secretKey), HTTPClient: s.httpClient(), RetryMaxAttempts: 1})

	caPEM, err := os.ReadFile(filepath.Join(s.dataDir, "kelb-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	printed, err := exec.Command(kelbBin, "server", "ca", "--data-dir", s.dataDir).Output()
	if err != nil || !bytes.Equal(printed, caPEM) {
		t.Errorf("kelb server ca printed %q, %v; want the data dir's kelb-ca.pem", printed, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("kelb-ca.pem holds no certificate")
	}

	req := &acm.RequestCertificateInput{DomainName: aws.String("*.example.test"), SubjectAlternativeNames: []string{"example.test"},
		ValidationMethod: acmtypes.ValidationMethodDns, KeyAlgorithm: acmtypes.KeyAlgorithmEcPrime256v1, IdempotencyToken: aws.String("web1"),
		Tags: []acmtypes.Tag{{Key: aws.String("team"), Value: aws.String("web")}}}
	out, err := certs.RequestCertificate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.CertificateArn)
	if again, err := certs.RequestCertificate(ctx, req); err != nil || aws.ToString(again.CertificateArn) != arn {
		t.Errorf("same IdempotencyToken: %v, %v; want %s", again, err, arn)
	}

	// Without Includes.keyTypes ACM lists RSA certificates only, so an
	// EC_prime256v1 one is listed when asked for.
	if listed, err := certs.ListCertificates(ctx, &acm.ListCertificatesInput{}); err != nil || len(listed.CertificateSummaryList) != 0 {
		t.Errorf("ListCertificates without key types = %+v, %v; want none (RSA only)", listed, err)
	}
	listed, err := certs.ListCertificates(ctx, &acm.ListCertificatesInput{Includes: &acmtypes.Filters{KeyTypes: []acmtypes.KeyAlgorithm{acmtypes.KeyAlgorithmEcPrime256v1}}})
	if err != nil || len(listed.CertificateSummaryList) != 1 || aws.ToString(listed.CertificateSummaryList[0].CertificateArn) != arn ||
		aws.ToString(listed.CertificateSummaryList[0].DomainName) != "*.example.test" {
		t.Errorf("ListCertificates = %+v, %v; want the one certificate %s", listed, err, arn)
	}
	d, err := certs.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: out.CertificateArn})
	if err != nil {
		t.Fatal(err)
	}
	c := d.Certificate
	dv := c.DomainValidationOptions
	switch {
	case c.Type != acmtypes.CertificateTypeAmazonIssued || c.Status != acmtypes.CertificateStatusIssued:
		t.Errorf("type %s status %s, want AMAZON_ISSUED ISSUED", c.Type, c.Status)
	case aws.ToString(c.DomainName) != "*.example.test" || !slices.Equal(c.SubjectAlternativeNames, []string{"*.example.test", "example.test"}):
		t.Errorf("names %s %v", aws.ToString(c.DomainName), c.SubjectAlternativeNames)
	case len(dv) != 2 || dv[0].ResourceRecord == nil || dv[0].ResourceRecord.Type != acmtypes.RecordTypeCname || dv[0].ValidationStatus != acmtypes.DomainStatusSuccess ||
		aws.ToString(dv[0].ValidationDomain) != "example.test" || dv[0].ValidationMethod != acmtypes.ValidationMethodDns:
		t.Errorf("DomainValidationOptions %+v", dv)
	case c.IssuedAt == nil || c.ImportedAt != nil || c.CreatedAt == nil:
		t.Errorf("CreatedAt %v IssuedAt %v ImportedAt %v, want the first two", c.CreatedAt, c.IssuedAt, c.ImportedAt)
	case c.KeyAlgorithm != acmtypes.KeyAlgorithmEcPrime256v1 || aws.ToString(c.SignatureAlgorithm) != "SHA256WITHRSA":
		t.Errorf("key %s signature %s", c.KeyAlgorithm, aws.ToString(c.SignatureAlgorithm))
	case aws.ToString(c.Subject) != "CN=*.example.test" || !strings.HasPrefix(aws.ToString(c.Issuer), "kelb CA") || aws.ToString(c.Serial) == "":
		t.Errorf("subject %q issuer %q serial %q", aws.ToString(c.Subject), aws.ToString(c.Issuer), aws.ToString(c.Serial))
	case c.NotAfter.Sub(*c.NotBefore) < 395*24*time.Hour:
		t.Errorf("valid %v to %v, want 395 days", c.NotBefore, c.NotAfter)
	case c.RenewalEligibility != acmtypes.RenewalEligibilityEligible || c.Options == nil || c.Options.Export != acmtypes.CertificateExportDisabled:
		t.Errorf("renewal %s options %+v", c.RenewalEligibility, c.Options)
	case len(c.KeyUsages) == 0 || c.KeyUsages[0].Name != acmtypes.KeyUsageNameDigitalSignature:
		t.Errorf("key usages %+v", c.KeyUsages)
	case len(c.ExtendedKeyUsages) == 0 || c.ExtendedKeyUsages[0].Name != acmtypes.ExtendedKeyUsageNameTlsWebServerAuthentication ||
		aws.ToString(c.ExtendedKeyUsages[0].OID) != "1.3.6.1.5.5.7.3.1":
		t.Errorf("extended key usages %+v", c.ExtendedKeyUsages)
	}
	got, err := certs.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: out.CertificateArn})
	if err != nil || aws.ToString(got.CertificateChain) != string(caPEM) {
		t.Errorf("GetCertificate chain %q, %v; want kelb-ca.pem", aws.ToString(got.CertificateChain), err)
	}

	// ListCertificates: ACM's default lists RSA_1024 and RSA_2048 only.
	rsa, err := certs.RequestCertificate(ctx, &acm.RequestCertificateInput{DomainName: aws.String("rsa.example.test"),
		Options: &acmtypes.CertificateOptions{Export: acmtypes.CertificateExportEnabled}})
	if err != nil {
		t.Fatal(err)
	}
	list := func(in *acm.ListCertificatesInput) []string {
		t.Helper()
		var arns []string
		pages := acm.NewListCertificatesPaginator(certs, in)
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range page.CertificateSummaryList {
				arns = append(arns, aws.ToString(s.CertificateArn))
			}
		}
		return arns
	}
	if got := list(&acm.ListCertificatesInput{}); !slices.Equal(got, []string{aws.ToString(rsa.CertificateArn)}) {
		t.Errorf("ListCertificates without Includes = %v, want the RSA_2048 certificate only", got)
	}
	all := &acm.ListCertificatesInput{MaxItems: aws.Int32(1), CertificateStatuses: []acmtypes.CertificateStatus{acmtypes.CertificateStatusIssued},
		Includes: &acmtypes.Filters{KeyTypes: acmtypes.KeyAlgorithm("").Values(), ExtendedKeyUsage: []acmtypes.ExtendedKeyUsageName{acmtypes.ExtendedKeyUsageNameTlsWebServerAuthentication}}}
	if got := list(all); len(got) != 2 {
		t.Errorf("ListCertificates of every key type, one a page = %v, want both", got)
	}
	newestFirst := &acm.ListCertificatesInput{MaxItems: aws.Int32(1), Includes: all.Includes,
		SortBy: acmtypes.SortByCreatedAt, SortOrder: acmtypes.SortOrderDescending}
	if got, want := list(newestFirst), []string{aws.ToString(rsa.CertificateArn), arn}; !slices.Equal(got, want) {
		t.Errorf("ListCertificates newest first, one a page = %v, want %v", got, want)
	}
	if got := list(&acm.ListCertificatesInput{CertificateStatuses: []acmtypes.CertificateStatus{acmtypes.CertificateStatusExpired}, Includes: all.Includes}); len(got) != 0 {
		t.Errorf("ListCertificates EXPIRED = %v", got)
	}

	// Export: refused unless requested with Options.Export ENABLED.
	if _, err := certs.ExportCertificate(ctx, &acm.ExportCertificateInput{CertificateArn: out.CertificateArn, Passphrase: []byte("passphrase")}); acmCode(err) != "ValidationException" {
		t.Errorf("ExportCertificate of a certificate requested without export: %v, want ValidationException", err)
	}
	exp, err := certs.ExportCertificate(ctx, &acm.ExportCertificateInput{CertificateArn: rsa.CertificateArn, Passphrase: []byte("passphrase")})
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(keyFile, []byte(aws.ToString(exp.PrivateKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("openssl"); err == nil {
		if b, err := exec.Command("openssl", "pkey", "-in", keyFile, "-passin", "pass:passphrase", "-noout").CombinedOutput(); err != nil {
			t.Errorf("openssl cannot open the exported key with the passphrase: %v\n%s", err, b)
		}
	}

	// Tags.
	if _, err := certs.AddTagsToCertificate(ctx, &acm.AddTagsToCertificateInput{CertificateArn: out.CertificateArn,
		Tags: []acmtypes.Tag{{Key: aws.String("env"), Value: aws.String("test")}, {Key: aws.String("team"), Value: aws.String("edge")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := certs.RemoveTagsFromCertificate(ctx, &acm.RemoveTagsFromCertificateInput{CertificateArn: out.CertificateArn,
		Tags: []acmtypes.Tag{{Key: aws.String("env")}}}); err != nil {
		t.Fatal(err)
	}
	tags, err := certs.ListTagsForCertificate(ctx, &acm.ListTagsForCertificateInput{CertificateArn: out.CertificateArn})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Value) != "edge" {
		t.Errorf("tags %+v, %v; want team=edge", tags, err)
	}
	if _, err := certs.AddTagsToCertificate(ctx, &acm.AddTagsToCertificateInput{CertificateArn: out.CertificateArn,
		Tags: []acmtypes.Tag{{Key: aws.String("aws:owner")}}}); acmCode(err) != "InvalidTagException" {
		t.Errorf("aws: tag: %v, want InvalidTagException", err)
	}
	for name, in := range map[string]*acm.RequestCertificateInput{
		"bad domain":    {DomainName: aws.String("a..example.test")},
		"RSA_4096":      {DomainName: aws.String("a.example.test"), KeyAlgorithm: acmtypes.KeyAlgorithmRsa4096},
		"validation by": {DomainName: aws.String("a.example.test"), ValidationMethod: "SMS"},
	} {
		if _, err := certs.RequestCertificate(ctx, in); acmCode(err) != "ValidationException" {
			t.Errorf("RequestCertificate %s: %v, want ValidationException", name, err)
		}
	}

	// Served on an HTTPS listener, trusted through kelb's CA alone.
	lbOut, err := s.ELB.CreateLoadBalancer(ctx, &elasticloadbalancingv2.CreateLoadBalancerInput{Name: aws.String("issued"), Type: types.LoadBalancerTypeEnumApplication})
	if err != nil {
		t.Fatal(err)
	}
	lb := lbOut.LoadBalancers[0]
	if _, err := s.ELB.CreateListener(ctx, &elasticloadbalancingv2.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancerArn, Protocol: types.ProtocolEnumHttps, Port: aws.Int32(443),
		Certificates: []types.Certificate{{CertificateArn: out.CertificateArn}},
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumFixedResponse, FixedResponseConfig: &types.FixedResponseActionConfig{
			StatusCode: aws.String("200"), ContentType: aws.String("text/plain"), MessageBody: aws.String("ok")}}},
	}); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(aws.ToString(lb.AvailabilityZones[0].LoadBalancerAddresses[0].IpAddress), "443")
	served := func(serial string) {
		t.Helper()
		eventually(t, 10*time.Second, "the issued certificate "+serial+" on "+addr, func() error {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, &tls.Config{ServerName: "app.example.test", RootCAs: roots})
			if err != nil {
				return err
			}
			defer c.Close()
			if got := colonHex(c.ConnectionState().PeerCertificates[0].SerialNumber.Bytes()); got != serial {
				return errNotYetf("serial %s", got)
			}
			return nil
		})
	}
	served(aws.ToString(c.Serial))
	d, err = certs.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: out.CertificateArn})
	if err != nil || !slices.Equal(d.Certificate.InUseBy, []string{aws.ToString(lb.LoadBalancerArn)}) {
		t.Errorf("InUseBy %v, %v; want the load balancer", d.Certificate.InUseBy, err)
	}
	if _, err := certs.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: out.CertificateArn}); acmCode(err) != "ResourceInUseException" {
		t.Errorf("DeleteCertificate in use: %v, want ResourceInUseException", err)
	}
	if _, err := certs.RenewCertificate(ctx, &acm.RenewCertificateInput{CertificateArn: out.CertificateArn}); err != nil {
		t.Fatal(err)
	}
	d, err = certs.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: out.CertificateArn})
	if err != nil {
		t.Fatal(err)
	}
	if d.Certificate.RenewalSummary == nil || d.Certificate.RenewalSummary.RenewalStatus != acmtypes.RenewalStatusSuccess || aws.ToString(d.Certificate.Serial) == aws.ToString(c.Serial) {
		t.Errorf("after RenewCertificate: serial %s (was %s), renewal %+v", aws.ToString(d.Certificate.Serial), aws.ToString(c.Serial), d.Certificate.RenewalSummary)
	}
	served(aws.ToString(d.Certificate.Serial))
}

func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02x", x)
	}
	return strings.Join(parts, ":")
}

// TestACMRequestCertificateCLI requests a certificate with the aws CLI as
// a user would, and reads it back.
func TestACMRequestCertificateCLI(t *testing.T) {
	t.Parallel()
	requireTools(t, "aws")
	s := startServer(t, newNet(), serverOptions{})
	script := `
ARN=$(aws acm request-certificate --domain-name '*.example.test' --subject-alternative-names example.test \
  --validation-method DNS --key-algorithm EC_prime256v1 --tags Key=team,Value=web --query CertificateArn --output text)
aws acm describe-certificate --certificate-arn "$ARN" \
  --query 'Certificate.[Status,Type,DomainValidationOptions[0].ResourceRecord.Type,KeyAlgorithm]' --output text
aws acm list-certificates --includes keyTypes=EC_prime256v1 --certificate-statuses ISSUED \
  --query 'CertificateSummaryList[].DomainName' --output text
aws acm get-certificate --certificate-arn "$ARN" --query CertificateChain --output text | openssl x509 -noout -subject
if aws acm export-certificate --certificate-arn "$ARN" --passphrase fileb://<(printf secret) 2>"$HOME/err"; then echo exported; fi
grep -o ValidationException "$HOME/err"
`
	got := strings.Fields(s.shell(t, script, "AWS_ENDPOINT_URL_ACM="+s.APIURL))
	want := []string{"ISSUED", "AMAZON_ISSUED", "CNAME", "EC_prime256v1", "*.example.test", "subject=O", "=", "kelb,", "CN", "=", "kelb", "CA",
		"123456789012", region, "ValidationException"}
	if !slices.Equal(got, want) {
		t.Errorf("aws acm printed %q, want %q", got, want)
	}
}
