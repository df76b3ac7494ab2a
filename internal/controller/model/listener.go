package model

import "strings"

// Listener is a desired listener: one per port of the load balancer.
type Listener struct {
	Port     int32  `json:"port"`
	Protocol string `json:"protocol"`
	// SSLPolicy and Certificates are set for TLS and HTTPS listeners; the
	// first certificate is the default one.
	SSLPolicy    string        `json:"sslPolicy,omitempty"`
	Certificates []Certificate `json:"certificates,omitempty"`
	// ALPNPolicy of a TLS listener; empty negotiates none.
	ALPNPolicy string `json:"alpnPolicy,omitempty"`
	// MutualAuthentication is an HTTPS listener's mutual TLS; nil leaves
	// the listener's as it is.
	MutualAuthentication *MutualAuthentication `json:"mutualAuthentication,omitempty"`
	// DefaultAction is what the listener does with a request (or
	// connection) no rule matches. A network load balancer's listener
	// forwards to one target group (NetworkForward).
	DefaultAction Action `json:"defaultAction"`
	// Rules are the listener's rules, by priority; application load
	// balancers only.
	Rules []Rule `json:"rules,omitempty"`
	// Attributes hold only the attributes the Kubernetes object sets.
	Attributes map[string]string `json:"attributes,omitempty"`
	Tags       map[string]string `json:"tags"`
}

// Certificate is a listener certificate: an ARN, a Kubernetes TLS Secret
// ("<namespace>/<name>") that deploy imports into kelb's certificate
// store, hosts whose certificates deploy discovers in the store, or a
// certificate deploy has kelb server issue. Exactly one field is set.
type Certificate struct {
	ARN    string `json:"arn,omitempty"`
	Secret string `json:"secret,omitempty"`
	// Discover: the ISSUED certificates covering these hosts (sorted),
	// every one of them, as the AWS Load Balancer Controller's
	// certificate discovery finds them.
	Discover []string            `json:"discover,omitempty"`
	Request  *CertificateRequest `json:"request,omitempty"`
}

// Key identifies c among a listener's certificates.
func (c Certificate) Key() string {
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

// CertificateRequest is a certificate the controller has issued for a
// Kubernetes object (an Ingress's create-acm-cert): found again by its
// tags.
type CertificateRequest struct {
	// ResourceID tells the certificate apart in the stack (the resource
	// tag), as the AWS Load Balancer Controller names it:
	// amazon_issued/<domain name, * as wildcard>-<8 hex of the object's
	// namespace/name>.
	ResourceID              string            `json:"resourceID"`
	DomainName              string            `json:"domainName"`
	SubjectAlternativeNames []string          `json:"subjectAlternativeNames"`
	Tags                    map[string]string `json:"tags"`
}

// MutualAuthentication is an HTTPS listener's desired mutual TLS: mode
// off, passthrough or verify.
type MutualAuthentication struct {
	Port int32  `json:"port"`
	Mode string `json:"mode"`
	// TrustStore is a trust store name or ARN (verify mode); deploy
	// resolves a name with DescribeTrustStores.
	TrustStore                    string  `json:"trustStore,omitempty"`
	IgnoreClientCertificateExpiry *bool   `json:"ignoreClientCertificateExpiry,omitempty"`
	AdvertiseTrustStoreCaNames    *string `json:"advertiseTrustStoreCaNames,omitempty"`
}

// Rule is a desired listener rule.
type Rule struct {
	Priority   int32       `json:"priority"`
	Conditions []Condition `json:"conditions"`
	Action     Action      `json:"action"`
	// Transforms rewrite a matching request's host or URL before its
	// action.
	Transforms []Transform `json:"transforms,omitempty"`
}

// Condition is a rule condition, in the ELBv2 API's terms.
type Condition struct {
	// Field is host-header, path-pattern, http-header,
	// http-request-method, query-string or source-ip.
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

// Transform is a rule transform, in the ELBv2 API's terms:
// host-header-rewrite or url-rewrite, with its rewrites, or one of kelb's
// request header transforms.
type Transform struct {
	Type     string    `json:"type"`
	Rewrites []Rewrite `json:"rewrites"`
}

// Rewrite replaces what Regex matches with Replace ($1 for a capture).
type Rewrite struct {
	Regex   string `json:"regex"`
	Replace string `json:"replace"`
}

// Transform types.
const (
	TransformHostHeaderRewrite = "host-header-rewrite"
	TransformURLRewrite        = "url-rewrite"
	// kelb's own request header transforms (no ELBv2 equivalent): each
	// Rewrite's Regex is a header name, its Replace the value (empty for
	// a removal).
	TransformRequestHeaderSet    = "kelb:request-header-set"
	TransformRequestHeaderAdd    = "kelb:request-header-add"
	TransformRequestHeaderRemove = "kelb:request-header-remove"
)
