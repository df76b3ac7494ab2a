package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kelb-io/kelb/internal/certstore"
	"github.com/kelb-io/kelb/internal/elb/store"
)

// A bbolt store written by a kelb that kept private keys in plain text is
// sealed and compacted when kelb server opens it: the file then holds no byte of
// the key, and the certificate still serves.
func TestOpenStoreSealsPlaintextKeys(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kelb.db")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "old.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	const arn = "arn:aws:acm:us-west-2:123456789012:certificate/00000000-0000-4000-8000-000000000002"
	legacy, err := json.Marshal(certstore.Certificate{ARN: arn, DomainName: "old.test",
		CertificatePEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		PrivateKeyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.Put(certstore.Kind, arn, legacy) }); err != nil {
		t.Fatal(err)
	}
	st.Close()
	holdsKey := func() bool {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Contains(raw, keyDER) || bytes.Contains(raw, []byte("EC PRIVATE KEY"))
	}
	if !holdsKey() {
		t.Fatal("the legacy store does not hold the key in plain text: the check below proves nothing")
	}

	cfg := Config{DataDir: filepath.Dir(path)}
	opened, _, err := openStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sealed, sealKey, err := sealCertificateKeys(ctx, cfg, opened, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer sealed.Close()
	if fi, err := os.Stat(filepath.Join(cfg.DataDir, CertificateKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v; want mode 0600", fi, err)
	}
	if holdsKey() {
		t.Error("the store file still holds the private key after openStore")
	}
	certs := certstore.New(certstore.Config{Store: sealed, Key: sealKey})
	pair, err := certs.TLSCertificate(arn)
	if err != nil || !bytes.Equal(pair.Certificate[0], der) {
		t.Errorf("TLSCertificate after sealing: %v", err)
	}
}
