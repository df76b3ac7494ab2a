package ingress

import annot "github.com/kelb-io/kelb/internal/controller/annotations"

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

// AnnotationError is a malformed annotation: its key, its value and what is
// wrong with it.
type AnnotationError = annot.Error

// annotations reads the annotations of one object; every parse error names
// the annotation and its value.
type annotations = annot.Map
