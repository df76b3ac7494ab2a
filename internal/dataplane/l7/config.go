package l7

import (
	"time"

	"github.com/kelb-io/kelb/internal/elb"
)

// Listener protocols.
const (
	ProtocolHTTP  = "HTTP"
	ProtocolHTTPS = "HTTPS"
)

// Routing modes of a target group: where its new requests go.
const (
	// RoutingHealthy: the healthy targets.
	RoutingHealthy = "healthy"
	// RoutingFailOpen: no target is healthy, so every registered target
	// that is not draining takes requests, as ALB does.
	RoutingFailOpen = "fail_open"
	// RoutingNoTargets: nothing to route to; requests get 503.
	RoutingNoTargets = "no_targets"
)

// Config is the whole L7 data plane: what Plane.Apply makes run.
type Config struct {
	Listeners    []Listener
	TargetGroups []TargetGroup
}

// Listener is one HTTP or HTTPS listener of an application load balancer on
// one of its zone addresses.
type Listener struct {
	ListenerARN string
	// LoadBalancer is the metrics label: app/<name>/<id>.
	LoadBalancer string
	// LoadBalancerARN signs the user claims of authenticate actions
	// (the signer field of x-amzn-oidc-data).
	LoadBalancerARN string `json:",omitempty"`
	Zone            string
	Protocol        string // HTTP or HTTPS
	Address         string // ip:port
	// Certificates are certificate ARNs, the default one first (HTTPS).
	Certificates []string
	SSLPolicy    string
	// HTTP2 offers h2 in ALPN (HTTPS) and accepts h2c with prior
	// knowledge (HTTP): routing.http2.enabled.
	HTTP2 bool
	// IdleTimeout closes client connections idle this long and bounds the
	// wait for a target's response headers (idle_timeout.timeout_seconds).
	IdleTimeout time.Duration
	// XFFMode is routing.http.xff_header_processing.mode: append,
	// preserve or remove.
	XFFMode string
	// Rules are the listener's rules by priority; DefaultActions apply
	// when none matches.
	Rules          []elb.Rule
	DefaultActions []elb.Action
	// SourceRanges are the client networks the listener accepts, as CIDRs
	// (elb.Admission: the load balancer's security groups and the
	// kelb.source_ranges.cidrs attribute); empty accepts every client
	// unless SourcesLimited. Connections from elsewhere are closed as soon
	// as they are accepted, before any byte is read.
	SourceRanges   []string `json:",omitempty"`
	SourcesLimited bool     `json:",omitempty"`
	// ResponseHeaders are set on every response, the target's own values
	// of them replaced (routing.http.response.*.header_value).
	ResponseHeaders []Header `json:",omitempty"`
	// NoServerHeader leaves ALB's Server header off the responses kelb
	// makes (routing.http.response.server.enabled false).
	NoServerHeader bool `json:",omitempty"`
	// TLSVersionHeader and TLSCipherHeader name the request headers that
	// carry the client connection's TLS version and cipher suite to the
	// target; empty, none is added (HTTPS listeners of load balancers with
	// routing.http.x_amzn_tls_version_and_cipher_suite.enabled).
	TLSVersionHeader string `json:",omitempty"`
	TLSCipherHeader  string `json:",omitempty"`
	// MutualAuth is the mutual TLS of an HTTPS listener (mtls.go); nil
	// is off.
	MutualAuth *MutualAuth `json:",omitempty"`
	// MTLSHeaderNames rename the mutual TLS headers, by default name
	// (routing.http.request.x_amzn_mtls_*.header_name).
	MTLSHeaderNames map[string]string `json:",omitempty"`
}

// TargetGroup is a target group some ALB listener or rule forwards to.
type TargetGroup struct {
	ARN string
	// Label is the metrics label: targetgroup/<name>/<id>.
	Label           string
	Protocol        string // HTTP or HTTPS to the targets
	ProtocolVersion string // HTTP1, HTTP2 or GRPC
	// Algorithm is round_robin or least_outstanding_requests
	// (weighted_random is served as round_robin).
	Algorithm string
	// Stickiness is "", lb_cookie or app_cookie.
	Stickiness         string
	StickinessDuration time.Duration
	AppCookieName      string
	SlowStart          time.Duration
	// ResponseTimeout is the load balancer's idle timeout: a target that
	// sends no response headers within it gets the request a 504.
	ResponseTimeout time.Duration
	// XFFMode is the mode of the load balancer that forwards here.
	XFFMode string
	Routing string
	// Targets are the addresses (ip:port) new requests may go to.
	Targets []string
}
