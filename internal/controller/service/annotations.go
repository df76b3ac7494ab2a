package service

import (
	"strings"

	annot "github.com/kelb-io/kelb/internal/controller/annotations"
)

// AnnotationPrefix is the prefix of every Service annotation kelb reads.
const AnnotationPrefix = "service.beta.kubernetes.io/"

// Service annotations, with the AWS Load Balancer Controller's names.
const (
	AnnotationLoadBalancerType     = AnnotationPrefix + "aws-load-balancer-type"
	AnnotationTargetType           = AnnotationPrefix + "aws-load-balancer-nlb-target-type"
	AnnotationName                 = AnnotationPrefix + "aws-load-balancer-name"
	AnnotationScheme               = AnnotationPrefix + "aws-load-balancer-scheme"
	AnnotationInternal             = AnnotationPrefix + "aws-load-balancer-internal"
	AnnotationIPAddressType        = AnnotationPrefix + "aws-load-balancer-ip-address-type"
	AnnotationProxyProtocol        = AnnotationPrefix + "aws-load-balancer-proxy-protocol"
	AnnotationTargetGroupAttrs     = AnnotationPrefix + "aws-load-balancer-target-group-attributes"
	AnnotationAttributes           = AnnotationPrefix + "aws-load-balancer-attributes"
	AnnotationCrossZone            = AnnotationPrefix + "aws-load-balancer-cross-zone-load-balancing-enabled"
	AnnotationListenerAttrs        = AnnotationPrefix + "aws-load-balancer-listener-attributes"
	AnnotationAdditionalTags       = AnnotationPrefix + "aws-load-balancer-additional-resource-tags"
	AnnotationTargetNodeLabels     = AnnotationPrefix + "aws-load-balancer-target-node-labels"
	AnnotationSubnets              = AnnotationPrefix + "aws-load-balancer-subnets"
	AnnotationSourceRanges         = AnnotationPrefix + "load-balancer-source-ranges"
	AnnotationHCProtocol           = AnnotationPrefix + "aws-load-balancer-healthcheck-protocol"
	AnnotationHCPort               = AnnotationPrefix + "aws-load-balancer-healthcheck-port"
	AnnotationHCPath               = AnnotationPrefix + "aws-load-balancer-healthcheck-path"
	AnnotationHCInterval           = AnnotationPrefix + "aws-load-balancer-healthcheck-interval"
	AnnotationHCTimeout            = AnnotationPrefix + "aws-load-balancer-healthcheck-timeout"
	AnnotationHCHealthyThreshold   = AnnotationPrefix + "aws-load-balancer-healthcheck-healthy-threshold"
	AnnotationHCUnhealthyThreshold = AnnotationPrefix + "aws-load-balancer-healthcheck-unhealthy-threshold"
	AnnotationHCSuccessCodes       = AnnotationPrefix + "aws-load-balancer-healthcheck-success-codes"
)

// Values of the load balancer type annotation.
const (
	// LoadBalancerTypeExternal hands the Service to this controller; the
	// target type comes from the target type annotation.
	LoadBalancerTypeExternal = "external"
	// LoadBalancerTypeNLBIP is the legacy value for an ip-mode NLB.
	LoadBalancerTypeNLBIP = "nlb-ip"
	// LoadBalancerTypeNLB is the in-tree cloud provider's value: kelb gives
	// such a Service an instance-mode load balancer, as that provider did.
	LoadBalancerTypeNLB = "nlb"
)

// ignoredAnnotations are the AWS Load Balancer Controller annotations that
// have no meaning in kelb (they configure AWS-only resources) or that kelb
// does not implement yet. They are accepted and reported, never silently
// dropped.
var ignoredAnnotations = map[string]string{
	"aws-load-balancer-manage-backend-security-group-rules":      "kelb has no backend (node) security groups: targets are reached directly",
	"aws-load-balancer-security-group-prefix-lists":              "security groups are AWS-only",
	"aws-load-balancer-inbound-sg-rules-on-private-link-traffic": "PrivateLink is AWS-only",
	"aws-load-balancer-disable-nlb-sg":                           "security groups are AWS-only",
	"aws-load-balancer-eip-allocations":                          "elastic IPs are AWS-only",
	"aws-load-balancer-eip-allocations-discovery-tags":           "elastic IPs are AWS-only",
	"aws-load-balancer-private-ipv4-addresses":                   "load balancer addresses come from kelb server's zone pools",
	"aws-load-balancer-ipv6-addresses":                           "load balancer addresses come from kelb server's zone pools",
	"aws-load-balancer-access-log-enabled":                       "access logs to S3 are AWS-only",
	"aws-load-balancer-access-log-s3-bucket-name":                "access logs to S3 are AWS-only",
	"aws-load-balancer-access-log-s3-bucket-prefix":              "access logs to S3 are AWS-only",
	"aws-load-balancer-minimum-load-balancer-capacity":           "capacity reservations are AWS-only",
	"aws-load-balancer-enable-icmp-for-path-mtu-discovery":       "security groups are AWS-only",
	"aws-load-balancer-multi-cluster-target-group":               "multi-cluster target groups are not supported by kelb controller yet",
	"aws-load-balancer-proxy-protocol-per-target-group":          "use aws-load-balancer-target-group-attributes.<port> instead",
	"aws-load-balancer-quic-enabled-ports":                       "QUIC listeners are not supported by kelb",
	"aws-load-balancer-enable-tcp-udp-listener":                  "kelb always merges a TCP and a UDP port of the same number into a TCP_UDP listener",
}

// implementedAnnotations are the annotations kelb controller reads (the
// per-listener forms are matched by their prefix in unknownAnnotation).
var implementedAnnotations = map[string]bool{
	AnnotationLoadBalancerType: true, AnnotationTargetType: true, AnnotationName: true,
	AnnotationScheme: true, AnnotationInternal: true, AnnotationIPAddressType: true,
	AnnotationProxyProtocol: true, AnnotationTargetGroupAttrs: true, AnnotationAttributes: true,
	AnnotationCrossZone: true, AnnotationListenerAttrs: true, AnnotationAdditionalTags: true,
	AnnotationTargetNodeLabels: true, AnnotationSubnets: true, AnnotationSourceRanges: true,
	AnnotationHCProtocol: true, AnnotationHCPort: true, AnnotationHCPath: true,
	AnnotationHCInterval: true, AnnotationHCTimeout: true, AnnotationHCHealthyThreshold: true,
	AnnotationHCUnhealthyThreshold: true, AnnotationHCSuccessCodes: true,
	AnnotationSSLCert: true, AnnotationSSLPorts: true, AnnotationSSLNegotiationPolicy: true,
	AnnotationBackendProtocol: true, AnnotationALPNPolicy: true,
	AnnotationSecurityGroups:               true,
	AnnotationEnablePrefixForIPv6SourceNat: true, AnnotationSourceNatIPv6Prefixes: true,
}

// unknownAnnotation reports whether key is an aws-load-balancer-
// annotation kelb neither reads nor lists in ignoredAnnotations: one the
// AWS Load Balancer Controller (or a newer release of it) defines that kelb
// does not know, reported as ignored rather than dropped silently.
func unknownAnnotation(key string) bool {
	suffix, ok := strings.CutPrefix(key, AnnotationPrefix)
	if !ok || !strings.HasPrefix(suffix, "aws-load-balancer-") || implementedAnnotations[key] {
		return false
	}
	if _, ignored := ignoredAnnotations[suffix]; ignored {
		return false
	}
	for _, perListener := range []string{AnnotationTargetGroupAttrs, AnnotationListenerAttrs} {
		if strings.HasPrefix(key, perListener+".") {
			return false
		}
	}
	return true
}

// AnnotationError is a malformed annotation: its key, its value and what is
// wrong with it.
type AnnotationError = annot.Error

// annotations reads the annotations of one object; every parse error names
// the annotation and its value.
type annotations = annot.Map
