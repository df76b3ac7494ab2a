package ingress

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// AnnotationPrefix is the prefix of every Ingress annotation kelb reads.
const AnnotationPrefix = "alb.ingress.kubernetes.io/"

// Ingress (and, for target group settings, Service) annotations, with the
// AWS Load Balancer Controller's names.
const (
	AnnotationGroupName              = AnnotationPrefix + "group.name"
	AnnotationGroupOrder             = AnnotationPrefix + "group.order"
	AnnotationScheme                 = AnnotationPrefix + "scheme"
	AnnotationIPAddressType          = AnnotationPrefix + "ip-address-type"
	AnnotationLoadBalancerName       = AnnotationPrefix + "load-balancer-name"
	AnnotationSubnets                = AnnotationPrefix + "subnets"
	AnnotationLoadBalancerAttributes = AnnotationPrefix + "load-balancer-attributes"
	AnnotationTags                   = AnnotationPrefix + "tags"
	AnnotationListenPorts            = AnnotationPrefix + "listen-ports"
	AnnotationSSLRedirect            = AnnotationPrefix + "ssl-redirect"
	AnnotationCertificateARN         = AnnotationPrefix + "certificate-arn"
	AnnotationSSLPolicy              = AnnotationPrefix + "ssl-policy"
	AnnotationCreateACMCert          = AnnotationPrefix + "create-acm-cert"
	AnnotationACMPCAARN              = AnnotationPrefix + "acm-pca-arn"
	AnnotationInboundCIDRs           = AnnotationPrefix + "inbound-cidrs"
	AnnotationTargetType             = AnnotationPrefix + "target-type"
	AnnotationBackendProtocol        = AnnotationPrefix + "backend-protocol"
	AnnotationBackendProtocolVersion = AnnotationPrefix + "backend-protocol-version"
	AnnotationTargetGroupAttributes  = AnnotationPrefix + "target-group-attributes"
	AnnotationTargetNodeLabels       = AnnotationPrefix + "target-node-labels"
	AnnotationHCPort                 = AnnotationPrefix + "healthcheck-port"
	AnnotationHCProtocol             = AnnotationPrefix + "healthcheck-protocol"
	AnnotationHCPath                 = AnnotationPrefix + "healthcheck-path"
	AnnotationHCInterval             = AnnotationPrefix + "healthcheck-interval-seconds"
	AnnotationHCTimeout              = AnnotationPrefix + "healthcheck-timeout-seconds"
	AnnotationHealthyThreshold       = AnnotationPrefix + "healthy-threshold-count"
	AnnotationUnhealthyThreshold     = AnnotationPrefix + "unhealthy-threshold-count"
	AnnotationSuccessCodes           = AnnotationPrefix + "success-codes"
	// AnnotationUseRegexPathMatch "true" makes ImplementationSpecific
	// paths regular expressions: "/^/api/(.+)$" is the regex
	// "^/api/(.+)$".
	AnnotationUseRegexPathMatch = AnnotationPrefix + "use-regex-path-match"
	// AnnotationListenerAttributesPrefix + <PROTOCOL>-<port> holds the
	// attributes of that listener.
	AnnotationListenerAttributesPrefix = AnnotationPrefix + "listener-attributes."

	// AnnotationActionsPrefix + <name> holds a custom action, used by a
	// backend naming <name> with port name "use-annotation".
	AnnotationActionsPrefix = AnnotationPrefix + "actions."
	// AnnotationConditionsPrefix + <name> holds extra conditions for the
	// rules whose backend is the Service or action <name>.
	AnnotationConditionsPrefix = AnnotationPrefix + "conditions."
)

// ignoredAnnotations are the AWS Load Balancer Controller's Ingress
// annotations that configure AWS-only resources or that kelb does not
// implement. They are accepted and reported, never silently dropped.
// Annotations that ask for protection kelb cannot give are not here: they
// are refused (refused.go).
var ignoredAnnotations = map[string]string{
	"manage-backend-security-group-rules":  "kelb has no backend (node) security groups: targets are reached directly",
	"security-group-prefix-lists":          "security groups are AWS-only",
	"waf-acl-id":                           "WAF is AWS-only",
	"wafv2-acl-arn":                        "WAF is AWS-only",
	"wafv2-acl-name":                       "WAF is AWS-only",
	"shield-advanced-protection":           "Shield is AWS-only",
	"customer-owned-ipv4-pool":             "customer-owned address pools are AWS-only",
	"ipam-ipv4-pool-id":                    "IPAM pools are AWS-only",
	"auth-on-unauthenticated-request":      "it only tunes authentication, which needs auth-type oidc or cognito",
	"auth-scope":                           "it only tunes authentication, which needs auth-type oidc or cognito",
	"auth-session-cookie":                  "it only tunes authentication, which needs auth-type oidc or cognito",
	"auth-session-timeout":                 "it only tunes authentication, which needs auth-type oidc or cognito",
	"minimum-load-balancer-capacity":       "capacity reservations are AWS-only",
	"enable-frontend-nlb":                  "frontend network load balancers are not supported by kelb",
	"frontend-nlb-scheme":                  "frontend network load balancers are not supported by kelb",
	"multi-cluster-target-group":           "multi-cluster target groups are not supported by kelb controller yet",
	"target-group-binding-network":         "security groups are AWS-only",
	"load-balancer-capacity-reservation":   "capacity reservations are AWS-only",
	"enable-cross-zone-load-balancing-alb": "application load balancers always balance across zones",
}

// AnnotationError is a malformed annotation: its key, its value and what is
// wrong with it.
type AnnotationError struct {
	Key    string
	Value  string
	Reason string
	// Unimplemented marks a well-formed annotation that asks for protection
	// kelb does not implement yet (authentication): the build
	// refuses it rather than deploy the load balancer without it.
	Unimplemented bool
}

func (e *AnnotationError) Error() string {
	if e.Unimplemented {
		return fmt.Sprintf("annotation %s=%q: %s: kelb does not implement it yet and refuses to deploy rather than serve without it", e.Key, e.Value, e.Reason)
	}
	return fmt.Sprintf("annotation %s: invalid value %q: %s", e.Key, e.Value, e.Reason)
}

// annotations reads the annotations of one object; every parse error names
// the annotation and its value.
type annotations map[string]string

func (a annotations) str(key string) (string, bool) {
	v, ok := a[key]
	return strings.TrimSpace(v), ok
}

func (a annotations) fail(key, reason string) *AnnotationError {
	return &AnnotationError{Key: key, Value: a[key], Reason: reason}
}

// oneOf reads a value that must be one of allowed.
func (a annotations) oneOf(key string, allowed ...string) (string, bool, error) {
	raw, ok := a.str(key)
	if !ok {
		return "", false, nil
	}
	for _, v := range allowed {
		if raw == v {
			return raw, true, nil
		}
	}
	return "", true, a.fail(key, "must be one of "+strings.Join(allowed, ", "))
}

// positive reads a positive integer.
func (a annotations) positive(key string, def int32) (int32, error) {
	raw, ok := a.str(key)
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseInt(raw, 10, 32)
	if err != nil || n <= 0 {
		return 0, a.fail(key, "not a positive integer")
	}
	return int32(n), nil
}

// list reads a comma-separated list; empty items are an error.
func (a annotations) list(key string) ([]string, error) {
	raw, ok := a.str(key)
	if !ok {
		return nil, nil
	}
	var out []string
	for _, item := range strings.Split(raw, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, a.fail(key, "empty item in comma-separated list")
		}
		out = append(out, item)
	}
	return out, nil
}

// stringMap reads "k1=v1,k2=v2". A key without "=" is an error; an empty
// value is allowed.
func (a annotations) stringMap(key string) (map[string]string, error) {
	items, err := a.list(key)
	if err != nil || items == nil {
		return nil, err
	}
	out := make(map[string]string, len(items))
	for _, item := range items {
		k, v, found := strings.Cut(item, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !found || k == "" {
			return nil, a.fail(key, fmt.Sprintf("%q is not key=value", item))
		}
		if _, dup := out[k]; dup {
			return nil, a.fail(key, fmt.Sprintf("key %q given twice", k))
		}
		out[k] = v
	}
	return out, nil
}

// cidrs reads a list of networks.
func (a annotations) cidrs(key string) ([]string, error) {
	items, err := a.list(key)
	if err != nil {
		return nil, err
	}
	for i, item := range items {
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, a.fail(key, fmt.Sprintf("%q is not a CIDR", item))
		}
		items[i] = p.Masked().String()
	}
	return items, nil
}

// json decodes a JSON annotation into v, refusing unknown fields' absence
// of structure (a string where an object is expected, and so on).
func (a annotations) json(key string, v any) (bool, error) {
	raw, ok := a.str(key)
	if !ok {
		return false, nil
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return true, a.fail(key, "not valid JSON for this annotation: "+err.Error())
	}
	if dec.More() {
		return true, a.fail(key, "trailing data after the JSON value")
	}
	return true, nil
}

// layered reads an annotation from the first of several objects that sets
// it: a Service's annotations override its Ingress's for target group
// settings, as in the AWS Load Balancer Controller.
type layered []annotations

func (l layered) source(key string) annotations {
	for _, a := range l {
		if _, ok := a[key]; ok {
			return a
		}
	}
	return annotations{}
}
