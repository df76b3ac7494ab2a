package ingress

import (
	"strings"

	"github.com/kelb-io/kelb/internal/controller/elbv2deploy"
)

// Tags that tie a kelb server resource to the IngressGroup it was made for,
// the AWS Load Balancer Controller's: deploy finds what exists from tags
// alone.
const (
	TagCluster  = elbv2deploy.TagCluster
	TagStack    = "ingress.k8s.aws/stack"
	TagResource = "ingress.k8s.aws/resource"

	// ResourceLoadBalancer is the TagResource value of a group's load
	// balancer; listeners carry their port, target groups
	// "<namespace>/<ingress>-<service>:<port>".
	ResourceLoadBalancer = "LoadBalancer"
)

// Labels on the TargetGroupBindings made for a group: stack-namespace and
// stack-name for an implicit group, stack for an explicit one.
const (
	LabelStack          = "ingress.k8s.aws/stack"
	LabelStackNamespace = "ingress.k8s.aws/stack-namespace"
	LabelStackName      = "ingress.k8s.aws/stack-name"
)

// ListenerAttributeSourceRanges is the kelb listener attribute that carries
// the networks allowed to reach a listener (inbound-cidrs), comma-separated.
// kelb server refuses connections from any other source.
const ListenerAttributeSourceRanges = elbv2deploy.ListenerAttributeSourceRanges

// Action types.
const (
	ActionForward       = "forward"
	ActionRedirect      = "redirect"
	ActionFixedResponse = "fixed-response"
)

// Stack is the desired state of one IngressGroup's application load
// balancer: what deploy makes kelb server hold. Build makes it; it
// serialises to JSON. Its ID is the group's ID (GroupID.String), the value
// of TagStack.
type Stack = elbv2deploy.Stack[Listener, TargetGroup]

// LoadBalancer is the desired application load balancer.
type LoadBalancer = elbv2deploy.LoadBalancer

// Listener is a desired listener, one per listen port of the group.
type Listener struct {
	Port     int32  `json:"port"`
	Protocol string `json:"protocol"`
	// SSLPolicy and Certificates are set for HTTPS listeners; the first
	// certificate is the default one.
	SSLPolicy    string        `json:"sslPolicy,omitempty"`
	Certificates []Certificate `json:"certificates,omitempty"`
	// MutualAuthentication is an HTTPS listener's mutual TLS (mtls.go);
	// nil leaves the listener's as it is.
	MutualAuthentication *MutualAuthentication `json:"mutualAuthentication,omitempty"`
	DefaultAction        Action                `json:"defaultAction"`
	Rules                []Rule                `json:"rules,omitempty"`
	Attributes           map[string]string     `json:"attributes,omitempty"`
	Tags                 map[string]string     `json:"tags"`
}

// Certificate is a listener certificate: an ARN given by annotation, a
// Kubernetes TLS Secret ("<namespace>/<name>") that deploy imports into
// kelb's certificate store, hosts whose certificates deploy discovers in
// the store, or a certificate deploy has kelb server issue
// (create-acm-cert). Exactly one field is set.
type Certificate struct {
	ARN    string `json:"arn,omitempty"`
	Secret string `json:"secret,omitempty"`
	// Discover: the ISSUED certificates covering these hosts (sorted),
	// every one of them, as the AWS Load Balancer Controller's
	// certificate discovery finds them.
	Discover []string            `json:"discover,omitempty"`
	Request  *CertificateRequest `json:"request,omitempty"`
}

// CertificateRequest is a certificate an Ingress asks the controller to
// have issued (create-acm-cert): one per Ingress, for all its hosts, found
// again by its tags.
type CertificateRequest struct {
	// ResourceID tells the Ingress's certificate apart in the stack
	// (TagResource), as the AWS Load Balancer Controller names it:
	// amazon_issued/<domain name, * as wildcard>-<8 hex of the Ingress's
	// namespace/name>.
	ResourceID              string            `json:"resourceID"`
	DomainName              string            `json:"domainName"`
	SubjectAlternativeNames []string          `json:"subjectAlternativeNames"`
	Tags                    map[string]string `json:"tags"`
}

// key identifies c among a listener's certificates.
func (c Certificate) key() string {
	switch {
	case c.Request != nil:
		return "request:" + c.Request.ResourceID
	case c.Discover != nil:
		return "discover:" + strings.Join(c.Discover, ",")
	case c.Secret != "":
		return "secret:" + c.Secret
	}
	return "arn:" + c.ARN
}

// Rule is a desired listener rule.
type Rule struct {
	Priority   int32       `json:"priority"`
	Conditions []Condition `json:"conditions"`
	Action     Action      `json:"action"`
	// Transforms rewrite a matching request's host or URL before its
	// action (the transforms.<service name> annotation).
	Transforms []Transform `json:"transforms,omitempty"`
}

// Transform is a rule transform, in the ELBv2 API's terms:
// host-header-rewrite or url-rewrite, with its rewrites.
type Transform struct {
	Type     string    `json:"type"`
	Rewrites []Rewrite `json:"rewrites"`
}

// Rewrite replaces what Regex matches with Replace ($1 for a capture).
type Rewrite struct {
	Regex   string `json:"regex"`
	Replace string `json:"replace"`
}

// Condition is a rule condition, in the ELBv2 API's terms.
type Condition struct {
	Field string `json:"field"`
	// Values of host-header, path-pattern, http-header,
	// http-request-method and source-ip conditions.
	Values []string `json:"values,omitempty"`
	// HeaderName of an http-header condition.
	HeaderName string `json:"headerName,omitempty"`
	// QueryPairs of a query-string condition.
	QueryPairs []QueryPair `json:"queryPairs,omitempty"`
	// RegexValues of a host-header, path-pattern or http-header
	// condition, instead of Values.
	RegexValues []string `json:"regexValues,omitempty"`
}

// QueryPair is a key (optional) and value of a query-string condition.
type QueryPair struct {
	Key   string `json:"key,omitempty"`
	Value string `json:"value"`
}

// Action is a rule's or a listener's action.
type Action struct {
	Type          string               `json:"type"`
	Forward       *ForwardAction       `json:"forward,omitempty"`
	Redirect      *RedirectAction      `json:"redirect,omitempty"`
	FixedResponse *FixedResponseAction `json:"fixedResponse,omitempty"`
	// Authenticate runs first, on HTTPS listeners: the authentication
	// the backend's annotations ask for (auth.go).
	Authenticate *AuthenticateAction `json:"authenticate,omitempty"`
}

// ForwardAction forwards to weighted target groups.
type ForwardAction struct {
	TargetGroups []WeightedTargetGroup `json:"targetGroups"`
	// StickinessSeconds is the group stickiness duration; 0 when off.
	StickinessSeconds int32 `json:"stickinessSeconds,omitempty"`
}

// WeightedTargetGroup is a target group of the stack (by ResourceID) or
// any target group (by ARN), with its weight.
type WeightedTargetGroup struct {
	TargetGroup string `json:"targetGroup,omitempty"`
	ARN         string `json:"arn,omitempty"`
	// Name is a target group made outside the stack, by name (an
	// actions annotation's targetGroupName); deploy resolves it to its
	// ARN with DescribeTargetGroups.
	Name   string `json:"name,omitempty"`
	Weight int32  `json:"weight"`
}

// RedirectAction is a redirect; empty fields keep the request's part.
type RedirectAction struct {
	Protocol   string `json:"protocol,omitempty"`
	Port       string `json:"port,omitempty"`
	Host       string `json:"host,omitempty"`
	Path       string `json:"path,omitempty"`
	Query      string `json:"query,omitempty"`
	StatusCode string `json:"statusCode"`
}

// FixedResponseAction answers with a fixed response.
type FixedResponseAction struct {
	StatusCode  string `json:"statusCode"`
	ContentType string `json:"contentType,omitempty"`
	MessageBody string `json:"messageBody,omitempty"`
}

// TargetGroup is a desired target group: one per backend Service port of
// each Ingress.
type TargetGroup struct {
	// ResourceID is "<namespace>/<ingress>-<service>:<port>", the value of
	// TagResource.
	ResourceID      string            `json:"resourceID"`
	Name            string            `json:"name"`
	Protocol        string            `json:"protocol"`
	ProtocolVersion string            `json:"protocolVersion"`
	Port            int32             `json:"port"`
	TargetType      string            `json:"targetType"`
	IPAddressType   string            `json:"ipAddressType"`
	HealthCheck     HealthCheck       `json:"healthCheck"`
	Attributes      map[string]string `json:"attributes,omitempty"`
	Tags            map[string]string `json:"tags"`
}

// HealthCheck is a target group's desired health check.
type HealthCheck = elbv2deploy.HealthCheck

// TargetGroupBinding is a desired TargetGroupBinding object. Its
// Spec.TargetGroupARN is empty until deploy knows the target group's ARN.
type TargetGroupBinding = elbv2deploy.TargetGroupBinding
