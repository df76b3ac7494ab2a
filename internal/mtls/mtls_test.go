package mtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T, name string, notBefore, notAfter time.Time) testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name, Organization: []string{"kelb"}},
		NotBefore: notBefore, NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return testCA{cert: c, key: key}
}

func (ca testCA) issue(t *testing.T, cn string, serial int64, notBefore, notAfter time.Time, isCA bool) testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign|x509.KeyUsageCRLSign
		tmpl.ExtKeyUsage = nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return testCA{cert: c, key: key}
}

func (ca testCA) crl(t *testing.T, serials ...int64) []byte {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, s := range serials {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: big.NewInt(s), RevocationTime: t0.Add(-time.Hour)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: t0.Add(-time.Hour), NextUpdate: t0.Add(24 * time.Hour), RevokedCertificateEntries: entries,
	}, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

func pemOf(certs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

func TestParseBundle(t *testing.T) {
	ca := newCA(t, "root", t0.Add(-time.Hour), t0.Add(time.Hour))
	ca2 := newCA(t, "root2", t0.Add(-time.Hour), t0.Add(time.Hour))
	leaf := ca.issue(t, "leaf", 2, t0.Add(-time.Hour), t0.Add(time.Hour), false)
	for _, tc := range []struct {
		name    string
		data    []byte
		n       int
		wantErr string
	}{
		{"one CA", pemOf(ca.cert), 1, ""},
		{"two CAs with text around", append(append([]byte("\n"), pemOf(ca.cert, ca2.cert)...), '\n'), 2, ""},
		{"empty", nil, 0, "no PEM certificate"},
		{"not PEM", []byte("hello"), 0, "not a PEM certificate"},
		{"trailing garbage", append(pemOf(ca.cert), "junk"...), 0, "not a PEM certificate"},
		{"a leaf", pemOf(leaf.cert), 0, "not a CA certificate"},
		{"a key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}}), 0, "only CERTIFICATE"},
		{"broken DER", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}), 0, "does not parse"},
	} {
		got, err := ParseBundle(tc.data)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantErr)
		case tc.wantErr == "" && len(got) != tc.n:
			t.Errorf("%s: %d certificates, want %d", tc.name, len(got), tc.n)
		}
	}
}

func TestParseCRL(t *testing.T) {
	ca := newCA(t, "root", t0.Add(-time.Hour), t0.Add(time.Hour))
	other := newCA(t, "other", t0.Add(-time.Hour), t0.Add(time.Hour))
	crl := ca.crl(t, 5, 6)
	got, err := ParseCRL(crl, []*x509.Certificate{ca.cert})
	if err != nil || len(got.RevokedCertificateEntries) != 2 {
		t.Fatalf("PEM CRL: %v, %v", got, err)
	}
	block, _ := pem.Decode(crl)
	if _, err := ParseCRL(block.Bytes, []*x509.Certificate{ca.cert}); err != nil {
		t.Errorf("DER CRL: %v", err)
	}
	if _, err := ParseCRL(crl, []*x509.Certificate{other.cert}); err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Errorf("CRL of another CA: %v", err)
	}
	if _, err := ParseCRL([]byte("not a crl"), []*x509.Certificate{ca.cert}); err == nil {
		t.Error("garbage accepted as a CRL")
	}
	if _, err := ParseCRL(pemOf(ca.cert), []*x509.Certificate{ca.cert}); err == nil || !strings.Contains(err.Error(), "X509 CRL") {
		t.Errorf("a certificate as CRL: %v", err)
	}
}

func TestVerify(t *testing.T) {
	year := 365 * 24 * time.Hour
	ca := newCA(t, "root", t0.Add(-year), t0.Add(year))
	inter := ca.issue(t, "intermediate", 10, t0.Add(-year), t0.Add(year), true)
	wrong := newCA(t, "wrong", t0.Add(-year), t0.Add(year))
	valid := ca.issue(t, "valid", 2, t0.Add(-time.Hour), t0.Add(time.Hour), false)
	viaInter := inter.issue(t, "via-intermediate", 3, t0.Add(-time.Hour), t0.Add(time.Hour), false)
	revoked := ca.issue(t, "revoked", 4, t0.Add(-time.Hour), t0.Add(time.Hour), false)
	expired := ca.issue(t, "expired", 5, t0.Add(-2*time.Hour), t0.Add(-time.Hour), false)
	future := ca.issue(t, "future", 6, t0.Add(time.Hour), t0.Add(2*time.Hour), false)
	stranger := wrong.issue(t, "stranger", 2, t0.Add(-time.Hour), t0.Add(time.Hour), false)
	interRevoked := newCA(t, "root-b", t0.Add(-year), t0.Add(year))
	revokedInter := interRevoked.issue(t, "revoked-intermediate", 11, t0.Add(-year), t0.Add(year), true)
	underRevokedInter := revokedInter.issue(t, "under-revoked", 7, t0.Add(-time.Hour), t0.Add(time.Hour), false)

	crls := []*x509.RevocationList{}
	for _, c := range []struct {
		ca      testCA
		serials []int64
	}{{ca, []int64{4}}, {interRevoked, []int64{11}}} {
		crl, err := ParseCRL(c.ca.crl(t, c.serials...), []*x509.Certificate{ca.cert, interRevoked.cert})
		if err != nil {
			t.Fatal(err)
		}
		crls = append(crls, crl)
	}
	ts := NewTrustStore([]*x509.Certificate{ca.cert, interRevoked.cert}, crls)

	for _, tc := range []struct {
		name    string
		chain   []*x509.Certificate
		ignore  bool
		wantErr string
	}{
		{"valid", []*x509.Certificate{valid.cert}, false, ""},
		{"through an intermediate the client sends", []*x509.Certificate{viaInter.cert, inter.cert}, false, ""},
		{"intermediate not sent", []*x509.Certificate{viaInter.cert}, false, "unknown authority"},
		{"no certificate", nil, false, "no certificate"},
		{"other CA", []*x509.Certificate{stranger.cert}, false, "unknown authority"},
		{"revoked", []*x509.Certificate{revoked.cert}, false, "revoked"},
		{"revoked ignoring expiry", []*x509.Certificate{revoked.cert}, true, "revoked"},
		{"revoked intermediate", []*x509.Certificate{underRevokedInter.cert, revokedInter.cert}, false, "revoked"},
		{"expired", []*x509.Certificate{expired.cert}, false, "expired"},
		{"expired, expiry ignored", []*x509.Certificate{expired.cert}, true, ""},
		{"not yet valid", []*x509.Certificate{future.cert}, false, "expired or is not yet valid"},
		{"not yet valid, expiry ignored", []*x509.Certificate{future.cert}, true, ""},
	} {
		err := Verify(tc.chain, ts, t0, tc.ignore)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantErr)
		}
	}

	// A CA that has expired fails even when the leaf's expiry is ignored.
	oldCA := newCA(t, "old", t0.Add(-2*year), t0.Add(-year))
	oldLeaf := oldCA.issue(t, "old-leaf", 2, t0.Add(-2*year), t0.Add(-year), false)
	if err := Verify([]*x509.Certificate{oldLeaf.cert}, NewTrustStore([]*x509.Certificate{oldCA.cert}, nil), t0, true); err == nil {
		t.Error("a leaf under an expired CA passed with expiry ignored")
	}
}

func TestHeaders(t *testing.T) {
	ca := newCA(t, "root", t0.Add(-time.Hour), t0.Add(time.Hour))
	leaf := ca.issue(t, "client one", 0x3A5, t0.Add(-time.Hour), t0.Add(time.Hour), false)
	chain := []*x509.Certificate{leaf.cert, ca.cert}

	verify := Headers(chain, true, nil)
	got := map[string]string{}
	for _, h := range verify {
		got[h.Name] = h.Value
	}
	want := map[string]string{
		HeaderSerialNumber: "3A5",
		HeaderIssuer:       "CN=root,O=kelb",
		HeaderSubject:      "CN=client one",
		HeaderValidity:     "NotBefore=2026-06-01T11:00:00Z;NotAfter=2026-06-01T13:00:00Z",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	leafPEM, err := url.PathUnescape(got[HeaderLeaf])
	if err != nil || leafPEM != string(pemOf(leaf.cert)) {
		t.Errorf("%s does not decode to the leaf's PEM: %v", HeaderLeaf, err)
	}
	if strings.ContainsAny(got[HeaderLeaf], " \n") {
		t.Errorf("%s is not URL-encoded: %q", HeaderLeaf, got[HeaderLeaf])
	}

	pass := Headers(chain, false, HeaderNames{HeaderClientCert: "X-Client-Chain"})
	if len(pass) != 1 || pass[0].Name != "X-Client-Chain" {
		t.Fatalf("passthrough headers: %+v", pass)
	}
	if whole, _ := url.PathUnescape(pass[0].Value); whole != string(pemOf(leaf.cert, ca.cert)) {
		t.Errorf("passthrough header does not decode to the chain")
	}
	if Headers(nil, true, nil) != nil {
		t.Error("headers without a certificate")
	}
}
