package ingress

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/model"
)

// listenPort is one listener of one member.
type listenPort struct {
	protocol string
	port     int32
}

// listenPorts reads listen-ports: a JSON list of {"HTTP": 80} or
// {"HTTPS": 443} objects. With no annotation, HTTPS:443 when the Ingress
// has certificates (certificate-arn, spec.tls or create-acm-cert), else HTTP:80.
func listenPorts(ing *networkingv1.Ingress) ([]listenPort, error) {
	ann := annotations(ing.Annotations)
	var raw []map[string]int64
	found, err := ann.JSON(AnnotationListenPorts, &raw)
	if err != nil {
		return nil, err
	}
	if !found {
		if _, hasCert := ann[AnnotationCertificateARN]; hasCert || len(ing.Spec.TLS) > 0 || createACMCert(ann) {
			return []listenPort{{"HTTPS", 443}}, nil
		}
		return []listenPort{{"HTTP", 80}}, nil
	}
	if len(raw) == 0 {
		return nil, ann.Fail(AnnotationListenPorts, "no listen port")
	}
	var out []listenPort
	seen := map[int32]bool{}
	for _, item := range raw {
		for proto, port := range item {
			if proto != "HTTP" && proto != "HTTPS" {
				return nil, ann.Fail(AnnotationListenPorts, fmt.Sprintf("protocol %q must be HTTP or HTTPS", proto))
			}
			if port < 1 || port > 65535 {
				return nil, ann.Fail(AnnotationListenPorts, fmt.Sprintf("port %d out of range 1-65535", port))
			}
			if seen[int32(port)] {
				return nil, ann.Fail(AnnotationListenPorts, fmt.Sprintf("port %d listed twice", port))
			}
			seen[int32(port)] = true
			out = append(out, listenPort{proto, int32(port)})
		}
	}
	return out, nil
}

func (b *builder) listeners() ([]Listener, error) {
	byPort := map[int32][]Member{}
	protocols := map[int32]map[string]string{}
	for _, m := range b.members {
		ports, err := listenPorts(m.Ingress)
		if err != nil {
			return nil, memberError(m.Ingress, err)
		}
		for _, p := range ports {
			if protocols[p.port] == nil {
				protocols[p.port] = map[string]string{}
			}
			protocols[p.port][key(m.Ingress)] = p.protocol
			byPort[p.port] = append(byPort[p.port], m)
		}
	}
	ports := make([]int32, 0, len(byPort))
	for port, ps := range protocols {
		ports = append(ports, port)
		var first string
		for _, proto := range ps {
			if first == "" {
				first = proto
			} else if proto != first {
				return nil, &ConflictError{Group: b.stackID, Setting: fmt.Sprintf("protocol of listen port %d", port), Values: ps}
			}
		}
	}
	slices.Sort(ports)

	redirect, err := b.sslRedirect(protocols)
	if err != nil {
		return nil, err
	}
	var out []Listener
	for _, port := range ports {
		var protocol string
		for _, p := range protocols[port] {
			protocol = p
		}
		l, err := b.listener(port, protocol, byPort[port], redirect)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// sslRedirect reads ssl-redirect: the HTTPS port every HTTP listener of the
// group redirects to; 0 when unset.
func (b *builder) sslRedirect(protocols map[int32]map[string]string) (int32, error) {
	raw, ok, err := b.exclusive(AnnotationSSLRedirect, func(ann annotations) (string, error) {
		v, _ := ann.Str(AnnotationSSLRedirect)
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			return "", ann.Fail(AnnotationSSLRedirect, "must be a port number")
		}
		return strconv.Itoa(n), nil
	})
	if err != nil || !ok {
		return 0, err
	}
	n, _ := strconv.Atoi(raw)
	for _, proto := range protocols[int32(n)] {
		if proto == "HTTPS" {
			return int32(n), nil
		}
	}
	for _, m := range b.members {
		if _, ok := m.Ingress.Annotations[AnnotationSSLRedirect]; ok {
			return 0, memberError(m.Ingress, annotations(m.Ingress.Annotations).Fail(AnnotationSSLRedirect, fmt.Sprintf("port %d is not an HTTPS listen port of the group", n)))
		}
	}
	return 0, nil
}

func (b *builder) listener(port int32, protocol string, members []Member, sslRedirect int32) (Listener, error) {
	l := Listener{Port: port, Protocol: protocol, Tags: b.tags(strconv.Itoa(int(port)))}
	if protocol == "HTTPS" {
		if err := b.tls(&l, members); err != nil {
			return Listener{}, err
		}
		if err := b.mutualAuth(&l, members); err != nil {
			return Listener{}, err
		}
	}
	cidrs, err := b.inboundCIDRs(members)
	if err != nil {
		return Listener{}, err
	}
	b.inbound = append(b.inbound, model.IngressRules("TCP", port, cidrs)...)
	attrs, err := b.listenerAttributes(protocol, port, members)
	if err != nil {
		return Listener{}, err
	}
	for k, v := range attrs {
		if l.Attributes == nil {
			l.Attributes = map[string]string{}
		}
		l.Attributes[k] = v
	}
	if sslRedirect != 0 && protocol == "HTTP" {
		// An HTTP listener of a group with ssl-redirect only redirects;
		// its rules live on the HTTPS listener.
		l.DefaultAction = Action{Type: ActionRedirect, Redirect: &RedirectAction{Protocol: "HTTPS", Port: strconv.Itoa(int(sslRedirect)), StatusCode: "HTTP_301"}}
		return l, nil
	}
	if l.DefaultAction, err = b.defaultAction(port, members); err != nil {
		return Listener{}, err
	}
	for _, m := range members {
		if be := m.Ingress.Spec.DefaultBackend; be != nil && be.Service != nil {
			// defaultAction allows one member with a default backend.
			if err := b.withAuthenticate(&l.DefaultAction, protocol, port, m, be.Service.Name); err != nil {
				return Listener{}, memberError(m.Ingress, err)
			}
		}
	}
	priority := int32(1)
	for _, m := range members {
		for _, rule := range m.Ingress.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, path := range sortPaths(rule.HTTP.Paths) {
				r, err := b.rule(m, rule.Host, path)
				if err == nil && path.Backend.Service != nil {
					err = b.withAuthenticate(&r.Action, protocol, port, m, path.Backend.Service.Name)
				}
				if err != nil {
					return Listener{}, memberError(m.Ingress, err)
				}
				r.Priority = priority
				priority++
				l.Rules = append(l.Rules, r)
			}
		}
	}
	return l, nil
}

// tls sets an HTTPS listener's policy and certificates: certificate-arn
// ARNs and spec.tls Secrets of every member on the port, in member order,
// each once; the first is the default certificate.
func (b *builder) tls(l *Listener, members []Member) error {
	policy, ok, err := b.fromParams("IngressClassParams sslPolicy", func(p *elbv2api.IngressClassParams) string { return p.Spec.SSLPolicy })
	if err != nil {
		return err
	}
	if !ok {
		values := map[string]string{}
		for _, m := range members {
			if v, ok := annotations(m.Ingress.Annotations).Str(AnnotationSSLPolicy); ok {
				if v == "" {
					return memberError(m.Ingress, annotations(m.Ingress.Annotations).Fail(AnnotationSSLPolicy, "empty policy name"))
				}
				values[key(m.Ingress)] = v
				policy = v
			}
		}
		for _, v := range values {
			if v != policy {
				return &ConflictError{Group: b.stackID, Setting: fmt.Sprintf("annotation %s on listen port %d", AnnotationSSLPolicy, l.Port), Values: values}
			}
		}
	}
	if policy == "" {
		policy = b.opts.DefaultSSLPolicy
	}
	if policy == "" {
		policy = DefaultSSLPolicy
	}
	l.SSLPolicy = policy
	seen := map[string]bool{}
	for _, m := range members {
		certs, err := b.memberCertificates(m)
		if err != nil {
			return err
		}
		for _, c := range certs {
			if !seen[c.Key()] {
				seen[c.Key()] = true
				l.Certificates = append(l.Certificates, c)
			}
		}
	}
	if len(l.Certificates) == 0 {
		return fmt.Errorf("ingress group %s: HTTPS listener on port %d has no certificate: set %s, %s, name a TLS Secret in spec.tls, or give the Ingresses hosts a certificate in kelb's store covers", b.stackID, l.Port, AnnotationCertificateARN, AnnotationCreateACMCert)
	}
	return nil
}

// inboundCIDRs is the union of the networks the members on a listener
// allow (IngressClassParams' inboundCIDRs win over the annotation; a
// member with neither allows every source: 0.0.0.0/0, and ::/0 when
// dualstack).
func (b *builder) inboundCIDRs(members []Member) ([]string, error) {
	var out []string
	for _, m := range members {
		var cidrs []string
		if p := m.Class.Params; p != nil && len(p.Spec.InboundCIDRs) > 0 {
			for _, c := range p.Spec.InboundCIDRs {
				cidrs = append(cidrs, c)
			}
			if _, err := (annotations{"inboundCIDRs": strings.Join(cidrs, ",")}).CIDRs("inboundCIDRs"); err != nil {
				return nil, memberError(m.Ingress, fmt.Errorf("IngressClassParams %s: inboundCIDRs: %w", p.Name, err))
			}
		} else {
			var err error
			if cidrs, err = annotations(m.Ingress.Annotations).CIDRs(AnnotationInboundCIDRs); err != nil {
				return nil, memberError(m.Ingress, err)
			}
		}
		if len(cidrs) > 0 {
			b.inboundSet = true
		}
		// IPv6 ranges of a load balancer that is not dualstack admit no
		// one, and are left out as the AWS Load Balancer Controller does.
		cidrs = slices.DeleteFunc(cidrs, func(c string) bool { return strings.Contains(c, ":") && !ipv6Capable(b.ipType) })
		all, _ := deploy.SourceCIDRs(cidrs, ipv6Capable(b.ipType))
		for _, c := range all {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// defaultAction is the listener's default: the one default backend of its
// members, or a 404 fixed response, as the AWS Load Balancer Controller
// does.
func (b *builder) defaultAction(port int32, members []Member) (Action, error) {
	var with []Member
	for _, m := range members {
		if m.Ingress.Spec.DefaultBackend != nil {
			with = append(with, m)
		}
	}
	switch len(with) {
	case 0:
		return Action{Type: ActionFixedResponse, FixedResponse: &FixedResponseAction{StatusCode: "404", ContentType: "text/plain"}}, nil
	case 1:
		a, err := b.backendAction(with[0], *with[0].Ingress.Spec.DefaultBackend)
		if err != nil {
			return Action{}, memberError(with[0].Ingress, fmt.Errorf("default backend: %w", err))
		}
		return a, nil
	}
	values := map[string]string{}
	for _, m := range with {
		values[key(m.Ingress)] = backendString(*m.Ingress.Spec.DefaultBackend)
	}
	return Action{}, &ConflictError{Group: b.stackID, Setting: fmt.Sprintf("default backend of listen port %d", port), Values: values}
}
