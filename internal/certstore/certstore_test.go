package certstore

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// selfSigned returns a PEM certificate and key for names.
func selfSigned(t *testing.T, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(4242),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func newTestStore(t *testing.T, inUse map[string][]string) *Store {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "kelb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(Config{Store: st, InUse: func(_ store.ReadTx, arn string) ([]string, error) { return inUse[arn], nil }})
}

func code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestImportDescribeDelete(t *testing.T) {
	ctx := context.Background()
	inUse := map[string][]string{}
	s := newTestStore(t, inUse)
	certPEM, keyPEM := selfSigned(t, "www.example.test", "example.test")
	c, err := s.Import(ctx, ImportInput{Certificate: certPEM, PrivateKey: keyPEM})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.ARN, "arn:aws:acm:us-west-2:123456789012:certificate/") || len(c.ARN) != len("arn:aws:acm:us-west-2:123456789012:certificate/")+36 {
		t.Errorf("ARN = %q", c.ARN)
	}
	got, err := s.Get(ctx, c.ARN)
	if err != nil {
		t.Fatal(err)
	}
	want := Certificate{DomainName: "www.example.test", SubjectAlternativeNames: []string{"www.example.test", "example.test"},
		Serial: "10:92", KeyAlgorithm: "EC_prime256v1", SignatureAlgorithm: "SHA256WITHECDSA",
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC)}
	trim := func(c Certificate) Certificate {
		return Certificate{DomainName: c.DomainName, SubjectAlternativeNames: c.SubjectAlternativeNames, Serial: c.Serial,
			KeyAlgorithm: c.KeyAlgorithm, SignatureAlgorithm: c.SignatureAlgorithm, NotBefore: c.NotBefore, NotAfter: c.NotAfter}
	}
	if diff := cmp.Diff(want, trim(got)); diff != "" {
		t.Errorf("Get (-want +got):\n%s", diff)
	}
	pair, err := s.TLSCertificate(c.ARN)
	if err != nil || len(pair.Certificate) != 1 {
		t.Fatalf("TLSCertificate = %v, %v", pair, err)
	}

	// Re-import keeps the ARN and replaces the material.
	cert2, key2 := selfSigned(t, "renewed.example.test")
	re, err := s.Import(ctx, ImportInput{ARN: c.ARN, Certificate: cert2, PrivateKey: key2})
	if err != nil || re.ARN != c.ARN || re.DomainName != "renewed.example.test" {
		t.Fatalf("re-import = %+v, %v", re, err)
	}
	pair2, err := s.TLSCertificate(c.ARN)
	if err != nil || pair2 == pair {
		t.Errorf("TLSCertificate after re-import returned the old pair (%v)", err)
	}

	inUse[c.ARN] = []string{"arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/web/1"}
	if err := s.Delete(ctx, c.ARN); code(err) != CodeInUse {
		t.Errorf("Delete in use: %v, want %s", err, CodeInUse)
	}
	delete(inUse, c.ARN)
	if err := s.Delete(ctx, c.ARN); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, c.ARN); code(err) != CodeNotFound {
		t.Errorf("Get after delete: %v, want %s", err, CodeNotFound)
	}
	if list, err := s.List(ctx); err != nil || len(list) != 0 {
		t.Errorf("List after delete = %v, %v", list, err)
	}
}

func TestImportRejects(t *testing.T) {
	certPEM, keyPEM := selfSigned(t, "a.test")
	_, otherKey := selfSigned(t, "b.test")
	tests := []struct {
		name string
		in   ImportInput
		want string
	}{
		{"not PEM", ImportInput{Certificate: []byte("hello"), PrivateKey: keyPEM}, CodeValidation},
		{"key mismatch", ImportInput{Certificate: certPEM, PrivateKey: otherKey}, CodeValidation},
		{"two certificates in the certificate field", ImportInput{Certificate: append(append([]byte{}, certPEM...), certPEM...), PrivateKey: keyPEM}, CodeValidation},
		{"bad chain", ImportInput{Certificate: certPEM, PrivateKey: keyPEM, Chain: []byte("junk")}, CodeValidation},
		{"unknown ARN", ImportInput{ARN: "arn:aws:acm:us-west-2:123456789012:certificate/nope", Certificate: certPEM, PrivateKey: keyPEM}, CodeNotFound},
		{"not an ARN", ImportInput{ARN: "nope", Certificate: certPEM, PrivateKey: keyPEM}, CodeInvalidArn},
	}
	s := newTestStore(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Import(context.Background(), tt.in); code(err) != tt.want {
				t.Errorf("Import: %v, want %s", err, tt.want)
			}
		})
	}
}
