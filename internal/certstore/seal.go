package certstore

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// KeySize is the size of the key that seals private keys: AES-256.
const KeySize = 32

// Key seals and opens the private keys of stored certificates with
// AES-256-GCM: a random 96-bit nonce per record, and the certificate's ARN
// as additional data, so a sealed key copied to another record does not
// open there.
type Key struct {
	aead     cipher.AEAD
	material []byte
}

// NewKey returns a Key over 32 bytes of key material.
func NewKey(material []byte) (*Key, error) {
	if len(material) != KeySize {
		return nil, fmt.Errorf("certificate key: %d bytes, want %d", len(material), KeySize)
	}
	block, err := aes.NewCipher(material)
	if err != nil {
		return nil, fmt.Errorf("certificate key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("certificate key: %w", err)
	}
	return &Key{aead: aead, material: bytes.Clone(material)}, nil
}

// Derive returns 32 bytes derived from the key (HKDF-SHA256) for purpose:
// a secret every server holding the same key file derives alike, never
// the key itself.
func (k *Key) Derive(purpose string) []byte {
	out, err := hkdf.Key(sha256.New, k.material, nil, "kelb "+purpose, KeySize)
	if err != nil {
		// HKDF fails only for an output longer than 255 hashes.
		panic(err)
	}
	return out
}

// randomKey returns a Key of fresh random material.
func randomKey() (*Key, error) {
	material := make([]byte, KeySize)
	if _, err := rand.Read(material); err != nil {
		return nil, fmt.Errorf("generate certificate key: %w", err)
	}
	return NewKey(material)
}

// LoadOrCreateKey reads the key kept in the file at path, or creates the
// file with a new random key (mode 0600) when it does not exist. A file
// that others can read, or of the wrong size, is an error: kelb does not
// use a key it cannot trust to be private.
func LoadOrCreateKey(path string) (*Key, error) {
	material, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read certificate key: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read certificate key: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("certificate key %s is readable by others (mode %#o): chmod 600 it", path, perm)
	}
	k, err := NewKey(material)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

func createKeyFile(path string) (*Key, error) {
	material := make([]byte, KeySize)
	if _, err := rand.Read(material); err != nil {
		return nil, fmt.Errorf("generate certificate key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create certificate key: %w", err)
	}
	// O_EXCL: two servers starting on one data directory do not end up
	// with different keys; the second reads the first's.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadOrCreateKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create certificate key: %w", err)
	}
	if _, err := f.Write(material); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("write certificate key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("write certificate key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("write certificate key %s: %w", path, err)
	}
	return NewKey(material)
}

// seal encrypts a private key for the record of certificate arn: nonce,
// then ciphertext and tag.
func (k *Key) seal(arn string, plaintext []byte) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal private key of %s: %w", arn, err)
	}
	return k.aead.Seal(nonce, nonce, plaintext, []byte(arn)), nil
}

// open decrypts what seal made for certificate arn.
func (k *Key) open(arn string, sealed []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n+k.aead.Overhead() {
		return nil, fmt.Errorf("private key of %s: sealed value too short", arn)
	}
	plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte(arn))
	if err != nil {
		return nil, fmt.Errorf("private key of %s does not open with this store's key (was the key file replaced?): %w", arn, err)
	}
	return plain, nil
}

// record is a certificate as stored: the private key sealed, never in
// plain text. PrivateKeyPEM shadows Certificate's field in JSON; it is only
// set in records written before kelb sealed private keys, which
// SealPlaintextKeys rewrites.
type record struct {
	Certificate
	PrivateKeyPEM    string `json:",omitempty"`
	SealedPrivateKey []byte `json:",omitempty"`
}

// encode seals c's private key and returns the stored form of c.
func (s *Store) encode(c Certificate) ([]byte, error) {
	sealed, err := s.key.seal(c.ARN, []byte(c.PrivateKeyPEM))
	if err != nil {
		return nil, err
	}
	r := record{Certificate: c, SealedPrivateKey: sealed}
	r.Certificate.PrivateKeyPEM = ""
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode certificate %s: %w", c.ARN, err)
	}
	return b, nil
}

// decode reads a stored certificate, opening its private key. A record
// with a plain-text key is refused: SealPlaintextKeys must run first.
func (s *Store) decode(arn string, b []byte) (Certificate, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return Certificate{}, fmt.Errorf("decode certificate %s: %w", arn, err)
	}
	c := r.Certificate
	switch {
	case r.SealedPrivateKey != nil:
		plain, err := s.key.open(arn, r.SealedPrivateKey)
		if err != nil {
			return Certificate{}, err
		}
		c.PrivateKeyPEM = string(plain)
	case r.PrivateKeyPEM != "":
		return Certificate{}, fmt.Errorf("certificate %s: private key stored in plain text by an earlier kelb; SealPlaintextKeys seals it", arn)
	}
	return c, nil
}

// decodeMeta reads a stored certificate without its private key.
func decodeMeta(arn string, b []byte) (Certificate, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return Certificate{}, fmt.Errorf("decode certificate %s: %w", arn, err)
	}
	c := r.Certificate
	c.PrivateKeyPEM = ""
	return c, nil
}

// SealPlaintextKeys seals the private keys that records written before
// kelb encrypted them hold in plain text, in one transaction, and returns
// how many it sealed. The plain text may then survive in the store file's
// free pages: a caller that sealed any should compact the file
// (store.CompactBolt) before serving.
func (s *Store) SealPlaintextKeys(ctx context.Context) (int, error) {
	n := 0
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		n = 0
		kvs, err := tx.List(Kind)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			var r record
			if err := json.Unmarshal(kv.Value, &r); err != nil {
				return fmt.Errorf("decode certificate %s: %w", kv.Key, err)
			}
			if r.SealedPrivateKey != nil || r.PrivateKeyPEM == "" {
				continue
			}
			c := r.Certificate
			c.ARN, c.PrivateKeyPEM = kv.Key, r.PrivateKeyPEM
			b, err := s.encode(c)
			if err != nil {
				return err
			}
			if err := tx.Put(Kind, kv.Key, b); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("seal private keys: %w", err)
	}
	return n, nil
}
