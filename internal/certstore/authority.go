package certstore

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// AuthorityKind is the store kind kelb's certificate authority is kept
// under, apart from the certificates so that ListCertificates never shows
// it.
const AuthorityKind = "certificate-authority"

// authorityKey is the authority's key in AuthorityKind, and the additional
// data its sealed private key is bound to.
const authorityKey = "kelb"

// authorityValidity is how long kelb's CA certificate is valid: long
// enough that nobody has to re-distribute it in the life of an
// installation.
const authorityValidity = 20 * 365 * 24 * time.Hour

// Authority is kelb's certificate authority: it signs the certificates
// RequestCertificate issues (type AMAZON_ISSUED). There is one per store,
// created the first time a certificate is requested or the CA is asked
// for, so every kelb server sharing an etcd store issues under the same CA.
type Authority struct {
	CertificatePEM string
	cert           *x509.Certificate
	signer         crypto.Signer
}

// authorityRecord is the authority as stored: its private key sealed with
// the store's Key, never in plain text.
type authorityRecord struct {
	CertificatePEM   string
	SealedPrivateKey []byte
}

// Authority returns kelb's certificate authority, creating it (an RSA 2048
// key and a self-signed certificate) when the store has none. Two servers
// creating it at once on one store agree: the second transaction finds the
// first's.
func (s *Store) Authority(ctx context.Context) (*Authority, error) {
	s.mu.Lock()
	a := s.authority
	s.mu.Unlock()
	if a != nil {
		return a, nil
	}
	b, err := s.cfg.Store.Get(ctx, AuthorityKind, authorityKey)
	if errors.Is(err, store.ErrNotFound) {
		b, err = s.createAuthority(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("certificate authority: %w", err)
	}
	if a, err = s.openAuthority(b); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.authority = a
	s.mu.Unlock()
	return a, nil
}

func (s *Store) createAuthority(ctx context.Context) ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	now := s.cfg.Now().UTC()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: fmt.Sprintf("kelb CA %s %s", s.cfg.AccountID, s.cfg.Region), Organization: []string{"kelb"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(authorityValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	sealed, err := s.key.seal(authorityKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		return nil, err
	}
	rec, err := json.Marshal(authorityRecord{
		CertificatePEM:   string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		SealedPrivateKey: sealed,
	})
	if err != nil {
		return nil, err
	}
	var out []byte
	err = s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		have, err := tx.Get(AuthorityKind, authorityKey)
		if err == nil {
			out = have
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		out = rec
		return tx.Put(AuthorityKind, authorityKey, rec)
	})
	return out, err
}

func (s *Store) openAuthority(b []byte) (*Authority, error) {
	var r authorityRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode certificate authority: %w", err)
	}
	block, _ := pem.Decode([]byte(r.CertificatePEM))
	if block == nil {
		return nil, errors.New("certificate authority: stored certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certificate authority: %w", err)
	}
	plain, err := s.key.open(authorityKey, r.SealedPrivateKey)
	if err != nil {
		return nil, fmt.Errorf("certificate authority: %w", err)
	}
	kb, _ := pem.Decode(plain)
	if kb == nil {
		return nil, errors.New("certificate authority: stored key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certificate authority: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("certificate authority: stored key cannot sign")
	}
	return &Authority{CertificatePEM: r.CertificatePEM, cert: cert, signer: signer}, nil
}

// issue signs a server certificate for names (the first is the subject's
// common name) over pub, valid from now for validity.
func (a *Authority) issue(names []string, pub crypto.PublicKey, now time.Time, validity time.Duration) ([]byte, error) {
	usage := x509.KeyUsageDigitalSignature
	if _, isRSA := pub.(*rsa.PublicKey); isRSA {
		usage |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(validity),
		KeyUsage:     usage,
		// ACM's certificates carry both, so they also serve mutual TLS
		// clients.
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, pub, a.signer)
	if err != nil {
		return nil, fmt.Errorf("sign certificate for %s: %w", names[0], err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// randomSerial returns a random positive 128-bit serial number.
func randomSerial() *big.Int {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("certstore: read random serial: %v", err))
	}
	b[0] &= 0x7f
	b[0] |= 0x01 // never zero, never a leading zero byte
	return new(big.Int).SetBytes(b)
}
