package certstore

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// Validity is how long a certificate kelb issues is valid: 395 days, as
// ACM's.
const Validity = 395 * 24 * time.Hour

// RenewBefore is how long before it expires an issued certificate is
// renewed: ACM starts its managed renewal 60 days ahead.
const RenewBefore = 60 * 24 * time.Hour

// idempotencyWindow is how long RequestCertificate's IdempotencyToken
// returns the certificate it first requested.
const idempotencyWindow = time.Hour

// Key algorithms RequestCertificate accepts, as ACM names them.
const (
	KeyRSA2048 = "RSA_2048"
	KeyP256    = "EC_prime256v1"
	KeyP384    = "EC_secp384r1"
)

// RequestInput is the input of Request.
type RequestInput struct {
	DomainName              string
	SubjectAlternativeNames []string
	ValidationMethod        string            // DNS (when empty) or EMAIL
	ValidationDomains       map[string]string // DomainValidationOptions: domain name -> validation domain
	IdempotencyToken        string
	KeyAlgorithm            string // KeyRSA2048 when empty
	Export                  string // Options.Export: DISABLED when empty
	Tags                    []Tag
}

// domainLabel is one label of ACM's domain name pattern
// (\*\.)?(((?!-)[A-Za-z0-9-]{0,62}[A-Za-z0-9])\.)+((?!-)[A-Za-z0-9-]{1,62}[A-Za-z0-9])
// without the look-ahead Go's regexp lacks: no leading hyphen is checked
// apart.
var domainLabel = regexp.MustCompile(`^[A-Za-z0-9-]{0,62}[A-Za-z0-9]$`)

var idempotencyToken = regexp.MustCompile(`^\w{1,32}$`)

// validDomainName reports whether name matches ACM's domain name pattern:
// an optional leading "*.", then two or more labels, the last at least two
// characters long.
func validDomainName(name string) bool {
	if len(name) < 1 || len(name) > 253 {
		return false
	}
	labels := strings.Split(strings.TrimPrefix(name, "*."), ".")
	if len(labels) < 2 || len(labels[len(labels)-1]) < 2 {
		return false
	}
	for _, l := range labels {
		if !domainLabel.MatchString(l) || strings.HasPrefix(l, "-") {
			return false
		}
	}
	return true
}

// requestNames validates a request and returns the names of its
// certificate: DomainName first, then the other alternative names in
// request order, each once.
func requestNames(in RequestInput) ([]string, error) {
	if in.DomainName == "" {
		return nil, errorf(CodeValidation, "1 validation error detected: Value null at 'domainName' failed to satisfy constraint: Member must not be null")
	}
	if len(in.SubjectAlternativeNames) > 100 {
		return nil, errorf(CodeValidation, "1 validation error detected: Value at 'subjectAlternativeNames' failed to satisfy constraint: Member must have length less than or equal to 100")
	}
	names := []string{in.DomainName}
	for _, n := range in.SubjectAlternativeNames {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, n := range names {
		if !validDomainName(n) {
			return nil, errorf(CodeValidation, "1 validation error detected: Value '%s' at 'domainName' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\*\\.)?(((?!-)[A-Za-z0-9-]{0,62}[A-Za-z0-9])\\.)+((?!-)[A-Za-z0-9-]{1,62}[A-Za-z0-9])", n)
		}
	}
	// RFC 5280 limits the common name, which is DomainName, to 64 octets.
	if len(in.DomainName) > 64 {
		return nil, errorf(CodeInvalidDomainValidation, "DomainName %s is longer than 64 octets; put a longer name in SubjectAlternativeNames", in.DomainName)
	}
	switch in.ValidationMethod {
	case "", "DNS", "EMAIL":
	default:
		return nil, errorf(CodeValidation, "1 validation error detected: Value '%s' at 'validationMethod' failed to satisfy constraint: Member must satisfy enum value set: [EMAIL, DNS, HTTP]", in.ValidationMethod)
	}
	for domain, vd := range in.ValidationDomains {
		if !slices.Contains(names, domain) {
			return nil, errorf(CodeInvalidDomainValidation, "DomainValidationOption %s is not one of the certificate's domain names", domain)
		}
		if !strings.HasSuffix(strings.TrimPrefix(domain, "*."), vd) || !validDomainName(vd) {
			return nil, errorf(CodeInvalidDomainValidation, "ValidationDomain %s is not %s or a superdomain of it", vd, domain)
		}
	}
	switch in.KeyAlgorithm {
	case "", KeyRSA2048, KeyP256, KeyP384:
	default:
		return nil, errorf(CodeValidation, "Key algorithm %s is not supported for AMAZON_ISSUED certificates: use %s, %s or %s", in.KeyAlgorithm, KeyRSA2048, KeyP256, KeyP384)
	}
	switch in.Export {
	case "", "ENABLED", "DISABLED":
	default:
		return nil, errorf(CodeValidation, "1 validation error detected: Value '%s' at 'options.export' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]", in.Export)
	}
	if in.IdempotencyToken != "" && !idempotencyToken.MatchString(in.IdempotencyToken) {
		return nil, errorf(CodeValidation, "1 validation error detected: Value '%s' at 'idempotencyToken' failed to satisfy constraint: Member must satisfy regular expression pattern: \\w+ and have length less than or equal to 32", in.IdempotencyToken)
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	return names, nil
}

// Request issues a certificate for in's names, signed by the store's
// Authority, and returns it. A request with the IdempotencyToken of one
// made less than an hour ago returns that certificate instead.
//
// A requested certificate is ISSUED at once: kelb is its authority, and
// the account that can call the API is the one that owns the names here.
// Its DomainValidationOptions still report what ACM reports (the CNAME
// record or the addresses a validation would use), with the status
// SUCCESS.
func (s *Store) Request(ctx context.Context, in RequestInput) (Certificate, error) {
	names, err := requestNames(in)
	if err != nil {
		return Certificate{}, err
	}
	if in.ValidationMethod == "" {
		in.ValidationMethod = "DNS"
	}
	if in.KeyAlgorithm == "" {
		in.KeyAlgorithm = KeyRSA2048
	}
	if in.Export == "" {
		in.Export = "DISABLED"
	}
	if in.IdempotencyToken != "" {
		if c, ok, err := s.byToken(ctx, in.IdempotencyToken); err != nil || ok {
			return c, err
		}
	}
	ca, err := s.Authority(ctx)
	if err != nil {
		return Certificate{}, err
	}
	now := s.cfg.Now().UTC()
	c, err := issue(ca, names, in.KeyAlgorithm, now)
	if err != nil {
		return Certificate{}, err
	}
	c.Type, c.CreatedAt, c.IssuedAt = TypeAmazonIssued, now, now
	c.DomainName, c.SubjectAlternativeNames = in.DomainName, names
	c.IdempotencyToken, c.Export, c.Tags = in.IdempotencyToken, in.Export, in.Tags
	for _, n := range names {
		c.DomainValidations = append(c.DomainValidations, domainValidation(n, in.ValidationDomains[n], in.ValidationMethod))
	}
	err = s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		// A request with the same token may have been committed since
		// byToken looked.
		if in.IdempotencyToken != "" {
			if prev, ok, err := tokenMatch(tx, in.IdempotencyToken, now); err != nil || ok {
				c = prev
				return err
			}
		}
		c.ARN = s.newARN()
		b, err := s.encode(c)
		if err != nil {
			return err
		}
		return tx.Put(Kind, c.ARN, b)
	})
	if err != nil {
		return Certificate{}, fmt.Errorf("request certificate for %s: %w", in.DomainName, err)
	}
	return c, nil
}

func (s *Store) byToken(ctx context.Context, token string) (Certificate, bool, error) {
	var c Certificate
	var ok bool
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		var err error
		c, ok, err = tokenMatch(tx, token, s.cfg.Now())
		return err
	})
	return c, ok, err
}

// tokenMatch finds the certificate requested with token within the
// idempotency window before now.
func tokenMatch(tx store.ReadTx, token string, now time.Time) (Certificate, bool, error) {
	kvs, err := tx.List(Kind)
	if err != nil {
		return Certificate{}, false, err
	}
	for _, kv := range kvs {
		c, err := decodeMeta(kv.Key, kv.Value)
		if err != nil {
			return Certificate{}, false, err
		}
		if c.IdempotencyToken == token && now.Sub(c.CreatedAt) < idempotencyWindow {
			c.ARN = kv.Key
			return c, true, nil
		}
	}
	return Certificate{}, false, nil
}

// issue makes a new key of algorithm alg and a certificate for names
// signed by ca, and returns them parsed as Import would.
func issue(ca *Authority, names []string, alg string, now time.Time) (Certificate, error) {
	var key crypto.Signer
	var err error
	switch alg {
	case KeyP256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyP384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		return Certificate{}, fmt.Errorf("generate %s key: %w", alg, err)
	}
	certPEM, err := ca.issue(names, key.Public(), now, Validity)
	if err != nil {
		return Certificate{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Certificate{}, fmt.Errorf("encode %s key: %w", alg, err)
	}
	c, err := parse(certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), []byte(ca.CertificatePEM))
	if err != nil {
		return Certificate{}, fmt.Errorf("issued certificate for %s: %w", names[0], err)
	}
	return c, nil
}

// domainValidation returns what ACM reports about validating name: for
// DNS the CNAME record, derived from the name so it is the same on every
// request (ACM's too stays the same for a name in an account); for EMAIL
// the five addresses ACM writes to at the validation domain.
func domainValidation(name, validationDomain, method string) DomainValidation {
	base := strings.TrimPrefix(name, "*.")
	if validationDomain == "" {
		validationDomain = base
	}
	dv := DomainValidation{DomainName: name, ValidationDomain: validationDomain, ValidationMethod: method}
	if method == "EMAIL" {
		for _, user := range []string{"admin", "administrator", "hostmaster", "postmaster", "webmaster"} {
			dv.ValidationEmails = append(dv.ValidationEmails, user+"@"+validationDomain)
		}
		return dv
	}
	sum := sha256.Sum256([]byte(base))
	dv.RecordName = "_" + hex.EncodeToString(sum[:16]) + "." + base + "."
	dv.RecordValue = "_" + hex.EncodeToString(sum[16:]) + ".acm-validations.aws."
	return dv
}
