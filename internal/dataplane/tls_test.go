package dataplane

import (
	"bufio"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kelb-io/kelb/internal/confview"
	"github.com/kelb-io/kelb/internal/elb"
)

// certMap is a CertificateSource of test certificates by ARN.
type certMap map[string]*tls.Certificate

func (m certMap) TLSCertificate(arn string) (*tls.Certificate, error) {
	c, ok := m[arn]
	if !ok {
		return nil, fmt.Errorf("certificate %s not found", arn)
	}
	return c, nil
}

// selfSigned is a certificate whose CommonName is name, for dnsNames.
func selfSigned(t testing.TB, name string, ecdsaKey bool, dnsNames ...string) *tls.Certificate {
	t.Helper()
	var key crypto.Signer
	var err error
	if ecdsaKey {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	} else {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     dnsNames,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsTest is a TLS listener of the test load balancer in front of target a.
type tlsTest struct {
	s     lbState
	a     *backend
	certs certMap
	p     TestPlane
	// policy, alpn and extra make the listener's TLS settings.
	policy, alpn string
	extra        []string
}

func newTLSTest(t *testing.T, k planeKind, a *backend, tgProtocol string, tgAttrs map[string]string) *tlsTest {
	t.Helper()
	tt := &tlsTest{
		s: lbState{port: freePort(t), protocol: "TLS", tgProtocol: tgProtocol, tgAttrs: tgAttrs, targets: []elb.Target{a.target("zone-a")}},
		a: a,
		certs: certMap{
			"arn:default": selfSigned(t, "default", false, "default.example"),
			"arn:sni":     selfSigned(t, "sni", true, "sni.example"),
		},
	}
	tt.p = newPlaneOf(t, k, Options{Certificates: tt.certs})
	return tt
}

// config is the data plane's configuration of the test's load balancer.
func (tt *tlsTest) config() Config {
	st := tt.s.state()
	st.Listeners[0].Certificates = []elb.Certificate{{ARN: "arn:default", IsDefault: true}}
	for _, arn := range tt.extra {
		st.Listeners[0].Certificates = append(st.Listeners[0].Certificates, elb.Certificate{ARN: arn})
	}
	st.Listeners[0].SslPolicy = cmpOr(tt.policy, elb.DefaultSSLPolicy)
	if tt.alpn != "" {
		st.Listeners[0].AlpnPolicy = []string{tt.alpn}
	}
	return Build(confview.New(st), healthMap{testTGARN: {tt.a.key(): elb.HealthHealthy}})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (tt *tlsTest) apply(t *testing.T) {
	t.Helper()
	apply(t, tt.p, tt.config())
}

// tlsClient is a TLS client connection through the load balancer.
type tlsClient struct {
	*tls.Conn
	r *bufio.Reader
}

// dialTLS connects to the load balancer at lb:port from clientIP with conf
// and returns the connection and its target's greeting.
func dialTLS(lb netip.Addr, port uint16, conf *tls.Config) (*tlsClient, string, error) {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: clientIP.AsSlice()}}
	conf = conf.Clone()
	conf.InsecureSkipVerify = true
	c, err := tls.DialWithDialer(d, "tcp4", netip.AddrPortFrom(lb, port).String(), conf)
	if err != nil {
		return nil, "", err
	}
	tc := &tlsClient{Conn: c, r: bufio.NewReader(c)}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := tc.r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, "", fmt.Errorf("read greeting: %w", err)
	}
	_ = c.SetReadDeadline(time.Time{})
	return tc, strings.TrimSpace(line), nil
}

func (c *tlsClient) served() string {
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func (c *tlsClient) echo(msg string) error {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	if got := strings.TrimSpace(line); got != msg {
		return fmt.Errorf("echo = %q, want %q", got, msg)
	}
	return nil
}

// A TLS listener terminates TLS with the certificate SNI chooses, forwards
// plain TCP to its target, and passes on a half-close both ways. It runs
// on the userspace plane beside the kernel plane.
func TestTLSListener(t *testing.T) {
	forEachPlane(t, func(t *testing.T, k planeKind) {
		a := startBackend(t, "a", "127.0.0.11", false)
		tt := newTLSTest(t, k, a, "TCP", nil)
		tt.extra = []string{"arn:sni"}
		tt.apply(t)
		for _, tc := range []struct{ sni, want string }{{"sni.example", "sni"}, {"other.example", "default"}, {"", "default"}} {
			c, greeting, err := dialTLS(zoneAAddr, tt.s.port, &tls.Config{ServerName: tc.sni})
			if err != nil {
				t.Fatalf("SNI %q: %v", tc.sni, err)
			}
			if c.served() != tc.want {
				t.Errorf("SNI %q: served %q, want %q", tc.sni, c.served(), tc.want)
			}
			if want := fmt.Sprintf("a %s", c.LocalAddr()); greeting == want {
				t.Errorf("greeting %q: the target saw the client's address without preserve_client_ip", greeting)
			}
			if err := c.echo("hello over TLS"); err != nil {
				t.Error(err)
			}
			c.Close()
		}

		c, _, err := dialTLS(zoneBAddr, tt.s.port, &tls.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "last words\n"); err != nil {
			t.Fatal(err)
		}
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		rest, err := io.ReadAll(c.r)
		if err != nil {
			t.Fatalf("read after close_notify: %v", err)
		}
		if diff := cmp.Diff("last words\nbye\n", string(rest)); diff != "" {
			t.Errorf("data after half-close (-want +got):\n%s", diff)
		}
	})
}

// The security policy decides the TLS versions a client may use.
func TestTLSPolicyVersions(t *testing.T) {
	a := startBackend(t, "a", "127.0.0.11", false)
	tt := newTLSTest(t, planeKind{name: "userspace"}, a, "TCP", nil)
	for _, tc := range []struct {
		policy   string
		version  uint16
		accepted bool
	}{
		{"ELBSecurityPolicy-TLS13-1-3-2021-06", tls.VersionTLS13, true},
		{"ELBSecurityPolicy-TLS13-1-3-2021-06", tls.VersionTLS12, false},
		{"ELBSecurityPolicy-TLS13-1-2-2021-06", tls.VersionTLS12, true},
		{"ELBSecurityPolicy-TLS13-1-2-2021-06", tls.VersionTLS11, false},
		{"ELBSecurityPolicy-TLS-1-2-2017-01", tls.VersionTLS13, false},
		{"ELBSecurityPolicy-2016-08", tls.VersionTLS10, true},
	} {
		tt.policy = tc.policy
		tt.apply(t)
		c, _, err := dialTLS(zoneAAddr, tt.s.port, &tls.Config{MinVersion: tc.version, MaxVersion: tc.version})
		if tc.accepted != (err == nil) {
			t.Errorf("%s, %s: err %v, want accepted %t", tc.policy, tls.VersionName(tc.version), err, tc.accepted)
		}
		if err == nil {
			if got := c.ConnectionState().Version; got != tc.version {
				t.Errorf("%s: version %s, want %s", tc.policy, tls.VersionName(got), tls.VersionName(tc.version))
			}
			c.Close()
		}
	}
}

// The ALPN policy decides the protocol negotiated with a client, as
// ELB's policies prefer.
func TestTLSALPN(t *testing.T) {
	a := startBackend(t, "a", "127.0.0.11", false)
	tt := newTLSTest(t, planeKind{name: "userspace"}, a, "TCP", nil)
	h1h2, h2h1 := []string{"http/1.1", "h2"}, []string{"h2", "http/1.1"}
	for _, tc := range []struct {
		policy string
		client []string
		want   string // "!" for a failed handshake
	}{
		{"HTTP2Preferred", h1h2, "h2"},
		{"HTTP2Optional", h2h1, "http/1.1"},
		{"HTTP2Only", h1h2, "h2"},
		{"HTTP1Only", h2h1, "http/1.1"},
		{"HTTP1Only", []string{"h2"}, "!"},
		{"HTTP2Only", []string{"http/1.0"}, "!"},
		{"None", h2h1, ""},
		{"HTTP2Preferred", nil, ""},
	} {
		tt.alpn = tc.policy
		tt.apply(t)
		c, _, err := dialTLS(zoneAAddr, tt.s.port, &tls.Config{NextProtos: tc.client})
		if tc.want == "!" {
			if err == nil {
				t.Errorf("%s, client %v: negotiated %q, want a failed handshake", tc.policy, tc.client, c.ConnectionState().NegotiatedProtocol)
				c.Close()
			}
			continue
		}
		if err != nil {
			t.Errorf("%s, client %v: %v", tc.policy, tc.client, err)
			continue
		}
		if got := c.ConnectionState().NegotiatedProtocol; got != tc.want {
			t.Errorf("%s, client %v: negotiated %q, want %q", tc.policy, tc.client, got, tc.want)
		}
		c.Close()
	}
}

// A client speaking plain TCP to a TLS listener never reaches a target.
func TestTLSPlainClientRefused(t *testing.T) {
	a := startBackend(t, "a", "127.0.0.11", false)
	tt := newTLSTest(t, planeKind{name: "userspace"}, a, "TCP", nil)
	tt.apply(t)
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: clientIP.AsSlice()}}
	c, err := d.Dial("tcp4", netip.AddrPortFrom(zoneAAddr, tt.s.port).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("plain connection still open")
	}
	if strings.Contains(string(got), "a ") {
		t.Errorf("plain client got %q from the target", got)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.conns) != 0 {
		t.Errorf("the target got %d connections from a plain client", len(a.conns))
	}
}

// A TLS target group gets TLS from kelb (its certificate unverified,
// the client's ALPN protocol offered), after the PROXY v2 header when the
// group asks for one; a TCP target group gets the header before the
// client's plain data.
func TestTLSTargetsAndProxyProtocol(t *testing.T) {
	for _, tc := range []struct {
		tgProtocol string
		proxy      bool
	}{{"TLS", false}, {"TLS", true}, {"TCP", true}} {
		t.Run(fmt.Sprintf("%s proxy=%t", tc.tgProtocol, tc.proxy), func(t *testing.T) {
			b := &backend{name: "a", proxy: tc.proxy}
			if tc.tgProtocol == "TLS" {
				b.tls = &tls.Config{Certificates: []tls.Certificate{*selfSigned(t, "target", true, "target.internal")}, NextProtos: []string{"h2", "http/1.1"}}
			}
			a := startBackendOf(t, b, "127.0.0.11")
			tt := newTLSTest(t, planeKind{name: "userspace"}, a, tc.tgProtocol, map[string]string{attrProxyProtocolV2: fmt.Sprint(tc.proxy)})
			tt.alpn = "HTTP2Preferred"
			tt.apply(t)
			c, greeting, err := dialTLS(zoneBAddr, tt.s.port, &tls.Config{NextProtos: []string{"h2"}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			want := "a "
			if tc.proxy {
				want += fmt.Sprintf("%s to %s", c.LocalAddr(), netip.AddrPortFrom(zoneBAddr, tt.s.port))
			}
			if tc.tgProtocol == "TLS" {
				if !tc.proxy {
					_, src, _ := strings.Cut(greeting, " ")
					src, _, _ = strings.Cut(src, " ")
					want += src
				}
				want += " alpn=h2"
			}
			if !tc.proxy && tc.tgProtocol != "TLS" {
				want = greeting
			}
			if greeting != want {
				t.Errorf("greeting %q, want %q", greeting, want)
			}
			if err := c.echo("through two TLS connections"); err != nil {
				t.Error(err)
			}
		})
	}
}

// Session tickets resume a client's session, also after a reconfiguration
// that leaves the listener's TLS settings as they were.
func TestTLSSessionResumption(t *testing.T) {
	a := startBackend(t, "a", "127.0.0.11", false)
	tt := newTLSTest(t, planeKind{name: "userspace"}, a, "TCP", nil)
	tt.apply(t)
	conf := &tls.Config{ClientSessionCache: tls.NewLRUClientSessionCache(4), ServerName: "default.example"}
	connect := func() bool {
		t.Helper()
		c, _, err := dialTLS(zoneAAddr, tt.s.port, conf)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// TLS 1.3 tickets arrive after the handshake: read the greeting
		// (done) and one echo so the ticket is in the cache.
		if err := c.echo("x"); err != nil {
			t.Fatal(err)
		}
		return c.ConnectionState().DidResume
	}
	if connect() {
		t.Error("first connection resumed")
	}
	if !connect() {
		t.Error("second connection did not resume")
	}
	b := startBackend(t, "b", "127.0.0.12", false)
	tt.s.targets = append(tt.s.targets, b.target("zone-a"))
	tt.apply(t)
	if !connect() {
		t.Error("a connection after a reconfiguration did not resume")
	}
}

// A TLS listener whose certificate cannot be loaded is reported, and its
// open socket goes on serving its previous configuration.
func TestTLSBadCertificateKeepsServing(t *testing.T) {
	a := startBackend(t, "a", "127.0.0.11", false)
	tt := newTLSTest(t, planeKind{name: "userspace"}, a, "TCP", nil)
	tt.apply(t)
	tt.extra = []string{"arn:missing"}
	if err := tt.p.Apply(tt.config()); err == nil || !strings.Contains(err.Error(), "arn:missing") {
		t.Errorf("Apply with a missing certificate: %v", err)
	}
	c, _, err := dialTLS(zoneAAddr, tt.s.port, &tls.Config{})
	if err != nil {
		t.Fatalf("listener after a failed Apply: %v", err)
	}
	c.Close()
}

// Failed handshakes are counted: a client's that offers no TLS version of
// the policy, and kelb's with a target of a TLS target group that does
// not speak TLS.
func TestTLSMetrics(t *testing.T) {
	a := startBackend(t, "a", "127.0.0.11", false)
	reg := prometheus.NewRegistry()
	tt := newTLSTest(t, planeKind{name: "userspace"}, a, "TLS", nil)
	tt.p = newPlane(t, Options{Registerer: reg, Certificates: tt.certs})
	tt.apply(t)
	if _, _, err := dialTLS(zoneAAddr, tt.s.port, &tls.Config{MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10}); err == nil {
		t.Fatal("TLS 1.1 client accepted")
	}
	if _, _, err := dialTLS(zoneAAddr, tt.s.port, &tls.Config{}); err == nil {
		t.Fatal("connection to a target that does not speak TLS succeeded")
	}
	eventually(t, "both failures to be counted", func() bool {
		m := metricValues(t, reg)
		return m["kelb_nlb_client_tls_negotiation_errors_total"] == 1 && m["kelb_nlb_target_tls_negotiation_errors_total"] == 1
	})
}

// A TLS listener's target group with preserve_client_ip.enabled sees the
// client's address, as on a TCP listener.
func TestTLSPreserveClientIP(t *testing.T) {
	a := startBackend(t, "a", "127.0.0.11", false)
	tt := newTLSTest(t, planeKind{name: "userspace"}, a, "TCP", map[string]string{attrPreserveClientIP: "true"})
	tt.apply(t)
	c, greeting, err := dialTLS(zoneAAddr, tt.s.port, &tls.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, src, _ := strings.Cut(greeting, " ")
	got, err := netip.ParseAddrPort(src)
	if err != nil {
		t.Fatalf("target saw source %q: %v", src, err)
	}
	if got.Addr() != clientIP {
		t.Errorf("target saw the connection from %s, want the client's %s", got.Addr(), clientIP)
	}
}
