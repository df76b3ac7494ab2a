package ingress

import (
	"fmt"
	"strconv"
	"strings"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
	"github.com/kelb-io/kelb/internal/controller/model"
)

// IngressClassParams fields that set what an annotation sets. As in the AWS
// Load Balancer Controller, the field wins over the annotation of every
// Ingress of the class; withClassParams applies them (and listeners, as
// listener-attributes.<PROTOCOL>-<port>) as annotation values so that one
// parser reads both.
var paramsAsAnnotation = []struct {
	field string
	key   string
	get   func(*elbv2api.IngressClassParamsSpec) string
}{
	{"loadBalancerName", AnnotationLoadBalancerName, func(s *elbv2api.IngressClassParamsSpec) string { return s.LoadBalancerName }},
	{"certificateArn", AnnotationCertificateARN, func(s *elbv2api.IngressClassParamsSpec) string { return strings.Join(s.CertificateArn, ",") }},
	{"sslRedirectPort", AnnotationSSLRedirect, func(s *elbv2api.IngressClassParamsSpec) string { return s.SSLRedirectPort }},
	{"targetType", AnnotationTargetType, func(s *elbv2api.IngressClassParamsSpec) string { return string(s.TargetType) }},
}

// ValidateClassParams checks the IngressClassParams fields kelb reads
// beyond the CRD's schema, with the messages the build would give: the
// admission webhook refuses what the build would.
func ValidateClassParams(p *elbv2api.IngressClassParams) error {
	s := &p.Spec
	if v := s.LoadBalancerName; v != "" && (len(v) > 32 || !model.ValidLoadBalancerName(v)) {
		return fmt.Errorf("IngressClassParams %s: spec.loadBalancerName %q must be 1 to 32 letters, digits and hyphens, not starting or ending with a hyphen, without two hyphens in a row, nor starting with internal-", p.Name, v)
	}
	if v := s.SSLRedirectPort; v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("IngressClassParams %s: spec.sslRedirectPort %q must be a port number", p.Name, v)
		}
	}
	for _, arn := range s.CertificateArn {
		if !strings.HasPrefix(arn, "arn:") {
			return fmt.Errorf("IngressClassParams %s: spec.certificateArn: %q is not an ARN", p.Name, arn)
		}
	}
	return nil
}

// withClassParams returns the members with the fields of their class's
// IngressClassParams applied over their annotations (on copies: the
// callers' Ingresses are not changed).
func withClassParams(members []Member) ([]Member, error) {
	out := make([]Member, len(members))
	for i, m := range members {
		out[i] = m
		p := m.Class.Params
		if p == nil {
			continue
		}
		if err := ValidateClassParams(p); err != nil {
			return nil, memberError(m.Ingress, err)
		}
		set := map[string]string{}
		for _, f := range paramsAsAnnotation {
			if v := f.get(&p.Spec); v != "" {
				set[f.key] = v
			}
		}
		// listeners: the attributes of one protocol and port replace the
		// listener-attributes.<PROTOCOL>-<port> annotation.
		for _, l := range p.Spec.Listeners {
			var kv []string
			for _, a := range l.ListenerAttributes {
				kv = append(kv, a.Key+"="+strings.ReplaceAll(a.Value, ",", `\,`))
			}
			set[fmt.Sprintf("%s%s-%d", AnnotationListenerAttributesPrefix, l.Protocol, l.Port)] = strings.Join(kv, ",")
		}
		if len(set) == 0 {
			continue
		}
		ing := m.Ingress.DeepCopy()
		if ing.Annotations == nil {
			ing.Annotations = map[string]string{}
		}
		for k, v := range set {
			ing.Annotations[k] = v
		}
		out[i].Ingress = ing
	}
	return out, nil
}

// classTargetType is the targetType of the member's IngressClassParams,
// which wins over the target-type annotation of the Ingress and of its
// backend Services; "" when unset.
func classTargetType(m Member) string {
	if m.Class.Params == nil {
		return ""
	}
	return string(m.Class.Params.Spec.TargetType)
}

// paramsWarnings names the fields of p that kelb cannot give: they are
// reported in a Warning event, never silently dropped.
func paramsWarnings(p *elbv2api.IngressClassParams) []string {
	if p == nil {
		return nil
	}
	s := &p.Spec
	var out []string
	warn := func(field, why string) {
		out = append(out, fmt.Sprintf("IngressClassParams %s: spec.%s is ignored: %s", p.Name, field, why))
	}
	if s.MinimumLoadBalancerCapacity != nil {
		warn("minimumLoadBalancerCapacity", "capacity reservations are AWS-only")
	}
	if s.IPAMConfiguration != nil {
		warn("ipamConfiguration", "IPAM pools are AWS-only")
	}
	if len(s.PrefixListsIDs) > 0 {
		warn("prefixListsIDs", "managed prefix lists are AWS-only")
	}
	if len(s.PrefixListsIDsLegacy) > 0 {
		warn("PrefixListsIDs", "managed prefix lists are AWS-only")
	}
	if s.WAFv2ACLArn != "" {
		warn("wafv2AclArn", "WAF is AWS-only")
	}
	if s.WAFv2ACLName != "" {
		warn("wafv2AclName", "WAF is AWS-only")
	}
	return out
}
