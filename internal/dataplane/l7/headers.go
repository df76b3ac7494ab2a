package l7

import (
	"context"
	"crypto/tls"
	"net/http"
	"slices"

	"github.com/kelb-io/kelb/internal/dataplane/tlspolicy"
	"github.com/kelb-io/kelb/internal/elb"
)

// attrTLSHeaders is the load balancer attribute that adds the TLS version
// and cipher suite request headers on HTTPS listeners.
const attrTLSHeaders = "routing.http.x_amzn_tls_version_and_cipher_suite.enabled"

// Header is a response header a listener sets.
type Header struct {
	Name  string
	Value string
}

// responseHeaders returns the response headers a listener's
// routing.http.response.*.header_value attributes set, by name, and
// whether its routing.http.response.server.enabled is false.
func responseHeaders(attrs map[string]string) (headers []Header, noServer bool) {
	for k, name := range elb.ResponseHeaderAttrs {
		if v := attrs[k]; v != "" {
			headers = append(headers, Header{Name: name, Value: v})
		}
	}
	slices.SortFunc(headers, func(a, b Header) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return headers, attrs[elb.AttrResponseServerEnabled] == "false"
}

// tlsHeaderNames returns the names of the TLS version and cipher suite
// request headers of an HTTPS listener whose load balancer adds them,
// else empty names.
func tlsHeaderNames(lb, listener map[string]string, protocol string) (version, cipher string) {
	if protocol != ProtocolHTTPS || !elb.AttrBool(lb, attrTLSHeaders, false) {
		return "", ""
	}
	name := func(key string) string {
		if v := listener[key]; v != "" {
			return v
		}
		return elb.RequestHeaderNameAttrs[key]
	}
	return name(elb.AttrTLSVersionHeaderName), name(elb.AttrTLSCipherHeaderName)
}

// respHeaders is a listener's compiled response header settings.
type respHeaders struct {
	set      []Header
	lines    []byte // set as header lines, for the fast path
	noServer bool
}

func newRespHeaders(set []Header, noServer bool) respHeaders {
	h := respHeaders{set: set, noServer: noServer}
	for _, x := range set {
		h.lines = append(h.lines, x.Name+": "+x.Value+"\r\n"...)
	}
	return h
}

// overrides reports whether name (a response header line's name) is one
// the listener sets.
func (h *respHeaders) overrides(name []byte) bool {
	for i := range h.set {
		if asciiEqualFold(name, h.set[i].Name) {
			return true
		}
	}
	return false
}

// serverLine is the Server header line of responses kelb makes itself.
func (h *respHeaders) serverLine() string {
	if h.noServer {
		return ""
	}
	return "Server: awselb/2.0\r\n"
}

// prepare sets the listener's headers on w before anything answers: a
// response kelb makes keeps them, and a target's response has its own
// values of them dropped (dropOverridden). With the Server header off, a
// nil Server entry tells writeELBError to add none.
func (h *respHeaders) prepare(w http.ResponseWriter) {
	if len(h.set) == 0 && !h.noServer {
		return
	}
	hdr := w.Header()
	for _, x := range h.set {
		hdr[x.Name] = []string{x.Value}
	}
	if h.noServer {
		hdr["Server"] = nil
	}
}

// dropOverridden removes from a target's response the headers the
// listener sets (prepare has set them already).
func (h *respHeaders) dropOverridden(resp *http.Response) {
	for _, x := range h.set {
		delete(resp.Header, x.Name)
	}
}

// setServer sets ALB's Server header on a response kelb makes, unless
// prepare turned it off.
func setServer(h http.Header) {
	if v, ok := h["Server"]; ok && v == nil {
		return
	}
	h.Set("Server", "awselb/2.0")
}

// tlsStateKey carries the TLS state of a client connection that the fast
// path handed to net/http (which then sees no *tls.Conn).
type tlsStateKey struct{}

// connTLSContext is the net/http server's ConnContext: it keeps the TLS
// state of handed-over HTTPS connections.
func connTLSContext(ctx context.Context, c interface{}) context.Context {
	if hc, ok := c.(*handoffConn); ok {
		if tc, ok := hc.Conn.(*tls.Conn); ok {
			st := tc.ConnectionState()
			return context.WithValue(ctx, tlsStateKey{}, &st)
		}
	}
	return ctx
}

// requestTLS returns the TLS state of r's client connection, nil for
// plain HTTP.
func requestTLS(r *http.Request) *tls.ConnectionState {
	if r.TLS != nil {
		return r.TLS
	}
	st, _ := r.Context().Value(tlsStateKey{}).(*tls.ConnectionState)
	return st
}

// tlsHeaderValues returns the X-Amzn-Tls-Version and
// X-Amzn-Tls-Cipher-Suite values of a connection: "TLSv1.2" and the
// OpenSSL name of the suite, as ALB sends them.
func tlsHeaderValues(st *tls.ConnectionState) (version, cipher string) {
	return tlspolicy.VersionName(st.Version), tlspolicy.CipherName(st.CipherSuite)
}
