package service

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// TLS listener annotations. kelb controller does not make TLS listeners
// yet; a Service whose annotations would give it one is refused rather
// than given a plain TCP listener on that port, which would hand the
// clients' TLS to targets that expect plaintext (see refuseTLS).
const (
	AnnotationSSLCert              = AnnotationPrefix + "aws-load-balancer-ssl-cert"
	AnnotationSSLPorts             = AnnotationPrefix + "aws-load-balancer-ssl-ports"
	AnnotationSSLNegotiationPolicy = AnnotationPrefix + "aws-load-balancer-ssl-negotiation-policy"
	AnnotationBackendProtocol      = AnnotationPrefix + "aws-load-balancer-backend-protocol"
	AnnotationALPNPolicy           = AnnotationPrefix + "aws-load-balancer-alpn-policy"
)

// refuseTLS fails when the Service's annotations would make one of its
// listeners TLS, as the AWS Load Balancer Controller decides it: the
// ssl-cert annotation names a certificate, and the port is a TCP port that
// ssl-ports selects by number or name (all TCP ports when ssl-ports is
// absent or "*"). The error names ssl-cert and its value, the TLS ports, and
// the other TLS annotations the Service sets (ssl-ports, backend-protocol,
// ssl-negotiation-policy, alpn-policy), which only take effect on such a
// listener. Without a TLS listener those annotations change nothing, in the
// AWS Load Balancer Controller too, and are reported as ignored.
func refuseTLS(ann annotations, ports []corev1.ServicePort) error {
	tls, err := tlsPorts(ann, ports)
	if err != nil || len(tls) == 0 {
		return err
	}
	var also []string
	for _, k := range []string{AnnotationSSLPorts, AnnotationBackendProtocol, AnnotationSSLNegotiationPolicy, AnnotationALPNPolicy} {
		if v, ok := ann[k]; ok {
			also = append(also, fmt.Sprintf("%s=%q", k, v))
		}
	}
	reason := fmt.Sprintf("port %s would be a TLS listener", strings.Join(tls, ", "))
	if len(also) > 0 {
		reason += " (with " + strings.Join(also, ", ") + ")"
	}
	return &AnnotationError{Key: AnnotationSSLCert, Value: ann[AnnotationSSLCert], Reason: reason, Unimplemented: true}
}

// tlsPorts lists the Service ports that would be TLS listeners.
func tlsPorts(ann annotations, ports []corev1.ServicePort) ([]string, error) {
	certs, err := ann.list(AnnotationSSLCert)
	if err != nil || len(certs) == 0 {
		return nil, err
	}
	selected, err := ann.list(AnnotationSSLPorts)
	if err != nil {
		return nil, err
	}
	all := selected == nil || slices.Contains(selected, "*")
	var out []string
	for _, p := range ports {
		if p.Protocol != corev1.ProtocolTCP && p.Protocol != "" {
			continue
		}
		number := strconv.Itoa(int(p.Port))
		if all || slices.Contains(selected, number) || (p.Name != "" && slices.Contains(selected, p.Name)) {
			if !slices.Contains(out, number) {
				out = append(out, number)
			}
		}
	}
	return out, nil
}
