package elb

import (
	"net/netip"
	"time"

	"github.com/kelb-io/kelb/internal/secgroup"
)

// Load balancer types, as ELBv2 names them.
const (
	TypeNetwork     = "network"
	TypeApplication = "application"
)

// Load balancer states.
const (
	StateProvisioning = "provisioning"
	StateActive       = "active"
	StateFailed       = "failed"
)

// Zone is an availability zone of the server: a name, the subnet id that
// CreateLoadBalancer's Subnets selects it by, the pool that load balancer
// addresses in this zone come from, and the networks whose addresses are
// targets in this zone (a target registered without an AvailabilityZone
// gets the zone whose TargetCIDRs contain its address, as AWS derives it
// from the subnet). IPv6Pool, when valid, is the zone's IPv6 network
// (the subnet's IPv6 CIDR block): dualstack load balancers get an IPv6
// address in the zone from it; a zone without one takes IPv4 load
// balancers only.
type Zone struct {
	Name        string
	SubnetID    string
	Pool        netip.Prefix
	IPv6Pool    netip.Prefix
	TargetCIDRs []netip.Prefix
}

// ZoneAddress is a load balancer's presence in one zone: its IPv4 address
// and, for a dualstack load balancer, its IPv6 address and (an NLB with
// EnablePrefixForIpv6SourceNat on) its source NAT prefix.
type ZoneAddress struct {
	Zone        string
	SubnetID    string
	Address     netip.Addr
	IPv6Address netip.Addr `json:",omitzero"`
	// SourceNatIPv6Prefix is a /80 in CIDR notation, or empty.
	SourceNatIPv6Prefix string `json:",omitempty"`
}

// Addresses returns the zone's addresses the load balancer listens on: the
// IPv4 address, then the IPv6 address when it has one.
func (z ZoneAddress) Addresses() []netip.Addr {
	out := make([]netip.Addr, 0, 2)
	if z.Address.IsValid() {
		out = append(out, z.Address)
	}
	if z.IPv6Address.IsValid() {
		out = append(out, z.IPv6Address)
	}
	return out
}

// Tag is a resource tag. Tags keep the order in which they were added.
type Tag struct {
	Key   string
	Value string
}

// LoadBalancer is a network or application load balancer.
type LoadBalancer struct {
	ARN           string
	Name          string
	Type          string // TypeNetwork or TypeApplication
	Scheme        string // internet-facing or internal
	IPAddressType string // ipv4, dualstack or dualstack-without-public-ipv4
	// EnablePrefixForIPv6SourceNat is a network load balancer's "on" or
	// "off" (empty is off).
	EnablePrefixForIPv6SourceNat string `json:",omitempty"`
	DNSName                      string
	State                        string
	CreatedTime                  time.Time
	Zones                        []ZoneAddress
	// SecurityGroups are the ids of the load balancer's security groups
	// (package secgroup), as CreateLoadBalancer and SetSecurityGroups set
	// them; the listeners admit the clients their ingress rules allow (see
	// Admission).
	SecurityGroups []string
	// EnforcePrivateLinkInbound is an NLB's
	// EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic ("on" or
	// "off"); empty for a load balancer without security groups.
	EnforcePrivateLinkInbound string `json:",omitempty"`
	// Attributes hold every attribute key of the load balancer's type, with
	// defaults filled in.
	Attributes map[string]string
	Tags       []Tag
}

// Listener is a protocol and port on every address of its load balancer.
type Listener struct {
	ARN             string
	LoadBalancerARN string
	Protocol        string // TCP, UDP, TCP_UDP, TLS, HTTP, HTTPS
	Port            int32
	DefaultActions  []Action
	Certificates    []Certificate
	SslPolicy       string
	AlpnPolicy      []string
	// MutualAuthentication is an HTTPS listener's mutual TLS; nil is
	// mode off.
	MutualAuthentication *MutualAuthentication `json:",omitempty"`
	Attributes           map[string]string
	Tags                 []Tag
	// DefaultRuleTags are the tags of the listener's default rule, which
	// is not stored apart (defaultRuleARN).
	DefaultRuleTags []Tag `json:",omitempty"`
}

// Certificate is a certificate bound to a listener.
type Certificate struct {
	ARN       string
	IsDefault bool
}

// Action is what a listener (or a rule) does with a request or flow. A
// listener or rule runs its actions by Order: at most one authenticate
// action (authenticate-oidc, authenticate-cognito, jwt-validation), then
// exactly one terminal action (forward, redirect, fixed-response).
type Action struct {
	Type           string // forward, redirect, fixed-response, authenticate-oidc, authenticate-cognito, jwt-validation
	Order          int32
	TargetGroupARN string
	Forward        *ForwardConfig
	Redirect       *RedirectConfig
	FixedResponse  *FixedResponseConfig
	// AuthenticateOidc, AuthenticateCognito and JwtValidation configure
	// the authenticate actions (actions_auth.go).
	AuthenticateOidc    *AuthenticateOidcConfig    `json:",omitempty"`
	AuthenticateCognito *AuthenticateCognitoConfig `json:",omitempty"`
	JwtValidation       *JwtValidationConfig       `json:",omitempty"`
}

// ForwardConfig spreads traffic over weighted target groups.
type ForwardConfig struct {
	TargetGroups               []WeightedTargetGroup
	StickinessEnabled          bool
	StickinessDurationSeconds  int32
	StickinessDurationExplicit bool
}

// WeightedTargetGroup is one target group of a forward action.
type WeightedTargetGroup struct {
	TargetGroupARN string
	Weight         int32
}

// RedirectConfig is an ALB redirect action.
type RedirectConfig struct {
	Protocol   string
	Port       string
	Host       string
	Path       string
	Query      string
	StatusCode string // HTTP_301 or HTTP_302
}

// FixedResponseConfig is an ALB fixed-response action.
type FixedResponseConfig struct {
	StatusCode  string
	ContentType string
	MessageBody string
}

// Rule is an ALB listener rule.
type Rule struct {
	ARN         string
	ListenerARN string
	Priority    string // a number, or "default"
	Conditions  []RuleCondition
	Actions     []Action
	// Transforms rewrite a matching request before its action runs.
	Transforms []RuleTransform `json:",omitempty"`
	IsDefault  bool
	Tags       []Tag
}

// RuleCondition is one condition of a rule.
type RuleCondition struct {
	Field      string // host-header, path-pattern, http-header, http-request-method, query-string, source-ip
	Values     []string
	HeaderName string            // http-header only
	QueryPairs []QueryStringPair // query-string only
	// RegexValues are regular expressions (CompileRegex) a host-header,
	// path-pattern or http-header condition matches instead of Values.
	RegexValues []string `json:",omitempty"`
}

// QueryStringPair is a key/value pair of a query-string condition.
type QueryStringPair struct {
	Key   string
	Value string
}

// HealthCheck is a target group's health check settings.
type HealthCheck struct {
	Enabled            bool
	Protocol           string // TCP, HTTP, HTTPS
	Port               string // "traffic-port" or a number
	Path               string
	IntervalSeconds    int32
	TimeoutSeconds     int32
	HealthyThreshold   int32
	UnhealthyThreshold int32
	Matcher            Matcher
}

// Matcher is the set of response codes a health check accepts.
type Matcher struct {
	HTTPCode string // "200", "200-399", "200,202"
	GrpcCode string
}

// TargetGroup is a set of targets with their health check settings.
type TargetGroup struct {
	ARN             string
	Name            string
	Protocol        string
	ProtocolVersion string // HTTP1, HTTP2, GRPC (application only)
	Port            int32
	TargetType      string // ip, instance
	IPAddressType   string
	VpcID           string
	HealthCheck     HealthCheck
	Attributes      map[string]string
	Targets         []Target
	Tags            []Tag
	CreatedTime     time.Time
}

// Target is a registered target. Id is an IP address for both target types.
type Target struct {
	// ID is the target's address, also for an instance target registered
	// by instance id (InstanceID).
	ID string
	// InstanceID is the instance id an instance target was registered by;
	// the API reports it as the target's Id.
	InstanceID       string `json:",omitempty"`
	Port             int32
	AvailabilityZone string
	RegisteredAt     time.Time
	// DeregisteredAt is set when the target was deregistered: it drains
	// until DeregisteredAt plus the group's deregistration delay, then it is
	// removed.
	DeregisteredAt time.Time
}

// Draining reports whether t has been deregistered and is draining.
func (t Target) Draining() bool { return !t.DeregisteredAt.IsZero() }

// Target health states and reason codes, exactly as ELBv2 reports them.
const (
	HealthInitial           = "initial"
	HealthHealthy           = "healthy"
	HealthUnhealthy         = "unhealthy"
	HealthUnhealthyDraining = "unhealthy.draining"
	HealthUnused            = "unused"
	HealthDraining          = "draining"
	HealthUnavailable       = "unavailable"

	ReasonRegistrationInProgress   = "Elb.RegistrationInProgress"
	ReasonInitialHealthChecking    = "Elb.InitialHealthChecking"
	ReasonResponseCodeMismatch     = "Target.ResponseCodeMismatch"
	ReasonTimeout                  = "Target.Timeout"
	ReasonFailedHealthChecks       = "Target.FailedHealthChecks"
	ReasonNotRegistered            = "Target.NotRegistered"
	ReasonNotInUse                 = "Target.NotInUse"
	ReasonDeregistrationInProgress = "Target.DeregistrationInProgress"
	ReasonInvalidState             = "Target.InvalidState"
	ReasonIPUnusable               = "Target.IpUnusable"
	ReasonHealthCheckDisabled      = "Target.HealthCheckDisabled"
	ReasonInternalError            = "Elb.InternalError"
)

// TargetHealth is the health of one target as DescribeTargetHealth reports it.
type TargetHealth struct {
	State       string
	Reason      string
	Description string
}

// TargetKey names a target within a target group.
type TargetKey struct {
	ID   string
	Port int32
}

// HealthView answers the current health of targets. The health checker
// implements it; the service reads it for DescribeTargetHealth and the data
// plane for its target sets.
type HealthView interface {
	// TargetHealth returns the health of target k of target group tg, and
	// false when the checker has no verdict for it yet.
	TargetHealth(tg string, k TargetKey) (TargetHealth, bool)
}

// State is the whole configuration at one revision: what the data plane and
// the health checker are built from.
type State struct {
	Revision      int64
	LoadBalancers []LoadBalancer
	Listeners     []Listener
	Rules         []Rule
	TargetGroups  []TargetGroup
	// SecurityGroups are every security group, for Admission.
	SecurityGroups []secgroup.SecurityGroup
	// TrustStores are every trust store's bundle and revocation lists, by
	// ARN, for listeners' mutual TLS.
	TrustStores map[string]TrustStoreMaterial
}
