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

// Config returns the server TLS configuration of s: its certificates,
// chosen by SNI as ELB chooses them (see certIndex), its policy's versions
// and suites, and its ALPN protocols. Session tickets are on, with keys
// Go rotates: a caller keeps resumption across reconfigurations by
// keeping the returned Config while s is unchanged.
func (s Server) Config() (*tls.Config, error) {
	p, err := Lookup(s.Policy)
	if err != nil {
		return nil, err
	}
	if len(s.Certificates) == 0 {
		return nil, errors.New("no certificate")
	}
	c := &tls.Config{
		Certificates: s.Certificates[:1],
		MinVersion:   p.MinVersion,
		MaxVersion:   p.MaxVersion,
		CipherSuites: p.CipherSuites,
		NextProtos:   s.NextProtos,
	}
	if len(s.Certificates) > 1 {
		x, err := newCertIndex(s.Certificates)
		if err != nil {
			return nil, err
		}
		c.GetCertificate = x.certificate
	}
	return c, nil
}
