package l7

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/mtls"
)

// Mutual TLS on HTTPS listeners (elb.MutualAuthentication). In
// passthrough mode the listener asks for a client certificate, takes the
// handshake with or without one, and sends the chain to the targets in
// X-Amzn-Mtls-Clientcert. In verify mode a client must present a
// certificate that mtls.Verify accepts against the listener's trust store
// (its CA bundle and revocation lists): otherwise the handshake fails
// with a TLS alert and no request is read, as on ALB; the targets get the
// leaf's serial number, issuer, subject, validity and PEM. Every listener
// removes X-Amzn-Mtls-* headers (and the names the listener's attributes
// give them) that clients send, so a target can trust those it gets.

// MutualAuth is an HTTPS listener's mutual TLS, with its trust store's
// material (verify mode).
type MutualAuth struct {
	Mode         string // passthrough or verify
	IgnoreExpiry bool   `json:",omitempty"`
	// Advertise lists the trust store's CA names in the certificate
	// request.
	Advertise bool `json:",omitempty"`
	// Bundle and CRLs are the trust store's CA certificates (PEM) and
	// revocation lists.
	Bundle []byte   `json:",omitempty"`
	CRLs   [][]byte `json:",omitempty"`
}

// buildMutualAuth returns a listener's MutualAuth from the store state.
func buildMutualAuth(ls elb.Listener, stores map[string]elb.TrustStoreMaterial) *MutualAuth {
	m := ls.MutualAuthentication
	if ls.Protocol != ProtocolHTTPS || m == nil || m.Mode == elb.MutualAuthOff {
		return nil
	}
	out := &MutualAuth{Mode: m.Mode, IgnoreExpiry: m.IgnoreClientCertificateExpiry, Advertise: m.AdvertiseTrustStoreCaNames == "on"}
	if ts, ok := stores[m.TrustStoreARN]; ok {
		out.Bundle, out.CRLs = ts.Bundle, ts.Revocations
	}
	return out
}

// mtlsHeaderNames returns the header names a listener's attributes give
// the mutual TLS headers; nil when none is renamed.
func mtlsHeaderNames(attrs map[string]string) mtls.HeaderNames {
	var names mtls.HeaderNames
	for attr, def := range elb.RequestHeaderNameAttrs {
		if !strings.HasPrefix(def, mtls.HeaderPrefix) {
			continue
		}
		if v := attrs[attr]; v != "" && v != def {
			if names == nil {
				names = mtls.HeaderNames{}
			}
			names[def] = http.CanonicalHeaderKey(v)
		}
	}
	return names
}

// trustStore parses a MutualAuth's trust store.
func (m *MutualAuth) trustStore() (*mtls.TrustStore, error) {
	cas, err := mtls.ParseBundle(m.Bundle)
	if err != nil {
		return nil, fmt.Errorf("trust store: %w", err)
	}
	var crls []*x509.RevocationList
	for i, c := range m.CRLs {
		crl, err := mtls.ParseCRL(c, cas)
		if err != nil {
			return nil, fmt.Errorf("trust store revocation %d: %w", i+1, err)
		}
		crls = append(crls, crl)
	}
	return mtls.NewTrustStore(cas, crls), nil
}

// applyMutualAuth sets a listener's client certificate handling on conf.
// now is the clock of verify mode.
func applyMutualAuth(conf *tls.Config, m *MutualAuth, now func() time.Time) error {
	if m == nil {
		return nil
	}
	switch m.Mode {
	case elb.MutualAuthPassthrough:
		conf.ClientAuth = tls.RequestClientCert
		return nil
	case elb.MutualAuthVerify:
	default:
		return fmt.Errorf("mutual authentication mode %q", m.Mode)
	}
	ts, err := m.trustStore()
	if err != nil {
		return err
	}
	// Go does not verify the chain itself (RequireAnyClientCert):
	// mtls.Verify does, with the trust store's revocations and the
	// listener's expiry rule.
	conf.ClientAuth = tls.RequireAnyClientCert
	if m.Advertise {
		conf.ClientCAs = ts.Pool()
	}
	ignore := m.IgnoreExpiry
	conf.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		chain, err := parseChain(raw)
		if err != nil {
			return err
		}
		return mtls.Verify(chain, ts, now(), ignore)
	}
	return nil
}

func parseChain(raw [][]byte) ([]*x509.Certificate, error) {
	chain := make([]*x509.Certificate, 0, len(raw))
	for _, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return nil, fmt.Errorf("client certificate does not parse: %w", err)
		}
		chain = append(chain, c)
	}
	return chain, nil
}

// mtlsHeaders returns the header lines ("Name: value\r\n") a connection's
// requests carry to the targets, from its TLS state and the listener's
// table; nil without mutual TLS or client certificate.
func mtlsHeaders(cs *tls.ConnectionState, t *table) []byte {
	if cs == nil || t == nil || t.mtlsMode == "" || len(cs.PeerCertificates) == 0 {
		return nil
	}
	var b []byte
	for _, h := range mtls.Headers(cs.PeerCertificates, t.mtlsMode == elb.MutualAuthVerify, t.mtlsNames) {
		b = append(b, h.Name...)
		b = append(b, ": "...)
		b = append(b, headerSafe(h.Value)...)
		b = append(b, "\r\n"...)
	}
	return b
}

// headerSafe replaces the bytes a header value cannot hold (a subject
// name may carry any): control characters become '?'.
func headerSafe(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			b := []byte(v)
			for j := i; j < len(b); j++ {
				if b[j] < 0x20 || b[j] == 0x7f {
					b[j] = '?'
				}
			}
			return string(b)
		}
	}
	return v
}

// stripsHeader reports whether a client-sent header (canonical name) is
// one of the mutual TLS headers, which only the load balancer sets.
func (t *table) stripsHeader(key string) bool {
	if len(key) < len(mtls.HeaderPrefix) || key[0] != 'X' {
		return false
	}
	if strings.HasPrefix(key, mtls.HeaderPrefix) {
		return true
	}
	if t == nil {
		return false
	}
	for _, n := range t.mtlsNames {
		if n == key {
			return true
		}
	}
	return false
}

// setMTLSHeaders removes client-sent mutual TLS headers from the outbound
// request of in and adds those of in's client certificate.
func setMTLSHeaders(in *http.Request, h http.Header, t *table) {
	for k := range h {
		if t.stripsHeader(k) {
			delete(h, k)
		}
	}
	lines := mtlsHeaders(requestTLS(in), t)
	for _, line := range strings.Split(string(lines), "\r\n") {
		if k, v, ok := strings.Cut(line, ": "); ok {
			h[k] = []string{v}
		}
	}
}
