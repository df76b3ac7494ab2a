package tlspolicy

import "fmt"

// ALPN policies of TLS listeners, as ELBv2 names them.
const (
	ALPNNone           = "None"
	ALPNHTTP1Only      = "HTTP1Only"
	ALPNHTTP2Only      = "HTTP2Only"
	ALPNHTTP2Optional  = "HTTP2Optional"
	ALPNHTTP2Preferred = "HTTP2Preferred"
)

// ALPN returns the application protocols a TLS listener with ALPN policy
// policy offers, in its order of preference (Go's server picks the first
// of them the client offers). None and "" negotiate no protocol. A client
// that offers ALPN but none of the listener's protocols fails the
// handshake (no_application_protocol), except that Go lets a client
// offering only http/1.1 through a listener that offers only h2, with no
// protocol negotiated.
func ALPN(policy string) ([]string, error) {
	switch policy {
	case "", ALPNNone:
		return nil, nil
	case ALPNHTTP1Only:
		return []string{"http/1.1", "http/1.0"}, nil
	case ALPNHTTP2Only:
		return []string{"h2"}, nil
	case ALPNHTTP2Optional:
		return []string{"http/1.1", "http/1.0", "h2"}, nil
	case ALPNHTTP2Preferred:
		return []string{"h2", "http/1.1", "http/1.0"}, nil
	}
	return nil, fmt.Errorf("unknown ALPN policy %q", policy)
}
