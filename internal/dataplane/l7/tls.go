package l7

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

// policyConfig returns the TLS versions and TLS 1.0-1.2 cipher suites of
// the security policy named name (elb.DefaultSSLPolicy when empty), as
// listed by DescribeSSLPolicies.
func policyConfig(name string) (minVersion, maxVersion uint16, suites []uint16, err error) {
	if name == "" {
		name = elb.DefaultSSLPolicy
	}
	i := slices.IndexFunc(elb.SSLPolicies, func(p elb.SSLPolicy) bool { return p.Name == name })
	if i < 0 {
		return 0, 0, nil, fmt.Errorf("unknown SSL policy %q", name)
	}
	p := elb.SSLPolicies[i]
	for _, v := range p.Protocols {
		if n, ok := tlsVersions[v]; ok {
			if minVersion == 0 || n < minVersion {
				minVersion = n
			}
			maxVersion = max(maxVersion, n)
		}
	}
	for _, c := range p.Ciphers {
		if id, ok := cipherSuites[c]; ok {
			suites = append(suites, id)
		}
	}
	return minVersion, maxVersion, suites, nil
}

// serverTLSConfig returns the TLS configuration of an HTTPS listener: its
// certificates (the default first: Go picks the first certificate that
// matches the client's SNI and supported algorithms, else the first),
// its policy's versions and suites, and ALPN offering h2 when http2.
func serverTLSConfig(policy string, certs []tls.Certificate, http2 bool) (*tls.Config, error) {
	minV, maxV, suites, err := policyConfig(policy)
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("no certificate")
	}
	protos := []string{"http/1.1"}
	if http2 {
		protos = []string{"h2", "http/1.1"}
	}
	return &tls.Config{
		Certificates: certs,
		MinVersion:   minV,
		MaxVersion:   maxV,
		CipherSuites: suites,
		NextProtos:   protos,
	}, nil
}
