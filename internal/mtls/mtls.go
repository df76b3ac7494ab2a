// Package mtls holds the decisions of mutual TLS on application load
// balancers, as pure functions: which CA certificates bundle a trust
// store accepts (ParseBundle), which certificate revocation lists
// (ParseCRL), whether a client's certificate chain passes a listener in
// verify mode (Verify), and the X-Amzn-Mtls-* headers the targets get
// (Headers).
//
// Verify accepts a chain that leads from the client's leaf certificate,
// through the intermediates the client sent, to a CA certificate of the
// trust store, with every certificate within its validity at the time of
// the handshake (the leaf's own validity is not checked when the listener
// ignores client certificate expiry) and none of the chain's certificates
// listed by a revocation list of the trust store. Any failure is an error
// that says which check failed; the data plane then refuses the handshake,
// as ALB does. Nothing here reads the network or the clock.
package mtls

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// MaxBundleCertificates is the number of CA certificates a bundle may
// hold.
const MaxBundleCertificates = 500

// ParseBundle parses a CA certificates bundle: one or more PEM
// CERTIFICATE blocks, each an X.509 v3 CA certificate (basic constraints
// CA:TRUE), and nothing else but whitespace between them.
func ParseBundle(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("the bundle holds a PEM block of type %q; only CERTIFICATE blocks are allowed", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d of the bundle does not parse: %v", len(out)+1, err)
		}
		if c.Version != 3 || !c.BasicConstraintsValid || !c.IsCA {
			return nil, fmt.Errorf("certificate %d of the bundle (%s) is not a CA certificate (X.509 v3 with basic constraints CA:TRUE)", len(out)+1, c.Subject)
		}
		out = append(out, c)
		if len(out) > MaxBundleCertificates {
			return nil, fmt.Errorf("the bundle holds more than %d certificates", MaxBundleCertificates)
		}
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("the bundle holds data that is not a PEM certificate")
	}
	if len(out) == 0 {
		return nil, errors.New("the bundle holds no PEM certificate")
	}
	return out, nil
}

// ParseCRL parses a certificate revocation list, PEM ("X509 CRL") or DER,
// and checks that it is signed by one of cas.
func ParseCRL(data []byte, cas []*x509.Certificate) (*x509.RevocationList, error) {
	der := data
	if block, rest := pem.Decode(data); block != nil {
		if block.Type != "X509 CRL" {
			return nil, fmt.Errorf("the revocation file holds a PEM block of type %q, not X509 CRL", block.Type)
		}
		if len(bytes.TrimSpace(rest)) > 0 {
			return nil, errors.New("the revocation file holds more than one CRL")
		}
		der = block.Bytes
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("the revocation file is not a CRL: %v", err)
	}
	for _, ca := range cas {
		if bytes.Equal(ca.RawSubject, crl.RawIssuer) && crl.CheckSignatureFrom(ca) == nil {
			return crl, nil
		}
	}
	return nil, fmt.Errorf("the CRL (issuer %s) is not signed by a CA certificate of the trust store", crl.Issuer)
}

// TrustStore is what a listener in verify mode checks client chains
// against.
type TrustStore struct {
	roots   *x509.CertPool
	cas     []*x509.Certificate
	revoked map[string]bool // issuer DER subject + "/" + serial
}

// NewTrustStore returns the trust store of a bundle's CA certificates and
// revocation lists.
func NewTrustStore(cas []*x509.Certificate, crls []*x509.RevocationList) *TrustStore {
	ts := &TrustStore{roots: x509.NewCertPool(), cas: cas, revoked: map[string]bool{}}
	for _, c := range cas {
		ts.roots.AddCert(c)
	}
	for _, crl := range crls {
		for _, e := range crl.RevokedCertificateEntries {
			ts.revoked[revocationKey(crl.RawIssuer, e.SerialNumber)] = true
		}
	}
	return ts
}

// CAs returns the trust store's CA certificates.
func (ts *TrustStore) CAs() []*x509.Certificate { return ts.cas }

// Pool returns the trust store's CA certificates as a pool (the names a
// listener advertises).
func (ts *TrustStore) Pool() *x509.CertPool { return ts.roots }

func revocationKey(issuer []byte, serial *big.Int) string {
	return string(issuer) + "/" + serial.String()
}

// Verify decides whether a client chain (leaf first, then the
// intermediates the client sent) passes a verify-mode listener at now.
func Verify(chain []*x509.Certificate, ts *TrustStore, now time.Time, ignoreExpiry bool) error {
	if len(chain) == 0 {
		return errors.New("the client sent no certificate")
	}
	if ts == nil {
		return errors.New("the listener's trust store is not loaded")
	}
	leaf := chain[0]
	at := now
	if ignoreExpiry {
		// The leaf's validity does not count; the CAs' still does.
		if at.After(leaf.NotAfter) {
			at = leaf.NotAfter
		}
		if at.Before(leaf.NotBefore) {
			at = leaf.NotBefore
		}
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots: ts.roots, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return fmt.Errorf("client certificate %s: %w", leaf.Subject, err)
	}
	if ignoreExpiry {
		// The CAs must be valid now, not only at the leaf's time.
		for _, c := range chains[0][1:] {
			if now.Before(c.NotBefore) || now.After(c.NotAfter) {
				return fmt.Errorf("client certificate %s: CA certificate %s is not valid at %s", leaf.Subject, c.Subject, now.UTC().Format(time.RFC3339))
			}
		}
	}
	for _, ch := range chains {
		revokedIn := ""
		for _, c := range ch[:len(ch)-1] {
			if ts.revoked[revocationKey(c.RawIssuer, c.SerialNumber)] {
				revokedIn = c.Subject.String()
				break
			}
		}
		if revokedIn == "" {
			return nil
		}
		if len(chains) == 1 {
			return fmt.Errorf("client certificate %s: certificate %s is revoked", leaf.Subject, revokedIn)
		}
	}
	return fmt.Errorf("client certificate %s: every chain to the trust store holds a revoked certificate", leaf.Subject)
}

// Header names, as ALB sends them.
const (
	HeaderClientCert   = "X-Amzn-Mtls-Clientcert"
	HeaderSerialNumber = "X-Amzn-Mtls-Clientcert-Serial-Number"
	HeaderIssuer       = "X-Amzn-Mtls-Clientcert-Issuer"
	HeaderSubject      = "X-Amzn-Mtls-Clientcert-Subject"
	HeaderValidity     = "X-Amzn-Mtls-Clientcert-Validity"
	HeaderLeaf         = "X-Amzn-Mtls-Clientcert-Leaf"
)

// HeaderPrefix starts every mutual TLS header: the data plane removes
// client-sent headers with it.
const HeaderPrefix = "X-Amzn-Mtls-"

// HeaderNames are the names a listener sends the headers under, by the
// default name (listener attributes rename them).
type HeaderNames map[string]string

func (n HeaderNames) name(def string) string {
	if v := n[def]; v != "" {
		return v
	}
	return def
}

// Header is one header line.
type Header struct {
	Name, Value string
}

// Headers returns the headers a target gets for a client chain: in
// passthrough mode the whole chain, URL-encoded PEM, in X-Amzn-Mtls-Clientcert;
// in verify mode the leaf's serial number (hex), issuer and subject
// (RFC 2253), validity and URL-encoded PEM. An empty chain gets none.
func Headers(chain []*x509.Certificate, verify bool, names HeaderNames) []Header {
	if len(chain) == 0 {
		return nil
	}
	if !verify {
		var b []byte
		for _, c := range chain {
			b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
		return []Header{{names.name(HeaderClientCert), urlEncode(b)}}
	}
	leaf := chain[0]
	return []Header{
		{names.name(HeaderSerialNumber), strings.ToUpper(leaf.SerialNumber.Text(16))},
		{names.name(HeaderIssuer), leaf.Issuer.String()},
		{names.name(HeaderSubject), leaf.Subject.String()},
		{names.name(HeaderValidity), "NotBefore=" + leaf.NotBefore.UTC().Format(time.RFC3339) + ";NotAfter=" + leaf.NotAfter.UTC().Format(time.RFC3339)},
		{names.name(HeaderLeaf), urlEncode(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))},
	}
}

// urlEncode percent-encodes b as ALB encodes certificates: every byte but
// letters, digits, "-._~" and the safe "+=/".
func urlEncode(b []byte) string {
	const hexDigits = "0123456789ABCDEF"
	var sb strings.Builder
	for _, c := range b {
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '+', c == '=', c == '/':
			sb.WriteByte(c)
		default:
			sb.WriteByte('%')
			sb.WriteByte(hexDigits[c>>4])
			sb.WriteByte(hexDigits[c&15])
		}
	}
	return sb.String()
}
