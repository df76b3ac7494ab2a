package tlspolicy

import (
	"crypto/tls"
	"fmt"
	"slices"

	"github.com/kelb-io/kelb/internal/elb"
)

// cipherSuites maps the OpenSSL cipher names of ELB security policies to Go's
// TLS 1.0-1.2 suites. TLS 1.3 suites are not configurable in Go and are
// always the three AWS policies list.
var cipherSuites = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

var tlsVersions = map[string]uint16{
	"TLSv1":   tls.VersionTLS10,
	"TLSv1.1": tls.VersionTLS11,
	"TLSv1.2": tls.VersionTLS12,
	"TLSv1.3": tls.VersionTLS13,
}

// Policy is what a security policy makes of a Go TLS configuration.
type Policy struct {
	Name       string
	MinVersion uint16
	MaxVersion uint16
	// CipherSuites are the policy's TLS 1.0-1.2 suites, in its order.
	CipherSuites []uint16
}

// Lookup returns the TLS versions and TLS 1.0-1.2 cipher suites of the
// security policy named name (elb.DefaultSSLPolicy when empty), as
// DescribeSSLPolicies lists them.
func Lookup(name string) (Policy, error) {
	if name == "" {
		name = elb.DefaultSSLPolicy
	}
	i := slices.IndexFunc(elb.SSLPolicies, func(p elb.SSLPolicy) bool { return p.Name == name })
	if i < 0 {
		return Policy{}, fmt.Errorf("unknown SSL policy %q", name)
	}
	sp := elb.SSLPolicies[i]
	p := Policy{Name: name}
	for _, v := range sp.Protocols {
		if n, ok := tlsVersions[v]; ok {
			if p.MinVersion == 0 || n < p.MinVersion {
				p.MinVersion = n
			}
			p.MaxVersion = max(p.MaxVersion, n)
		}
	}
	for _, c := range sp.Ciphers {
		if id, ok := cipherSuites[c]; ok {
			p.CipherSuites = append(p.CipherSuites, id)
		}
	}
	return p, nil
}
