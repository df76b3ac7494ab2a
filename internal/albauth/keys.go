package albauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
)

// Keys are kelb's own keys for authentication: the AES-256-GCM key that
// seals session and state cookies, and the ECDSA P-256 key that signs the
// x-amzn-oidc-data JWT, with its key id. Both are derived (HKDF-SHA256)
// from one secret, so every kelb server given the same secret (kelb's
// certificate key file, shared by a fleet) seals, opens and signs alike.
type Keys struct {
	aead   cipher.AEAD
	signer *ecdsa.PrivateKey
	kid    string
	pubPEM []byte
}

// NewKeys derives Keys from secret, which must be at least 32 bytes.
func NewKeys(secret []byte) (*Keys, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("authentication keys: secret of %d bytes, want at least 32", len(secret))
	}
	sealKey, err := hkdf.Key(sha256.New, secret, nil, "kelb alb authentication session cookies", 32)
	if err != nil {
		return nil, fmt.Errorf("authentication keys: %w", err)
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, fmt.Errorf("authentication keys: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("authentication keys: %w", err)
	}
	signer, err := deriveP256(secret)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&signer.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("authentication keys: %w", err)
	}
	sum := sha256.Sum256(der)
	h := hex.EncodeToString(sum[:16])
	return &Keys{
		aead:   aead,
		signer: signer,
		// A UUID-shaped key id, as ALB's kid is.
		kid:    h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32],
		pubPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
	}, nil
}

// deriveP256 derives a P-256 private key: the first HKDF output (with a
// counter) that is a valid scalar.
func deriveP256(secret []byte) (*ecdsa.PrivateKey, error) {
	for i := uint32(0); i < 16; i++ {
		var ctr [4]byte
		binary.BigEndian.PutUint32(ctr[:], i)
		d, err := hkdf.Key(sha256.New, secret, ctr[:], "kelb alb user claims signing key", 32)
		if err != nil {
			return nil, fmt.Errorf("authentication keys: %w", err)
		}
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
		if err == nil {
			return k, nil
		}
	}
	return nil, errors.New("authentication keys: no valid signing key derived")
}

// KeyID is the kid of the signing key.
func (k *Keys) KeyID() string { return k.kid }

// PublicKeyPEM returns the PEM public key with key id kid, as ALB's public
// key endpoint serves it, and false for any other kid.
func (k *Keys) PublicKeyPEM(kid string) ([]byte, bool) {
	if kid != k.kid {
		return nil, false
	}
	return k.pubPEM, true
}

// PublicKey returns the signing key's public half.
func (k *Keys) PublicKey() *ecdsa.PublicKey { return &k.signer.PublicKey }

// seal encrypts plaintext bound to ad: nonce, then ciphertext and tag.
func (k *Keys) seal(ad string, plaintext []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	randomBytes(nonce)
	return k.aead.Seal(nonce, nonce, plaintext, []byte(ad))
}

// open decrypts what seal made with the same ad.
func (k *Keys) open(ad string, sealed []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n+k.aead.Overhead() {
		return nil, errors.New("sealed value too short")
	}
	return k.aead.Open(nil, sealed[:n], sealed[n:], []byte(ad))
}
