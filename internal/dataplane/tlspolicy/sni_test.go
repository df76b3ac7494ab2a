package tlspolicy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"testing"
	"time"
)

// testCert is a self-signed certificate named name (its CommonName,
// which tests read back from the handshake) for dnsNames.
func testCert(t testing.TB, name, keyType string, notAfter time.Time, dnsNames ...string) tls.Certificate {
	t.Helper()
	var key crypto.Signer
	var err error
	switch keyType {
	case "p256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p384":
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "rsa2048":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "rsa3072":
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		t.Fatalf("key type %q", keyType)
	}
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		DNSNames:     dnsNames,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// served does a handshake with conf and returns the CommonName of the
// certificate the server presented.
func served(t *testing.T, conf *tls.Config, client *tls.Config) string {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	errc := make(chan error, 1)
	go func() { errc <- tls.Server(a, conf).Handshake() }()
	c := tls.Client(b, client)
	if err := c.Handshake(); err != nil {
		t.Fatalf("handshake (SNI %q): %v", client.ServerName, err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestCertificateSelection(t *testing.T) {
	year := time.Now().AddDate(1, 0, 0)
	certs := []tls.Certificate{
		testCert(t, "default", "rsa2048", year, "default.example", "shared.example"),
		testCert(t, "a-rsa", "rsa2048", year, "a.example"),
		testCert(t, "a-ecdsa", "p256", year, "a.example"),
		testCert(t, "w-wildcard-ecdsa", "p256", year, "*.w.example"),
		testCert(t, "w-exact-rsa", "rsa2048", year, "x.w.example"),
		testCert(t, "big-2048", "rsa2048", year, "big.example"),
		testCert(t, "big-3072", "rsa3072", year, "big.example"),
		testCert(t, "exp-soon", "p256", time.Now().AddDate(0, 1, 0), "exp.example"),
		testCert(t, "exp-late", "p256", year, "exp.example"),
		testCert(t, "p384", "p384", year, "curve.example"),
		testCert(t, "p256", "p256", year, "curve.example"),
		testCert(t, "shared-rsa", "rsa2048", year, "shared.example"),
	}
	conf, err := Server{Policy: "ELBSecurityPolicy-2016-08", Certificates: certs}.Config()
	if err != nil {
		t.Fatal(err)
	}
	rsaOnly12 := func(sni string) *tls.Config {
		return &tls.Config{ServerName: sni, InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}
	}
	for _, tc := range []struct {
		name   string
		client *tls.Config
		want   string
	}{
		{"exact name, ECDSA preferred", &tls.Config{ServerName: "a.example"}, "a-ecdsa"},
		{"exact name, client without ECDSA suites gets RSA", rsaOnly12("a.example"), "a-rsa"},
		{"case and trailing dot do not matter", &tls.Config{ServerName: "A.Example."}, "a-ecdsa"},
		{"wildcard ECDSA beats exact RSA", &tls.Config{ServerName: "x.w.example"}, "w-wildcard-ecdsa"},
		{"exact RSA when the client cannot use ECDSA", rsaOnly12("x.w.example"), "w-exact-rsa"},
		{"wildcard covers one label", &tls.Config{ServerName: "y.w.example"}, "w-wildcard-ecdsa"},
		{"wildcard does not cover two labels", &tls.Config{ServerName: "z.y.w.example"}, "default"},
		{"longest key", &tls.Config{ServerName: "big.example"}, "big-3072"},
		{"latest expiry", &tls.Config{ServerName: "exp.example"}, "exp-late"},
		{"larger curve", &tls.Config{ServerName: "curve.example"}, "p384"},
		{"no match: default", &tls.Config{ServerName: "nomatch.example"}, "default"},
		{"no SNI: default", &tls.Config{}, "default"},
		{"no supported match: default", rsaOnly12("exp.example"), "default"},
		{"default among equals keeps its place", &tls.Config{ServerName: "shared.example"}, "default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.client.InsecureSkipVerify = true
			if got := served(t, conf, tc.client); got != tc.want {
				t.Errorf("served %q, want %q", got, tc.want)
			}
		})
	}
}

func TestServerConfig(t *testing.T) {
	cert := testCert(t, "only", "p256", time.Now().AddDate(1, 0, 0), "only.example")
	if _, err := (Server{Policy: "nope", Certificates: []tls.Certificate{cert}}).Config(); err == nil {
		t.Error("unknown policy: no error")
	}
	if _, err := (Server{}).Config(); err == nil {
		t.Error("no certificate: no error")
	}
	conf, err := Server{Policy: "ELBSecurityPolicy-TLS13-1-3-2021-06", Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if conf.GetCertificate != nil || len(conf.Certificates) != 1 {
		t.Errorf("one certificate: GetCertificate set or %d certificates", len(conf.Certificates))
	}
	if conf.MinVersion != tls.VersionTLS13 || conf.NextProtos[0] != "h2" {
		t.Errorf("config %+v", conf)
	}
}

func TestALPN(t *testing.T) {
	for policy, want := range map[string][]string{
		"":               nil,
		"None":           nil,
		"HTTP1Only":      {"http/1.1", "http/1.0"},
		"HTTP2Only":      {"h2"},
		"HTTP2Optional":  {"http/1.1", "http/1.0", "h2"},
		"HTTP2Preferred": {"h2", "http/1.1", "http/1.0"},
	} {
		got, err := ALPN(policy)
		if err != nil || len(got) != len(want) {
			t.Errorf("ALPN(%q) = %v, %v; want %v", policy, got, err, want)
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("ALPN(%q) = %v, want %v", policy, got, want)
			}
		}
	}
	if _, err := ALPN("HTTP3"); err == nil {
		t.Error("ALPN(HTTP3): no error")
	}
}

// BenchmarkCertificateSelection is the SNI choice among a listener's 25
// certificates (AWS's limit), as every handshake makes it.
func BenchmarkCertificateSelection(b *testing.B) {
	year := time.Now().AddDate(1, 0, 0)
	var certs []tls.Certificate
	for i := range 25 {
		certs = append(certs, testCert(b, fmt.Sprint("c", i), "p256", year, fmt.Sprintf("host%d.example", i), fmt.Sprintf("*.zone%d.example", i)))
	}
	x, err := newCertIndex(certs)
	if err != nil {
		b.Fatal(err)
	}
	hello := &tls.ClientHelloInfo{
		ServerName:        "app.zone17.example",
		SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
		SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256, tls.PSSWithSHA256},
		SupportedCurves:   []tls.CurveID{tls.X25519, tls.CurveP256},
		CipherSuites:      []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
	}
	b.ReportAllocs()
	for b.Loop() {
		if c, _ := x.certificate(hello); c == &x.certs[x.def] {
			b.Fatal("wildcard match missed")
		}
	}
}
