package tlspolicy

import (
	"crypto/tls"
	"errors"
)

// Server is what a TLS-terminating listener needs to serve TLS.
type Server struct {
	// Policy is the listener's security policy (elb.DefaultSSLPolicy when
	// empty).
	Policy string
	// Certificates are the listener's certificates, its default first.
	Certificates []tls.Certificate
	// NextProtos are the application protocols offered through ALPN, in
	// the listener's order of preference; none: no ALPN.
	NextProtos []string
}

// Config returns the server TLS configuration of s: its certificates (Go
// picks the first that matches the client's SNI and supported
// algorithms, else the first), its policy's versions and suites, and its
// ALPN protocols.
func (s Server) Config() (*tls.Config, error) {
	p, err := Lookup(s.Policy)
	if err != nil {
		return nil, err
	}
	if len(s.Certificates) == 0 {
		return nil, errors.New("no certificate")
	}
	return &tls.Config{
		Certificates: s.Certificates,
		MinVersion:   p.MinVersion,
		MaxVersion:   p.MaxVersion,
		CipherSuites: p.CipherSuites,
		NextProtos:   s.NextProtos,
	}, nil
}
