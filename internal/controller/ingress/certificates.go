package ingress

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
)

// createACMCert reads create-acm-cert; a value that is not a boolean is
// false here and refused by memberCertificates.
func createACMCert(ann annotations) bool {
	v, _ := strconv.ParseBool(strings.TrimSpace(ann[AnnotationCreateACMCert]))
	return v
}

// memberCertificates returns the certificates one member gives its HTTPS
// listeners, as the AWS Load Balancer Controller chooses them: the ARNs
// of certificate-arn (IngressClassParams certificateArn having replaced
// them), and kelb's TLS Secrets of spec.tls; with neither, a certificate
// requested for all its hosts when create-acm-cert is true, else the
// certificates in kelb's store that cover its hosts (certificate
// discovery). A member without hosts then gives none.
func (b *builder) memberCertificates(m Member) ([]Certificate, error) {
	ann := annotations(m.Ingress.Annotations)
	var out []Certificate
	arns, err := ann.List(AnnotationCertificateARN)
	if err != nil {
		return nil, memberError(m.Ingress, err)
	}
	for _, arn := range arns {
		if !strings.HasPrefix(arn, "arn:") {
			return nil, memberError(m.Ingress, ann.Fail(AnnotationCertificateARN, fmt.Sprintf("%q is not an ARN", arn)))
		}
		out = append(out, Certificate{ARN: arn})
	}
	for _, t := range m.Ingress.Spec.TLS {
		if t.SecretName != "" {
			out = append(out, Certificate{Secret: m.Ingress.Namespace + "/" + t.SecretName})
		}
	}
	create := false
	if raw, ok := ann.Str(AnnotationCreateACMCert); ok {
		if create, err = strconv.ParseBool(raw); err != nil {
			return nil, memberError(m.Ingress, ann.Fail(AnnotationCreateACMCert, "must be true or false"))
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	hosts := ingressHosts(m.Ingress)
	if !create {
		if len(hosts) == 0 {
			return nil, nil
		}
		return []Certificate{{Discover: hosts}}, nil
	}
	if _, ok := ann.Str(AnnotationACMPCAARN); ok {
		e := ann.Fail(AnnotationACMPCAARN, "kelb has no private certificate authorities: kelb's own CA issues the certificates create-acm-cert requests; remove the annotation")
		e.Unimplemented = true
		return nil, memberError(m.Ingress, e)
	}
	if len(hosts) == 0 {
		return nil, memberError(m.Ingress, ann.Fail(AnnotationCreateACMCert, "the Ingress has no hosts in spec.rules[].host or spec.tls[].hosts to request a certificate for"))
	}
	sum := sha256.Sum256([]byte(m.Ingress.Namespace + "/" + m.Ingress.Name))
	id := fmt.Sprintf("amazon_issued/%s-%s", strings.ReplaceAll(hosts[0], "*", "wildcard"), hex.EncodeToString(sum[:])[:8])
	return []Certificate{{Request: &CertificateRequest{ResourceID: id, DomainName: hosts[0], SubjectAlternativeNames: hosts, Tags: b.tags(id)}}}, nil
}

// ingressHosts returns the hosts of an Ingress's rules and spec.tls,
// sorted, each once.
func ingressHosts(ing *networkingv1.Ingress) []string {
	var hosts []string
	for _, r := range ing.Spec.Rules {
		if r.Host != "" {
			hosts = append(hosts, r.Host)
		}
	}
	for _, t := range ing.Spec.TLS {
		hosts = append(hosts, t.Hosts...)
	}
	slices.Sort(hosts)
	return slices.Compact(hosts)
}
