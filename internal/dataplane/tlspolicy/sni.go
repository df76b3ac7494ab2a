package tlspolicy

import (
	"cmp"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
)

// certIndex chooses a listener's certificate for a client's SNI as ELB
// does: among the certificates whose names match (exactly, or as a
// *.parent wildcard), the best one the client supports, ranked by public
// key algorithm (ECDSA over RSA), signature hash (SHA-2 over SHA-1 over
// MD5), key length (longest) and validity (latest expiry); the default
// certificate when none matches or the client sent no SNI. The ranking is
// done once, so a handshake costs two map lookups and a support check per
// candidate.
type certIndex struct {
	// certs are ranked best first.
	certs []tls.Certificate
	def   int
	// exact and wildcard map a lower-case DNS name, and the parent domain
	// of a "*.parent" name, to indexes into certs in ascending order.
	exact, wildcard map[string][]int
}

// newCertIndex indexes certs, certs[0] being the default.
func newCertIndex(certs []tls.Certificate) (*certIndex, error) {
	type ranked struct {
		cert tls.Certificate
		leaf *x509.Certificate
		def  bool
	}
	rs := make([]ranked, 0, len(certs))
	for i, c := range certs {
		leaf := c.Leaf
		if leaf == nil {
			if len(c.Certificate) == 0 {
				return nil, fmt.Errorf("certificate %d: empty", i)
			}
			var err error
			if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
				return nil, fmt.Errorf("certificate %d: %w", i, err)
			}
			c.Leaf = leaf
		}
		rs = append(rs, ranked{cert: c, leaf: leaf, def: i == 0})
	}
	slices.SortStableFunc(rs, func(a, b ranked) int { return compareCertificates(a.leaf, b.leaf) })
	x := &certIndex{exact: map[string][]int{}, wildcard: map[string][]int{}}
	for i, r := range rs {
		x.certs = append(x.certs, r.cert)
		if r.def {
			x.def = i
		}
		for _, name := range r.leaf.DNSNames {
			name = strings.TrimSuffix(strings.ToLower(name), ".")
			if parent, ok := strings.CutPrefix(name, "*."); ok {
				x.wildcard[parent] = append(x.wildcard[parent], i)
			} else {
				x.exact[name] = append(x.exact[name], i)
			}
		}
	}
	return x, nil
}

// certificate is the GetCertificate of a listener's tls.Config. It never
// fails: with no match it returns the default certificate.
func (x *certIndex) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
	best := -1
	consider := func(candidates []int) {
		for _, i := range candidates {
			if best >= 0 && i >= best {
				return
			}
			if hello.SupportsCertificate(&x.certs[i]) == nil {
				best = i
				return
			}
		}
	}
	consider(x.exact[name])
	if dot := strings.IndexByte(name, '.'); dot > 0 {
		consider(x.wildcard[name[dot+1:]])
	}
	if best < 0 {
		best = x.def
	}
	return &x.certs[best], nil
}

// compareCertificates orders a before b when a is the better certificate
// by ELB's criteria.
func compareCertificates(a, b *x509.Certificate) int {
	ka, la := keyRank(a)
	kb, lb := keyRank(b)
	return cmp.Or(
		cmp.Compare(kb, ka),
		cmp.Compare(hashRank(b.SignatureAlgorithm), hashRank(a.SignatureAlgorithm)),
		cmp.Compare(lb, la),
		b.NotAfter.Compare(a.NotAfter),
	)
}

// keyRank ranks a certificate's public key algorithm (higher is
// preferred) and gives its length in bits.
func keyRank(c *x509.Certificate) (rank, bits int) {
	switch k := c.PublicKey.(type) {
	case *ecdsa.PublicKey:
		return 2, k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return 1, 256
	case *rsa.PublicKey:
		return 0, k.N.BitLen()
	}
	return -1, 0
}

// hashRank ranks a signature algorithm's hash (higher is preferred).
func hashRank(a x509.SignatureAlgorithm) int {
	switch a {
	case x509.MD2WithRSA, x509.MD5WithRSA:
		return 0
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1:
		return 1
	}
	return 2
}
