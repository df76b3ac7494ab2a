package service

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kelb-io/kelb/internal/controller/model"
)

// TLS listener annotations: the AWS Load Balancer Controller's, and kelb's
// for certificates kept in Kubernetes TLS Secrets.
const (
	AnnotationSSLCert              = AnnotationPrefix + "aws-load-balancer-ssl-cert"
	AnnotationSSLPorts             = AnnotationPrefix + "aws-load-balancer-ssl-ports"
	AnnotationSSLNegotiationPolicy = AnnotationPrefix + "aws-load-balancer-ssl-negotiation-policy"
	AnnotationBackendProtocol      = AnnotationPrefix + "aws-load-balancer-backend-protocol"
	AnnotationALPNPolicy           = AnnotationPrefix + "aws-load-balancer-alpn-policy"
	// AnnotationSSLCertSecrets names TLS Secrets of the Service's
	// namespace, comma-separated: kelb controller imports their
	// certificates into kelb's certificate store and gives them to the
	// TLS listeners after the aws-load-balancer-ssl-cert ARNs (the first
	// of all is the default certificate).
	AnnotationSSLCertSecrets = AnnotationPrefix + "kelb-ssl-cert-secrets"
)

// DefaultSSLPolicy is the security policy of TLS listeners of a Service
// without aws-load-balancer-ssl-negotiation-policy, the AWS Load Balancer
// Controller's default.
const DefaultSSLPolicy = "ELBSecurityPolicy-2016-08"

// Backend protocols of aws-load-balancer-backend-protocol.
const (
	backendProtocolSSL = "ssl"
	backendProtocolTCP = "tcp"
)

var alpnPolicies = []string{"None", "HTTP1Only", "HTTP2Only", "HTTP2Optional", "HTTP2Preferred"}

// tlsAnnotations are the annotations that act only on TLS listeners: a
// Service without one reports them as ignored.
var tlsAnnotations = []string{AnnotationSSLCert, AnnotationSSLCertSecrets, AnnotationSSLPorts,
	AnnotationSSLNegotiationPolicy, AnnotationBackendProtocol, AnnotationALPNPolicy}

// tlsSettings is what the TLS annotations make of a Service's listeners.
type tlsSettings struct {
	certificates []model.Certificate
	// ports are the ssl-ports items (port numbers and names); nil or
	// with "*": every TCP port.
	ports []string
}

// tls reads the certificates and the ssl-ports of a Service, as the AWS
// Load Balancer Controller does: every ssl-ports item must name a port of
// the Service (by number or name; kelb also takes "*" for every TCP port,
// as the in-tree AWS cloud provider did).
func (b *builder) tls() (tlsSettings, error) {
	var s tlsSettings
	arns, err := b.ann.List(AnnotationSSLCert)
	if err != nil {
		return s, err
	}
	for _, arn := range arns {
		if !strings.HasPrefix(arn, "arn:") {
			return s, &AnnotationError{Key: AnnotationSSLCert, Value: b.ann[AnnotationSSLCert], Reason: fmt.Sprintf("%q is not an ARN", arn)}
		}
		s.certificates = append(s.certificates, model.Certificate{ARN: arn})
	}
	secrets, err := b.ann.List(AnnotationSSLCertSecrets)
	if err != nil {
		return s, err
	}
	for _, name := range secrets {
		if strings.Contains(name, "/") {
			return s, &AnnotationError{Key: AnnotationSSLCertSecrets, Value: b.ann[AnnotationSSLCertSecrets],
				Reason: fmt.Sprintf("%q: name a Secret of the Service's namespace, without a namespace", name)}
		}
		s.certificates = append(s.certificates, model.Certificate{Secret: b.svc.Namespace + "/" + name})
	}
	if s.ports, err = b.ann.List(AnnotationSSLPorts); err != nil {
		return s, err
	}
	var unused []string
	for _, item := range s.ports {
		if item != "*" && !slices.ContainsFunc(b.svc.Spec.Ports, func(p corev1.ServicePort) bool {
			return p.Name == item || strconv.Itoa(int(p.Port)) == item
		}) {
			unused = append(unused, item)
		}
	}
	if len(unused) > 0 {
		return s, &AnnotationError{Key: AnnotationSSLPorts, Value: b.ann[AnnotationSSLPorts],
			Reason: fmt.Sprintf("%s names no port of the Service", strings.Join(unused, ", "))}
	}
	return s, nil
}

// selects reports whether the listener of port group g is TLS: a TCP port
// (not UDP nor TCP_UDP) that ssl-ports selects, with a certificate.
func (s tlsSettings) selects(g servicePortGroup) bool {
	if len(s.certificates) == 0 || g.protocol != string(corev1.ProtocolTCP) {
		return false
	}
	return s.ports == nil || slices.Contains(s.ports, "*") || slices.Contains(s.ports, strconv.Itoa(int(g.port.Port))) ||
		(g.port.Name != "" && slices.Contains(s.ports, g.port.Name))
}

// tlsListener holds what a TLS listener takes from the annotations.
type tlsListener struct {
	sslPolicy  string
	alpnPolicy string
	backendTLS bool
}

// tlsListenerSettings reads the policies and backend protocol of the
// Service's TLS listeners; they are checked only when one listener is TLS,
// as in the AWS Load Balancer Controller, where they change nothing
// otherwise.
func (b *builder) tlsListenerSettings() (tlsListener, error) {
	t := tlsListener{sslPolicy: b.opts.DefaultSSLPolicy}
	if t.sslPolicy == "" {
		t.sslPolicy = DefaultSSLPolicy
	}
	if raw, ok := b.ann.Str(AnnotationSSLNegotiationPolicy); ok {
		// kelb server checks the name against the policies it has; an
		// empty or foreign one is refused here, naming the annotation.
		if !strings.HasPrefix(raw, "ELBSecurityPolicy-") {
			return t, &AnnotationError{Key: AnnotationSSLNegotiationPolicy, Value: b.ann[AnnotationSSLNegotiationPolicy],
				Reason: "not an ELB security policy name (ELBSecurityPolicy-...; aws elbv2 describe-ssl-policies lists them)"}
		}
		t.sslPolicy = raw
	}
	if raw, ok := b.ann.Str(AnnotationBackendProtocol); ok {
		switch raw {
		case backendProtocolSSL:
			t.backendTLS = true
		case backendProtocolTCP:
		default:
			return t, &AnnotationError{Key: AnnotationBackendProtocol, Value: b.ann[AnnotationBackendProtocol], Reason: `must be "ssl" or "tcp"`}
		}
	}
	if raw, ok := b.ann.Str(AnnotationALPNPolicy); ok {
		if !slices.Contains(alpnPolicies, raw) {
			return t, &AnnotationError{Key: AnnotationALPNPolicy, Value: b.ann[AnnotationALPNPolicy],
				Reason: "must be one of " + strings.Join(alpnPolicies, ", ")}
		}
		t.alpnPolicy = raw
	}
	return t, nil
}

// tlsWarnings reports the TLS annotations of a Service none of whose
// listeners is TLS: they change nothing.
func (b *builder) tlsWarnings(s tlsSettings) []string {
	var out []string
	for _, key := range tlsAnnotations {
		value, ok := b.ann[key]
		if !ok {
			continue
		}
		why := "no listener of the Service is TLS"
		switch {
		case len(s.certificates) == 0:
			why += fmt.Sprintf(" (a TLS listener needs %s or %s)", AnnotationSSLCert, AnnotationSSLCertSecrets)
		default:
			why += fmt.Sprintf(" (%s selects no TCP port)", AnnotationSSLPorts)
		}
		out = append(out, fmt.Sprintf("annotation %s=%q is ignored: %s", key, value, why))
	}
	return out
}
