package dataplane

import "time"

// Config is everything the data plane runs: one Listener per socket and the
// target groups those sockets forward to. Build derives it from the store's
// state and the health view; Plane.Apply makes it so. Every field is a plain
// value (addresses are "ip:port" strings), so two Configs compare with go-cmp
// and a Config prints and serialises as it reads.
type Config struct {
	// Listeners are sorted by Protocol, then Address.
	Listeners []Listener
	// TargetGroups are the target groups the listeners forward to, sorted by
	// ARN.
	TargetGroups []TargetGroup
}

// Socket protocols of a Listener. An ELBv2 TCP_UDP listener becomes two
// Listeners, one of each. A TLS listener is a TCP socket whose
// connections kelb terminates TLS on (see TLSSettings).
const (
	ProtocolTCP = "TCP"
	ProtocolUDP = "UDP"
	ProtocolTLS = "TLS"
)

// How a Listener chose its Targets, from the most to the least usual.
const (
	// RoutingZonal: the healthy targets of the listener's zone (cross-zone
	// load balancing off).
	RoutingZonal = "zonal"
	// RoutingCrossZone: the healthy targets of every zone.
	RoutingCrossZone = "cross-zone"
	// RoutingFailover: cross-zone load balancing is off but the listener's
	// zone has no healthy target, so new flows go to the healthy targets of
	// the other zones rather than fail. NLB takes such a zone's address out
	// of the load balancer's DNS answer (DNS failover, which kelb's DNS
	// does too); the data plane still forwards the flows of clients that
	// reach the zone's address anyway, so that they succeed.
	RoutingFailover = "failover"
	// RoutingFailOpen: no target is healthy anywhere, so new flows go to every
	// registered target that is not draining (the NLB fail-open rule).
	RoutingFailOpen = "fail-open"
	// RoutingNoTargets: nothing to forward to; new connections are reset and
	// UDP datagrams dropped.
	RoutingNoTargets = "no-targets"
)

// Listener is one listening socket: an ELBv2 listener's protocol and port on
// one address (one zone) of its load balancer.
type Listener struct {
	ListenerARN string
	// LoadBalancer and TargetGroup are the metric labels, as CloudWatch
	// names them: "net/<name>/<id>" and "targetgroup/<name>/<id>".
	LoadBalancer   string
	Zone           string
	Protocol       string // ProtocolTCP, ProtocolUDP or ProtocolTLS
	Address        string // "198.19.1.4:80"
	TargetGroupARN string
	TargetGroup    string
	// Routing says how Targets were chosen.
	Routing string
	// Targets receive new flows, as "ip:port", sorted. Flows are spread over
	// them by Maglev hashing.
	Targets []string
	// IdleTimeout closes a TCP flow that has carried no data in either
	// direction for this long (tcp.idle_timeout.seconds).
	IdleTimeout time.Duration
	// TLS is how a TLS listener terminates its clients' TLS and reaches
	// its targets; nil for TCP and UDP.
	TLS *TLSSettings `json:",omitempty"`
	// ProxyProtocolV2 sends a PROXY protocol v2 header to the target before
	// any client data (TCP and TLS only).
	ProxyProtocolV2 bool
	// PreserveClientIP makes target connections come from the client's
	// address instead of the load balancer's.
	PreserveClientIP bool
	// SourceIPAffinity hashes only the client's address (stickiness type
	// source_ip), so every flow of one client goes to the same target.
	SourceIPAffinity bool
	// SourceRanges are the client networks the listener accepts, as CIDRs:
	// what the ingress rules of the load balancer's security groups and the
	// kelb.source_ranges.cidrs attribute admit (elb.Admission). Empty
	// accepts every client unless SourcesLimited. TCP connections from
	// elsewhere are reset at once, UDP datagrams from elsewhere dropped.
	SourceRanges []string
	// SourcesLimited makes SourceRanges apply even when empty: a listener
	// its security groups admit nobody to accepts no client.
	SourcesLimited bool `json:",omitempty"`
}

// TLSSettings are a TLS listener's certificates, security policy and ALPN
// policy, and how it reaches its targets.
type TLSSettings struct {
	// Certificates are ARNs in kelb's certificate store, the listener's
	// default first, then the listener certificates added to it.
	Certificates []string
	// SSLPolicy names an ELBSecurityPolicy-*.
	SSLPolicy string
	// ALPNPolicy is the listener's ALPN policy (None when empty).
	ALPNPolicy string `json:",omitempty"`
	// TargetTLS makes connections to targets TLS too (target group
	// protocol TLS), without verifying the target's certificate.
	TargetTLS bool `json:",omitempty"`
}

// AllSources reports whether the listener accepts every client.
func (l Listener) AllSources() bool { return !l.SourcesLimited && len(l.SourceRanges) == 0 }

// TargetGroup holds what the data plane needs to know about the registered
// targets of a target group beyond the Listeners' target lists: which
// existing connections to close.
type TargetGroup struct {
	ARN string
	// TerminateOnDeregistration closes a target's connections when the
	// target leaves the configuration at the end of its deregistration delay
	// (deregistration_delay.connection_termination.enabled).
	TerminateOnDeregistration bool
	// Targets are every registered target, draining ones included, sorted by
	// Address.
	Targets []TargetState
}

// TargetState is one registered target of a TargetGroup.
type TargetState struct {
	Address string // "ip:port"
	Zone    string
	Health  string // an elb.Health* state; "initial" when no verdict yet
	// CloseConnections closes the target's existing connections: it is
	// unhealthy (not unhealthy.draining), and either
	// target_health_state.unhealthy.connection_termination.enabled is true
	// or its unhealthy draining interval is over; and the group is not
	// failing open.
	CloseConnections bool
}
