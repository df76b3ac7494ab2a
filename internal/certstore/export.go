package certstore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
)

// Exported is what Export returns.
type Exported struct {
	CertificatePEM string
	ChainPEM       string
	// PrivateKeyPEM is the private key as encrypted PKCS #8
	// ("ENCRYPTED PRIVATE KEY": PBES2, PBKDF2 with HMAC-SHA256, AES-256-CBC),
	// which openssl opens with the passphrase.
	PrivateKeyPEM string
}

// Export returns certificate arn with its private key encrypted under
// passphrase (4 to 128 bytes). As ACM does, it refuses every certificate
// but an AMAZON_ISSUED one requested with Options.Export ENABLED, and
// records that the certificate was exported.
func (s *Store) Export(ctx context.Context, arn string, passphrase []byte) (Exported, error) {
	if len(passphrase) < 4 || len(passphrase) > 128 {
		return Exported{}, errorf(CodeValidation, "1 validation error detected: Value at 'passphrase' failed to satisfy constraint: Member must have length between 4 and 128")
	}
	c, err := s.Get(ctx, arn)
	if err != nil {
		return Exported{}, err
	}
	if c.Kind() != TypeAmazonIssued || c.Export != "ENABLED" {
		return Exported{}, errorf(CodeValidation, "Certificate ARN: %s is not a private certificate", arn)
	}
	block, _ := pem.Decode([]byte(c.PrivateKeyPEM))
	if block == nil {
		return Exported{}, fmt.Errorf("export certificate %s: stored key is not PEM", arn)
	}
	enc, err := encryptPKCS8(block.Bytes, passphrase)
	if err != nil {
		return Exported{}, fmt.Errorf("export certificate %s: %w", arn, err)
	}
	if err := s.update(ctx, arn, func(c *Certificate) error { c.Exported = true; return nil }); err != nil {
		return Exported{}, err
	}
	return Exported{CertificatePEM: c.CertificatePEM, ChainPEM: c.ChainPEM,
		PrivateKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: enc}))}, nil
}

var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

const pbkdf2Iterations = 100_000

type algorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

type pbkdf2Params struct {
	Salt           []byte
	IterationCount int
	KeyLength      int `asn1:"optional"`
	PRF            algorithmIdentifier
}

type pbes2Params struct {
	KeyDerivationFunc algorithmIdentifier
	EncryptionScheme  algorithmIdentifier
}

type encryptedPrivateKeyInfo struct {
	EncryptionAlgorithm algorithmIdentifier
	EncryptedData       []byte
}

// encryptPKCS8 encrypts a PKCS #8 private key (RFC 5958
// EncryptedPrivateKeyInfo, RFC 8018 PBES2).
func encryptPKCS8(der, passphrase []byte) ([]byte, error) {
	salt := make([]byte, 16)
	iv := make([]byte, aes.BlockSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	key, err := pbkdf2.Key(sha256.New, string(passphrase), salt, pbkdf2Iterations, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	pad := aes.BlockSize - len(der)%aes.BlockSize
	plain := append(append([]byte{}, der...), make([]byte, pad)...)
	for i := len(der); i < len(plain); i++ {
		plain[i] = byte(pad)
	}
	out := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, plain)

	null := asn1.RawValue{Tag: asn1.TagNull}
	kdf, err := asn1.Marshal(pbkdf2Params{Salt: salt, IterationCount: pbkdf2Iterations, KeyLength: 32,
		PRF: algorithmIdentifier{Algorithm: oidHMACSHA256, Parameters: null}})
	if err != nil {
		return nil, err
	}
	ivDER, err := asn1.Marshal(iv)
	if err != nil {
		return nil, err
	}
	params, err := asn1.Marshal(pbes2Params{
		KeyDerivationFunc: algorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdf}},
		EncryptionScheme:  algorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: ivDER}},
	})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(encryptedPrivateKeyInfo{
		EncryptionAlgorithm: algorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: params}},
		EncryptedData:       out,
	})
}
