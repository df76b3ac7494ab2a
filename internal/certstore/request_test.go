package certstore

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// verify checks that c is signed by the store's authority for name.
func verify(t *testing.T, s *Store, c Certificate, name string) *x509.Certificate {
	t.Helper()
	ca, err := s.Authority(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(ca.CertificatePEM)) {
		t.Fatal("CA certificate does not parse")
	}
	block, _ := pem.Decode([]byte(c.CertificatePEM))
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: c.NotBefore.Add(time.Hour)}); err != nil {
		t.Errorf("%s does not verify for %s: %v", c.ARN, name, err)
	}
	return leaf
}

func TestRequestIssuesUnderTheStoreAuthority(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, nil)
	for _, alg := range []string{"", KeyRSA2048, KeyP256, KeyP384} {
		t.Run(alg, func(t *testing.T) {
			c, err := s.Request(ctx, RequestInput{DomainName: "*.example.test", SubjectAlternativeNames: []string{"example.test", "*.example.test"}, KeyAlgorithm: alg,
				Tags: []Tag{{Key: "team", Value: "web"}}})
			if err != nil {
				t.Fatal(err)
			}
			verify(t, s, c, "app.example.test")
			verify(t, s, c, "example.test")
			want := alg
			if want == "" {
				want = KeyRSA2048
			}
			if c.KeyAlgorithm != want || c.Kind() != TypeAmazonIssued || c.Status(time.Now()) != "ISSUED" {
				t.Errorf("key %s type %s status %s, want %s AMAZON_ISSUED ISSUED", c.KeyAlgorithm, c.Kind(), c.Status(time.Now()), want)
			}
			if diff := cmp.Diff([]string{"*.example.test", "example.test"}, c.SubjectAlternativeNames); diff != "" {
				t.Errorf("SANs (-want +got):\n%s", diff)
			}
			if got := c.NotAfter.Sub(c.NotBefore); got < Validity || got > Validity+time.Hour {
				t.Errorf("valid for %v, want %v", got, Validity)
			}
			if !slices.Contains(c.ExtendedKeyUsages, "TLS_WEB_SERVER_AUTHENTICATION") || !slices.Contains(c.KeyUsages, "DIGITAL_SIGNATURE") {
				t.Errorf("usages %v %v", c.KeyUsages, c.ExtendedKeyUsages)
			}
			dv := c.DomainValidations[0]
			if dv.DomainName != "*.example.test" || dv.ValidationDomain != "example.test" || dv.ValidationMethod != "DNS" || dv.RecordName == "" || dv.RecordValue == "" {
				t.Errorf("validation %+v", dv)
			}
			if _, err := s.TLSCertificate(c.ARN); err != nil {
				t.Errorf("TLSCertificate: %v", err)
			}
			if tags, _ := s.Tags(ctx, c.ARN); len(tags) != 1 {
				t.Errorf("tags %v", tags)
			}
		})
	}
}

// TestAuthorityIsOncePerStore opens a second Store over the same store
// and key: it finds the first's authority instead of making another.
func TestAuthorityIsOncePerStore(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "kelb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, err := randomKey()
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Store: st, Key: key}).Authority(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second := New(Config{Store: st, Key: key})
	b, err := second.Authority(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.CertificatePEM != b.CertificatePEM {
		t.Error("a second Store over the same store made another authority")
	}
	c, err := second.Request(ctx, RequestInput{DomainName: "a.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if c.ChainPEM != a.CertificatePEM {
		t.Error("the chain is not the authority's certificate")
	}
	raw, err := st.Get(ctx, AuthorityKind, authorityKey)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains([]string{"PRIVATE KEY", "RSA PRIVATE KEY"}, string(raw)) || containsKeyPEM(raw) {
		t.Error("the authority's private key is stored in plain text")
	}
	// Another key does not open it.
	other, _ := randomKey()
	if _, err := New(Config{Store: st, Key: other}).Authority(ctx); err == nil {
		t.Error("the authority opened with another key")
	}
}

func containsKeyPEM(b []byte) bool {
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return false
		}
		if block.Type != "CERTIFICATE" {
			return true
		}
	}
}

func TestRequestIdempotencyToken(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newTestStore(t, nil)
	s.cfg.Now = func() time.Time { return now }
	first, err := s.Request(ctx, RequestInput{DomainName: "a.example.test", IdempotencyToken: "tok1"})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(59 * time.Minute)
	again, err := s.Request(ctx, RequestInput{DomainName: "a.example.test", IdempotencyToken: "tok1"})
	if err != nil || again.ARN != first.ARN {
		t.Errorf("same token within the hour: %s, %v, want %s", again.ARN, err, first.ARN)
	}
	now = now.Add(2 * time.Minute)
	later, err := s.Request(ctx, RequestInput{DomainName: "a.example.test", IdempotencyToken: "tok1"})
	if err != nil || later.ARN == first.ARN {
		t.Errorf("same token after the hour: %s, %v, want a new certificate", later.ARN, err)
	}
}

func TestRequestRejects(t *testing.T) {
	long := "a123456789012345678901234567890123456789012345678901234567890.example.test"
	tests := []struct {
		name string
		in   RequestInput
		want string
	}{
		{"no domain", RequestInput{}, CodeValidation},
		{"one label", RequestInput{DomainName: "localhost"}, CodeValidation},
		{"two wildcards", RequestInput{DomainName: "*.*.example.test"}, CodeValidation},
		{"inner wildcard", RequestInput{DomainName: "a.*.example.test"}, CodeValidation},
		{"leading hyphen", RequestInput{DomainName: "-a.example.test"}, CodeValidation},
		{"bad SAN", RequestInput{DomainName: "a.example.test", SubjectAlternativeNames: []string{"b_c.example.test"}}, CodeValidation},
		{"common name over 64", RequestInput{DomainName: long}, CodeInvalidDomainValidation},
		{"RSA 4096", RequestInput{DomainName: "a.example.test", KeyAlgorithm: "RSA_4096"}, CodeValidation},
		{"HTTP validation", RequestInput{DomainName: "a.example.test", ValidationMethod: "SMS"}, CodeValidation},
		{"token", RequestInput{DomainName: "a.example.test", IdempotencyToken: "not-a-word"}, CodeValidation},
		{"aws: tag", RequestInput{DomainName: "a.example.test", Tags: []Tag{{Key: "aws:x"}}}, CodeInvalidTag},
		{"validation domain of another name", RequestInput{DomainName: "a.example.test", ValidationDomains: map[string]string{"b.example.test": "example.test"}}, CodeInvalidDomainValidation},
		{"validation domain not a superdomain", RequestInput{DomainName: "a.example.test", ValidationDomains: map[string]string{"a.example.test": "other.test"}}, CodeInvalidDomainValidation},
	}
	s := newTestStore(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Request(context.Background(), tt.in); code(err) != tt.want {
				t.Errorf("Request: %v, want %s", err, tt.want)
			}
		})
	}
	if list, _ := s.List(context.Background()); len(list) != 0 {
		t.Errorf("refused requests stored %d certificates", len(list))
	}
}

func TestRenewDue(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newTestStore(t, nil)
	s.cfg.Now = func() time.Time { return now }
	c, err := s.Request(ctx, RequestInput{DomainName: "a.example.test", KeyAlgorithm: KeyP256, Tags: []Tag{{Key: "k", Value: "v"}}})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := selfSigned(t, "imported.example.test")
	if _, err := s.Import(ctx, ImportInput{Certificate: certPEM, PrivateKey: keyPEM}); err != nil {
		t.Fatal(err)
	}
	if renewed, err := s.RenewDue(ctx); err != nil || len(renewed) != 0 {
		t.Errorf("RenewDue with nothing due = %v, %v", renewed, err)
	}
	now = c.NotAfter.Add(-RenewBefore + time.Hour)
	renewed, err := s.RenewDue(ctx)
	if err != nil || !slices.Equal(renewed, []string{c.ARN}) {
		t.Fatalf("RenewDue = %v, %v, want [%s]", renewed, err, c.ARN)
	}
	got, err := s.Get(ctx, c.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if got.Serial == c.Serial || !got.NotAfter.After(c.NotAfter) || got.RenewalStatus != "SUCCESS" || got.KeyAlgorithm != KeyP256 || !got.CreatedAt.Equal(c.CreatedAt) || len(got.Tags) != 1 {
		t.Errorf("renewed %+v", got)
	}
	verify(t, s, got, "a.example.test")
	for _, imp := range must(s.List(ctx)) {
		if imp.Kind() == TypeImported {
			if _, err := s.Renew(ctx, imp.ARN); code(err) != CodeValidation {
				t.Errorf("Renew of an imported certificate: %v, want %s", err, CodeValidation)
			}
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestExport(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, nil)
	locked, err := s.Request(ctx, RequestInput{DomainName: "a.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Export(ctx, locked.ARN, []byte("secret")); code(err) != CodeValidation {
		t.Errorf("Export without Options.Export: %v, want %s", err, CodeValidation)
	}
	open, err := s.Request(ctx, RequestInput{DomainName: "b.example.test", Export: "ENABLED", KeyAlgorithm: KeyP384})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Export(ctx, open.ARN, []byte("abc")); code(err) != CodeValidation {
		t.Errorf("Export with a 3-byte passphrase: %v, want %s", err, CodeValidation)
	}
	out, err := s.Export(ctx, open.ARN, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(out.PrivateKeyPEM))
	if block == nil || block.Type != "ENCRYPTED PRIVATE KEY" {
		t.Fatalf("private key %q", out.PrivateKeyPEM)
	}
	der, err := decryptPKCS8(block.Bytes, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParsePKCS8PrivateKey(der); err != nil {
		t.Errorf("decrypted key does not parse: %v", err)
	}
	if got, _ := s.Get(ctx, open.ARN); !got.Exported {
		t.Error("Exported not recorded")
	}
}

func TestTags(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, nil)
	c, err := s.Request(ctx, RequestInput{DomainName: "a.example.test", Tags: []Tag{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddTags(ctx, c.ARN, []Tag{{Key: "b", Value: "3"}, {Key: "c"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveTags(ctx, c.ARN, []Tag{{Key: "a", Value: "other"}, {Key: "c"}}, []bool{true, false}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Tags(ctx, c.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Tag{{Key: "a", Value: "1"}, {Key: "b", Value: "3"}}, got); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	many := make([]Tag, 49)
	for i := range many {
		many[i] = Tag{Key: fmt.Sprintf("k%d", i)}
	}
	if err := s.AddTags(ctx, c.ARN, many); code(err) != CodeTooManyTag {
		t.Errorf("AddTags past 50: %v, want %s", err, CodeTooManyTag)
	}
	if err := s.AddTags(ctx, c.ARN, []Tag{{Key: "aws:reserved"}}); code(err) != CodeInvalidTag {
		t.Errorf("AddTags aws:: %v, want %s", err, CodeInvalidTag)
	}
	if err := s.AddTags(ctx, "arn:aws:acm:us-west-2:123456789012:certificate/none", []Tag{{Key: "x"}}); code(err) != CodeNotFound {
		t.Errorf("AddTags to none: %v, want %s", err, CodeNotFound)
	}
	if _, err := s.Renew(ctx, c.ARN); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TLSCertificate(c.ARN); err != nil {
		t.Errorf("TLSCertificate after tag edits and renewal: %v", err)
	}
}

// FuzzValidDomainName checks that every name validDomainName accepts has
// the shape ACM's pattern describes: an optional leading "*.", then two or
// more labels of 1 to 63 letters, digits and hyphens, none starting or
// ending with a hyphen, the last at least two long.
func FuzzValidDomainName(f *testing.F) {
	for _, s := range []string{"example.test", "*.example.test", "a-b.c", "-a.test", "a..test", "*.*.test", "a.b-", "x.y.z.example.co"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if !validDomainName(name) {
			return
		}
		labels := strings.Split(strings.TrimPrefix(name, "*."), ".")
		if len(name) > 253 || len(labels) < 2 || len(labels[len(labels)-1]) < 2 {
			t.Fatalf("accepted %q", name)
		}
		for _, l := range labels {
			if len(l) < 1 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' || strings.Trim(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
				t.Fatalf("accepted %q: label %q", name, l)
			}
		}
	})
}
