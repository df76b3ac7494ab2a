// Package certstore keeps the certificates of kelb's HTTPS and TLS
// listeners: PEM certificates, chains and private keys imported through the
// ACM API, stored in kelb's configuration store under their ARN
// (arn:aws:acm:<region>:<account>:certificate/<uuid>).
//
// Import checks that the certificate parses and that the key matches it
// before anything is written; importing again with an existing ARN
// replaces the material and keeps the ARN, so listeners pick up a renewed
// certificate at the next configuration pass. Delete refuses a certificate
// a listener uses (ResourceInUseException), asked inside the same
// transaction through Config.InUse.
//
// Private keys never reach the store in plain text: each is sealed with
// AES-256-GCM (a random nonce per record, the certificate's ARN as
// additional data) under a Key that kelb server keeps in a file beside the
// store (<store>.key, mode 0600, created at first start by
// LoadOrCreateKey). The store file then holds no readable key material,
// neither while a certificate exists nor in the free pages a deleted or
// re-imported one leaves behind. Whoever holds both the store and the key
// file can still open the keys: keep the key file as private as the data
// directory (kelb creates it 0700), or elsewhere. A key that does not open
// a record (the key file was replaced) fails Get and TLSCertificate for
// that certificate with an error saying so; List, re-import and Delete
// still work. Records written by a kelb that stored keys in plain text are
// refused until SealPlaintextKeys rewrites them, which kelb server does
// when it opens the store (then compacting the file, so the plain text
// does not linger in free pages).
//
// Request issues a certificate (type AMAZON_ISSUED) for a domain name and
// its alternative names, signed by the store's Authority: one CA per
// store, created at first use in one transaction (servers sharing an etcd
// store agree on it), its private key sealed like certificate keys
// (authority.go). A requested certificate is ISSUED at once: kelb cannot
// prove control of a name against public DNS, and whoever can call the
// API owns the names served here; the validation options ACM would report
// are recorded and reported as succeeded. Issued certificates are valid
// for Validity (395 days, as ACM's); RunRenewal issues them again under the
// same ARN within RenewBefore (60 days) of expiry, and a failed renewal is
// logged and tried again at the next interval while the old certificate
// keeps serving. Export returns an issued certificate's key encrypted
// (PKCS #8) only when it was requested exportable, as ACM.
//
// TLSCertificate serves the data plane: it parses a certificate once per
// stored version and answers later calls from a cache.
package certstore

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// Kind is the store kind certificates are kept under.
const Kind = "certificate"

// ARNPrefix starts every certificate ARN.
const ARNPrefix = "arn:aws:acm:"

// Error codes, as ACM names its exceptions.
const (
	CodeNotFound                = "ResourceNotFoundException"
	CodeInUse                   = "ResourceInUseException"
	CodeValidation              = "ValidationException"
	CodeInvalidArn              = "InvalidArnException"
	CodeInvalidTag              = "InvalidTagException"
	CodeTooManyTag              = "TooManyTagsException"
	CodeInvalidDomainValidation = "InvalidDomainValidationOptionsException"
)

// Certificate types, as ACM names them.
const (
	TypeImported     = "IMPORTED"
	TypeAmazonIssued = "AMAZON_ISSUED"
)

// Error is an ACM API error.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Tag is a certificate tag.
type Tag struct {
	Key   string
	Value string
}

// Certificate is an imported certificate with what DescribeCertificate
// reports about it.
type Certificate struct {
	ARN                     string
	CertificatePEM          string
	ChainPEM                string
	PrivateKeyPEM           string
	DomainName              string
	SubjectAlternativeNames []string
	Serial                  string
	Subject                 string
	Issuer                  string
	NotBefore               time.Time
	NotAfter                time.Time
	KeyAlgorithm            string
	SignatureAlgorithm      string
	CreatedAt               time.Time
	ImportedAt              time.Time
	Tags                    []Tag
	// KeyUsages and ExtendedKeyUsages name the leaf's extensions as ACM
	// does (DIGITAL_SIGNATURE, TLS_WEB_SERVER_AUTHENTICATION, ...).
	KeyUsages         []string
	ExtendedKeyUsages []string

	// Type is TypeImported or TypeAmazonIssued; empty in records written
	// before kelb issued certificates, which were all imported (Kind).
	Type string
	// What RequestCertificate recorded for an issued certificate.
	IssuedAt          time.Time
	DomainValidations []DomainValidation
	IdempotencyToken  string
	Export            string // Options.Export: ENABLED or DISABLED
	Exported          bool
	RenewalStatus     string // SUCCESS once renewed
	RenewedAt         time.Time
}

// Kind returns c's type: TypeImported for records that predate Type.
func (c Certificate) Kind() string {
	if c.Type == "" {
		return TypeImported
	}
	return c.Type
}

// Status is c's ACM status at now: ISSUED, or EXPIRED after NotAfter.
func (c Certificate) Status(now time.Time) string {
	if now.After(c.NotAfter) {
		return "EXPIRED"
	}
	return "ISSUED"
}

// DomainValidation is how one domain name of a requested certificate is
// validated, as DescribeCertificate's DomainValidationOptions reports it.
type DomainValidation struct {
	DomainName       string
	ValidationDomain string
	ValidationMethod string // DNS or EMAIL
	// DNS: the CNAME record ACM would have the owner create.
	RecordName  string `json:",omitempty"`
	RecordValue string `json:",omitempty"`
	// EMAIL: the addresses ACM would have written to.
	ValidationEmails []string `json:",omitempty"`
}

// Config configures a Store. Store is required.
type Config struct {
	Store     store.Store
	Region    string // us-west-2 when empty
	AccountID string // 123456789012 when empty
	// InUse returns the load balancers whose listeners use the
	// certificate arn, read within tx; nil: never in use.
	InUse func(tx store.ReadTx, arn string) ([]string, error)
	Now   func() time.Time
	// Key seals the private keys; nil: a random key for the life of the
	// Store, so certificates do not survive a new Store over the same
	// store (tests). kelb server always gives the key of its key file.
	Key *Key
}

// Store is the certificate store.
type Store struct {
	cfg Config
	key *Key

	mu        sync.Mutex
	cache     map[string]cached // by ARN
	authority *Authority
}

type cached struct {
	sum  [32]byte
	cert *tls.Certificate
}

// New returns a Store over cfg.Store.
func New(cfg Config) *Store {
	if cfg.Region == "" {
		cfg.Region = "us-west-2"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "123456789012"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	key := cfg.Key
	if key == nil {
		var err error
		if key, err = randomKey(); err != nil {
			panic(fmt.Sprintf("certstore: %v", err))
		}
	}
	return &Store{cfg: cfg, key: key, cache: map[string]cached{}}
}

// ImportInput is the input of Import.
type ImportInput struct {
	// ARN re-imports into an existing certificate; empty creates one.
	ARN         string
	Certificate []byte // PEM
	PrivateKey  []byte // PEM
	Chain       []byte // PEM, optional
	Tags        []Tag
}

// Import stores a certificate and returns it.
func (s *Store) Import(ctx context.Context, in ImportInput) (Certificate, error) {
	c, err := parse(in.Certificate, in.PrivateKey, in.Chain)
	if err != nil {
		return Certificate{}, err
	}
	if in.ARN != "" && !strings.HasPrefix(in.ARN, ARNPrefix) {
		return Certificate{}, errorf(CodeInvalidArn, "String '%s' is not a valid ARN", in.ARN)
	}
	now := s.cfg.Now().UTC()
	err = s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		c.ARN, c.CreatedAt, c.ImportedAt, c.Tags = in.ARN, now, now, in.Tags
		if in.ARN != "" {
			old, err := getMeta(tx, in.ARN)
			if err != nil {
				return err
			}
			c.CreatedAt, c.Tags = old.CreatedAt, old.Tags
			if old.Kind() != TypeImported {
				return errorf(CodeValidation, "Certificate ARN: %s is not an imported certificate; only imported certificates can be re-imported", in.ARN)
			}
			if len(in.Tags) > 0 {
				return errorf(CodeValidation, "Tags cannot be specified when re-importing a certificate")
			}
		} else {
			if err := validateTags(in.Tags); err != nil {
				return err
			}
			c.ARN = s.newARN()
		}
		c.Type = TypeImported
		b, err := s.encode(c)
		if err != nil {
			return err
		}
		return tx.Put(Kind, c.ARN, b)
	})
	if err != nil {
		return Certificate{}, fmt.Errorf("import certificate: %w", err)
	}
	return c, nil
}

func (s *Store) newARN() string {
	return fmt.Sprintf("%s%s:%s:certificate/%s", ARNPrefix, s.cfg.Region, s.cfg.AccountID, newUUID())
}

// Get returns one certificate with its private key.
func (s *Store) Get(ctx context.Context, arn string) (Certificate, error) {
	var c Certificate
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		b, err := tx.Get(Kind, arn)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(CodeNotFound, "Could not find certificate %s", arn)
		}
		if err != nil {
			return err
		}
		c, err = s.decode(arn, b)
		return err
	})
	return c, err
}

// InUseBy returns the load balancers that use certificate arn.
func (s *Store) InUseBy(ctx context.Context, arn string) ([]string, error) {
	if s.cfg.InUse == nil {
		return nil, nil
	}
	var out []string
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		var err error
		out, err = s.cfg.InUse(tx, arn)
		return err
	})
	return out, err
}

// List returns every certificate, sorted by ARN, without their private
// keys (Get and TLSCertificate open those).
func (s *Store) List(ctx context.Context) ([]Certificate, error) {
	kvs, err := s.cfg.Store.List(ctx, Kind)
	if err != nil {
		return nil, fmt.Errorf("list certificates: %w", err)
	}
	out := make([]Certificate, 0, len(kvs))
	for _, kv := range kvs {
		c, err := decodeMeta(kv.Key, kv.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Delete removes a certificate no listener uses.
func (s *Store) Delete(ctx context.Context, arn string) error {
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if _, err := getMeta(tx, arn); err != nil {
			return err
		}
		if s.cfg.InUse != nil {
			users, err := s.cfg.InUse(tx, arn)
			if err != nil {
				return err
			}
			if len(users) > 0 {
				return errorf(CodeInUse, "Certificate %s in account %s is in use by %s", arn, s.cfg.AccountID, strings.Join(users, ", "))
			}
		}
		return tx.Delete(Kind, arn)
	})
	if err != nil {
		return fmt.Errorf("delete certificate %s: %w", arn, err)
	}
	s.mu.Lock()
	delete(s.cache, arn)
	s.mu.Unlock()
	return nil
}

// Exists reports whether certificate arn is stored, within tx.
func Exists(tx store.ReadTx, arn string) (bool, error) {
	_, err := tx.Get(Kind, arn)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// TLSCertificate returns the key pair of certificate arn with its chain,
// parsed once per stored version.
func (s *Store) TLSCertificate(arn string) (*tls.Certificate, error) {
	b, err := s.cfg.Store.Get(context.Background(), Kind, arn)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(CodeNotFound, "Could not find certificate %s", arn)
	}
	if err != nil {
		return nil, fmt.Errorf("read certificate %s: %w", arn, err)
	}
	sum := sha256.Sum256(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.cache[arn]; ok && c.sum == sum {
		return c.cert, nil
	}
	c, err := s.decode(arn, b)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair([]byte(c.CertificatePEM+"\n"+c.ChainPEM), []byte(c.PrivateKeyPEM))
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", arn, err)
	}
	s.cache[arn] = cached{sum: sum, cert: &pair}
	return &pair, nil
}

// getMeta reads certificate arn without its private key.
func getMeta(tx store.ReadTx, arn string) (Certificate, error) {
	b, err := tx.Get(Kind, arn)
	if errors.Is(err, store.ErrNotFound) {
		return Certificate{}, errorf(CodeNotFound, "Could not find certificate %s", arn)
	}
	if err != nil {
		return Certificate{}, err
	}
	return decodeMeta(arn, b)
}

// parse validates imported material and fills in what is reported about it.
func parse(certPEM, keyPEM, chainPEM []byte) (Certificate, error) {
	block, rest := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return Certificate{}, errorf(CodeValidation, "The certificate must be a PEM-encoded X.509 certificate")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return Certificate{}, errorf(CodeValidation, "The certificate field must contain exactly one certificate; put intermediates in the certificate chain")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return Certificate{}, errorf(CodeValidation, "Could not parse the certificate: %v", err)
	}
	for rest := chainPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			if len(bytes.TrimSpace(rest)) > 0 {
				return Certificate{}, errorf(CodeValidation, "The certificate chain must be PEM-encoded certificates")
			}
			break
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return Certificate{}, errorf(CodeValidation, "Could not parse the certificate chain: %v", err)
		}
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return Certificate{}, errorf(CodeValidation, "The private key does not match the certificate or could not be parsed: %v", err)
	}
	c := Certificate{
		CertificatePEM:     string(bytes.TrimSpace(certPEM)) + "\n",
		ChainPEM:           string(bytes.TrimSpace(chainPEM)),
		PrivateKeyPEM:      string(bytes.TrimSpace(keyPEM)) + "\n",
		DomainName:         leaf.Subject.CommonName,
		Serial:             colonHex(leaf.SerialNumber.Bytes()),
		Subject:            leaf.Subject.String(),
		Issuer:             leaf.Issuer.CommonName,
		NotBefore:          leaf.NotBefore.UTC(),
		NotAfter:           leaf.NotAfter.UTC(),
		KeyAlgorithm:       keyAlgorithm(leaf),
		SignatureAlgorithm: signatureAlgorithm(leaf.SignatureAlgorithm),
		KeyUsages:          keyUsageNames(leaf.KeyUsage),
		ExtendedKeyUsages:  extKeyUsageNames(leaf),
	}
	if c.ChainPEM != "" {
		c.ChainPEM += "\n"
	}
	c.SubjectAlternativeNames = slices.Clone(leaf.DNSNames)
	for _, ip := range leaf.IPAddresses {
		c.SubjectAlternativeNames = append(c.SubjectAlternativeNames, ip.String())
	}
	if c.DomainName == "" && len(leaf.DNSNames) > 0 {
		c.DomainName = leaf.DNSNames[0]
	}
	if len(c.SubjectAlternativeNames) == 0 && c.DomainName != "" {
		c.SubjectAlternativeNames = []string{c.DomainName}
	}
	return c, nil
}

// keyAlgorithm names the certificate's key as ACM does (RSA_2048,
// EC_prime256v1, ...).
func keyAlgorithm(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA_%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		switch k.Curve.Params().BitSize {
		case 256:
			return "EC_prime256v1"
		case 384:
			return "EC_secp384r1"
		case 521:
			return "EC_secp521r1"
		}
	case ed25519.PublicKey:
		return "ED25519"
	}
	return "UNKNOWN"
}

// signatureAlgorithm names a signature algorithm as ACM does
// (SHA256WITHRSA, SHA256WITHECDSA).
func signatureAlgorithm(a x509.SignatureAlgorithm) string {
	hash, key, ok := strings.Cut(a.String(), "-")
	if !ok {
		return strings.ToUpper(a.String())
	}
	if hash == "ECDSA" {
		hash, key = key, hash
	}
	return hash + "WITH" + key
}

func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02x", x)
	}
	return strings.Join(parts, ":")
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("certstore: read random id: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
