package certstore

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// keyNeedles is what of keyPEM must never appear in a store file: the PEM
// text, each line of its base64 body, the DER and, for an EC key, the
// private scalar.
func keyNeedles(t *testing.T, keyPEM []byte) map[string][]byte {
	t.Helper()
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		t.Fatal("test key is not PEM")
	}
	needles := map[string][]byte{"PEM": bytes.TrimSpace(keyPEM), "DER": block.Bytes}
	for i, line := range strings.Split(string(keyPEM), "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			needles["PEM line "+strconv.Itoa(i)] = []byte(line)
		}
	}
	k, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	d, err := k.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	needles["private scalar"] = d
	return needles
}

// found lists the needles the file at path holds.
func found(t *testing.T, path string, needles map[string][]byte) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for name, n := range needles {
		if bytes.Contains(raw, n) {
			out = append(out, name)
		}
	}
	return out
}

func openBolt(t *testing.T, path string) *store.Bolt {
	t.Helper()
	st, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A private key is sealed in the store file while its certificate exists,
// and a deleted (or re-imported) certificate leaves none of its key's bytes
// in the file. The same scan finds a key written in plain text, so it can
// fail.
func TestPrivateKeyNeverInStoreFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "kelb.db")
	key, err := LoadOrCreateKey(path + ".key")
	if err != nil {
		t.Fatal(err)
	}
	st := openBolt(t, path)
	defer st.Close()
	s := New(Config{Store: st, Key: key})

	certPEM, keyPEM := selfSigned(t, "secret.example.test")
	needles := keyNeedles(t, keyPEM)
	c, err := s.Import(ctx, ImportInput{Certificate: certPEM, PrivateKey: keyPEM})
	if err != nil {
		t.Fatal(err)
	}
	if got := found(t, path, needles); len(got) > 0 {
		t.Errorf("store file holds the private key (%v) while the certificate exists", got)
	}
	if got, err := s.Get(ctx, c.ARN); err != nil || got.PrivateKeyPEM != string(bytes.TrimSpace(keyPEM))+"\n" {
		t.Errorf("Get: private key %q, %v; want the imported one", got.PrivateKeyPEM, err)
	}
	if _, err := s.TLSCertificate(c.ARN); err != nil {
		t.Errorf("TLSCertificate: %v", err)
	}

	// Re-import with a new key: the first key's sealed bytes are freed.
	cert2, key2 := selfSigned(t, "secret.example.test")
	needles2 := keyNeedles(t, key2)
	if _, err := s.Import(ctx, ImportInput{ARN: c.ARN, Certificate: cert2, PrivateKey: key2}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, c.ARN); err != nil {
		t.Fatal(err)
	}
	for name, n := range needles2 {
		needles["second key "+name] = n
	}
	if got := found(t, path, needles); len(got) > 0 {
		t.Errorf("store file holds private key bytes (%v) after the certificate was deleted", got)
	}

	// The scan finds a plain-text key: a record written as kelb wrote them
	// before it sealed keys.
	legacy := legacyRecord(t, "arn:aws:acm:us-west-2:123456789012:certificate/legacy", certPEM, keyPEM)
	if err := st.Update(ctx, func(tx store.Tx) error {
		return tx.Put(Kind, "arn:aws:acm:us-west-2:123456789012:certificate/legacy", legacy)
	}); err != nil {
		t.Fatal(err)
	}
	if got := found(t, path, needles); len(got) == 0 {
		t.Error("the scan does not find a private key written in plain text")
	}
}

// legacyRecord is a certificate record with its private key in plain
// text, as kelb stored them before sealing.
func legacyRecord(t *testing.T, arn string, certPEM, keyPEM []byte) []byte {
	t.Helper()
	c, err := parse(certPEM, keyPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.ARN = arn
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"PrivateKeyPEM":"-----BEGIN`)) {
		t.Fatalf("legacy record does not hold the key in plain text: %s", b)
	}
	return b
}

// A plain-text record is refused until SealPlaintextKeys seals it; sealing
// and compacting the file leave none of the key's bytes in it.
func TestSealPlaintextKeys(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kelb.db")
	key, err := LoadOrCreateKey(path + ".key")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := selfSigned(t, "old.example.test")
	needles := keyNeedles(t, keyPEM)
	const arn = "arn:aws:acm:us-west-2:123456789012:certificate/00000000-0000-4000-8000-000000000001"
	st := openBolt(t, path)
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.Put(Kind, arn, legacyRecord(t, arn, certPEM, keyPEM)) }); err != nil {
		t.Fatal(err)
	}
	s := New(Config{Store: st, Key: key})
	if _, err := s.TLSCertificate(arn); err == nil || !strings.Contains(err.Error(), "plain text") {
		t.Errorf("TLSCertificate of a plain-text record: %v, want an error saying the key is in plain text", err)
	}
	if n, err := s.SealPlaintextKeys(ctx); n != 1 || err != nil {
		t.Fatalf("SealPlaintextKeys = %d, %v; want 1", n, err)
	}
	if n, err := s.SealPlaintextKeys(ctx); n != 0 || err != nil {
		t.Errorf("SealPlaintextKeys again = %d, %v; want 0", n, err)
	}
	if got, err := s.Get(ctx, arn); err != nil || got.PrivateKeyPEM != string(keyPEM) {
		t.Errorf("Get after sealing: %q, %v", got.PrivateKeyPEM, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := store.CompactBolt(path); err != nil {
		t.Fatal(err)
	}
	if got := found(t, path, needles); len(got) > 0 {
		t.Errorf("compacted store file still holds the private key (%v)", got)
	}
	st = openBolt(t, path)
	defer st.Close()
	s = New(Config{Store: st, Key: key})
	if _, err := s.TLSCertificate(arn); err != nil {
		t.Errorf("TLSCertificate after compaction: %v", err)
	}
}

// The key file is made 0600 at first start and read back after; a file
// others can read, or of the wrong size, is refused. A sealed key opens
// only under its own key and ARN.
func TestKeyFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "kelb.db.key")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != KeySize {
		t.Fatalf("key file: %v, %v; want 0600 and %d bytes", fi.Mode(), err, KeySize)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := k1.seal("arn:a", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := k2.open("arn:a", sealed); err != nil || string(plain) != "secret" {
		t.Errorf("reloaded key opens %q, %v", plain, err)
	}
	if _, err := k2.open("arn:b", sealed); err == nil {
		t.Error("a sealed key opened under another ARN")
	}
	again, _ := k1.seal("arn:a", []byte("secret"))
	if bytes.Equal(again, sealed) {
		t.Error("two seals of the same key are equal: the nonce is not random")
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("key file readable by others: %v, want an error", err)
	}
	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(short); err == nil {
		t.Error("a 5-byte key file was accepted")
	}

	// Another key: Get and TLSCertificate say the key does not open; List
	// and Delete still work.
	st := openBolt(t, filepath.Join(dir, "kelb.db"))
	defer st.Close()
	certPEM, keyPEM := selfSigned(t, "a.test")
	c, err := New(Config{Store: st, Key: k1}).Import(ctx, ImportInput{Certificate: certPEM, PrivateKey: keyPEM})
	if err != nil {
		t.Fatal(err)
	}
	other := New(Config{Store: st})
	if _, err := other.Get(ctx, c.ARN); err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Errorf("Get under another key: %v, want an error", err)
	}
	if list, err := other.List(ctx); err != nil || len(list) != 1 || list[0].PrivateKeyPEM != "" {
		t.Errorf("List under another key = %+v, %v; want the certificate without its key", list, err)
	}
	if err := other.Delete(ctx, c.ARN); err != nil {
		t.Errorf("Delete under another key: %v", err)
	}
}
