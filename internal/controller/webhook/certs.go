package webhook

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Files in the certificate directory; tls.crt and tls.key are the names
// controller-runtime's webhook server reads by default.
const (
	FileCert = "tls.crt"
	FileKey  = "tls.key"
	FileCA   = "ca.crt"
)

// DefaultValidity is how long a generated serving certificate lasts.
const DefaultValidity = 90 * 24 * time.Hour

// maxBundleCAs caps the CAs kept in a caBundle.
const maxBundleCAs = 8

// Certs is a CA and a serving certificate it signed.
type Certs struct {
	CAPEM, CertPEM, KeyPEM []byte
	// NotBefore and NotAfter bound the serving certificate's life.
	NotBefore, NotAfter time.Time
}

// RenewAt is when the certificate should be replaced: two thirds into its
// life.
func (c *Certs) RenewAt() time.Time {
	return c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) * 2 / 3)
}

// GenerateCerts makes a new CA and a serving certificate for hosts (DNS
// names or IP addresses), valid from now for validity.
func GenerateCerts(hosts []string, now time.Time, validity time.Duration) (*Certs, error) {
	if len(hosts) == 0 {
		return nil, errors.New("serving certificate: no host names")
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	notBefore, notAfter := now.Add(-time.Minute), now.Add(validity)
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "kelb-controller-webhook-ca"},
		NotBefore:             notBefore,
		NotAfter:              notAfter.Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("self-sign webhook CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("parse webhook CA: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate serving key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("sign serving certificate for %v: %w", hosts, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode serving key: %w", err)
	}
	return &Certs{
		CAPEM:     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		CertPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:    pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		NotBefore: notBefore,
		NotAfter:  notAfter,
	}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on Linux; a fixed serial still works.
		return big.NewInt(1)
	}
	return n
}

// Write writes the CA, certificate and key into dir, each file replaced
// atomically, the key last so that a reader never pairs a new key with an
// old certificate for long (the webhook server reloads both on change).
func (c *Certs) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("certificate dir: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{FileCA, c.CAPEM}, {FileCert, c.CertPEM}, {FileKey, c.KeyPEM}} {
		tmp := filepath.Join(dir, "."+f.name+".tmp")
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", tmp, err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, f.name)); err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	return nil
}

// LoadCerts reads the certificates in dir and returns them if they serve
// every one of hosts and are valid at now; otherwise nil.
func LoadCerts(dir string, hosts []string, now time.Time) *Certs {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil
		}
		return b
	}
	c := &Certs{CAPEM: read(FileCA), CertPEM: read(FileCert), KeyPEM: read(FileKey)}
	if c.CAPEM == nil || c.CertPEM == nil || c.KeyPEM == nil {
		return nil
	}
	block, _ := pem.Decode(c.CertPEM)
	if block == nil {
		return nil
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || now.Before(cert.NotBefore) || !now.Before(cert.NotAfter) {
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.CAPEM) {
		return nil
	}
	for _, h := range hosts {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: h, Roots: pool, CurrentTime: now}); err != nil {
			return nil
		}
	}
	c.NotBefore, c.NotAfter = cert.NotBefore, cert.NotAfter
	return c
}

// MergeCABundle returns a caBundle with ca and the certificates of existing
// still valid at now, newest first, at most maxBundleCAs, without
// duplicates. Unparseable blocks of existing are dropped.
func MergeCABundle(existing, ca []byte, now time.Time) []byte {
	type entry struct {
		cert *x509.Certificate
		der  []byte
	}
	var all []entry
	seen := map[string]bool{}
	for _, data := range [][]byte{ca, existing} {
		for {
			var block *pem.Block
			block, data = pem.Decode(data)
			if block == nil {
				break
			}
			if block.Type != "CERTIFICATE" || seen[string(block.Bytes)] {
				continue
			}
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil || !now.Before(cert.NotAfter) {
				continue
			}
			seen[string(block.Bytes)] = true
			all = append(all, entry{cert, block.Bytes})
		}
	}
	// ca stays first, the others newest first.
	if len(all) > 1 {
		slices.SortStableFunc(all[1:], func(a, b entry) int { return b.cert.NotBefore.Compare(a.cert.NotBefore) })
	}
	if len(all) > maxBundleCAs {
		all = all[:maxBundleCAs]
	}
	var out []byte
	for _, e := range all {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.der})...)
	}
	return out
}
