package service

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kelb-io/kelb/internal/controller/model"
)

// Load balancer schemes.
const (
	SchemeInternal       = "internal"
	SchemeInternetFacing = "internet-facing"
)

// loadBalancerTypeNetwork is the ELBv2 type of the load balancers of
// Services.
const loadBalancerTypeNetwork = "network"

// Health check ports and attributes with a meaning for the builder.
const (
	healthCheckPortTrafficPort = "traffic-port"
	attrProxyProtocolV2        = "proxy_protocol_v2.enabled"
	attrPreserveClientIP       = "preserve_client_ip.enabled"
	attrCrossZone              = "load_balancing.cross_zone.enabled"
)

// BuildOptions are the controller-wide settings a stack depends on. The zero
// value builds internal, instance-mode load balancers with no cluster tag.
type BuildOptions struct {
	// ClusterName is the value of the elbv2.k8s.aws/cluster tag and part of
	// every generated name.
	ClusterName string
	// DefaultTargetType is the target type of a Service of our class with no
	// target type annotation: "instance" (when empty) or "ip".
	DefaultTargetType string
	// DefaultScheme is the scheme of a Service with no scheme annotation:
	// "internal" (when empty) or "internet-facing".
	DefaultScheme string
	// DefaultTags are added to every resource; a Service's additional tags
	// override them.
	DefaultTags map[string]string
	// DefaultSSLPolicy is the security policy of TLS listeners with no
	// ssl-negotiation-policy annotation; DefaultSSLPolicy when empty.
	DefaultSSLPolicy string
}

// Build turns a Service into the desired stack of its load balancer. It is a
// pure function: the same Service and options always give the same stack.
// An error names the annotation or field at fault and its value; the
// caller must then leave the existing load balancer unchanged.
func Build(svc *corev1.Service, opts BuildOptions) (*Stack, error) {
	b := &builder{svc: svc, opts: opts, ann: annotations(svc.Annotations)}
	return b.build()
}

type builder struct {
	svc  *corev1.Service
	opts BuildOptions
	ann  annotations
}

// servicePortGroup is the Service ports sharing one port number: one, or a
// TCP and a UDP port that become a TCP_UDP listener.
type servicePortGroup struct {
	port corev1.ServicePort
	// protocol is the listener's: TCP, UDP, TCP_UDP, or TLS for a TCP port
	// the TLS annotations select.
	protocol string
	// targetProtocol is the target group's when it differs from protocol
	// (TCP or TLS behind a TLS listener).
	targetProtocol string
}

// tgProtocol is the protocol of the group's target group.
func (g servicePortGroup) tgProtocol() string {
	if g.targetProtocol != "" {
		return g.targetProtocol
	}
	return g.protocol
}

func (b *builder) build() (*Stack, error) {
	stackID := b.svc.Namespace + "/" + b.svc.Name
	targetType, err := b.targetType()
	if err != nil {
		return nil, err
	}
	scheme, err := b.scheme()
	if err != nil {
		return nil, err
	}
	lb, err := b.loadBalancer(stackID, scheme)
	if err != nil {
		return nil, err
	}
	groups, err := b.portGroups()
	if err != nil {
		return nil, err
	}
	tlsCfg, err := b.tls()
	if err != nil {
		return nil, err
	}
	var tlsListen tlsListener
	anyTLS := slices.ContainsFunc(groups, tlsCfg.selects)
	if anyTLS {
		if tlsListen, err = b.tlsListenerSettings(); err != nil {
			return nil, err
		}
		for i, g := range groups {
			if tlsCfg.selects(g) {
				groups[i].protocol, groups[i].targetProtocol = "TLS", "TCP"
				if tlsListen.backendTLS {
					groups[i].targetProtocol = "TLS"
				}
			}
		}
	}
	rangesField, sourceRanges, err := b.sourceRanges()
	if err != nil {
		return nil, err
	}
	listenerAttrs, err := b.perPort(AnnotationListenerAttrs, groups, false)
	if err != nil {
		return nil, err
	}
	tgAttrs, err := b.perPort(AnnotationTargetGroupAttrs, groups, true)
	if err != nil {
		return nil, err
	}
	st := &Stack{ID: stackID, LoadBalancer: lb, Warnings: b.warnings()}
	if !anyTLS {
		st.Warnings = append(st.Warnings, b.tlsWarnings(tlsCfg)...)
		sort.Strings(st.Warnings)
	}
	for _, g := range groups {
		tg, err := b.targetGroup(stackID, g, targetType, lb.IPAddressType, tgAttrs[listenerKey(g.protocol, g.port.Port)])
		if err != nil {
			return nil, err
		}
		tgb, err := b.targetGroupBinding(tg, g)
		if err != nil {
			return nil, err
		}
		attrs := listenerAttrs[listenerKey(g.protocol, g.port.Port)]
		listenerTags, err := b.resourceTags(stackID, strconv.Itoa(int(g.port.Port)))
		if err != nil {
			return nil, err
		}
		l := Listener{
			Port:          g.port.Port,
			Protocol:      g.protocol,
			DefaultAction: model.NetworkForward(tg.ResourceID),
			Attributes:    attrs,
			Tags:          listenerTags,
		}
		if g.protocol == "TLS" {
			l.SSLPolicy, l.ALPNPolicy = tlsListen.sslPolicy, tlsListen.alpnPolicy
			l.Certificates = slices.Clone(tlsCfg.certificates)
		}
		st.Listeners = append(st.Listeners, l)
		st.TargetGroups = append(st.TargetGroups, tg)
		st.TargetGroupBindings = append(st.TargetGroupBindings, tgb)
	}
	if err := b.managedSecurityGroup(st, groups, rangesField, sourceRanges); err != nil {
		return nil, err
	}
	return st, nil
}

func (b *builder) targetType() (string, error) {
	if raw, ok := b.ann.Str(AnnotationTargetType); ok {
		switch raw {
		case "ip", "instance":
			return raw, nil
		}
		return "", &AnnotationError{Key: AnnotationTargetType, Value: b.ann[AnnotationTargetType], Reason: `must be "ip" or "instance"`}
	}
	switch b.ann[AnnotationLoadBalancerType] {
	case LoadBalancerTypeNLBIP:
		return "ip", nil
	case LoadBalancerTypeNLB, "":
		if b.svc.Spec.LoadBalancerClass == nil {
			return "instance", nil
		}
	}
	switch b.opts.DefaultTargetType {
	case "", "instance":
		return "instance", nil
	case "ip":
		return "ip", nil
	}
	return "", fmt.Errorf("default target type %q: must be \"ip\" or \"instance\"", b.opts.DefaultTargetType)
}

func (b *builder) scheme() (string, error) {
	if raw, ok := b.ann.Str(AnnotationScheme); ok {
		switch raw {
		case SchemeInternal, SchemeInternetFacing:
			return raw, nil
		}
		return "", &AnnotationError{Key: AnnotationScheme, Value: b.ann[AnnotationScheme], Reason: `must be "internal" or "internet-facing"`}
	}
	internal, ok, err := b.ann.Bool(AnnotationInternal)
	if err != nil {
		return "", err
	}
	if ok {
		if internal {
			return SchemeInternal, nil
		}
		return SchemeInternetFacing, nil
	}
	// The in-tree cloud provider made internet-facing load balancers unless
	// told otherwise.
	if b.ann[AnnotationLoadBalancerType] == LoadBalancerTypeNLB {
		return SchemeInternetFacing, nil
	}
	switch b.opts.DefaultScheme {
	case "":
		return SchemeInternal, nil
	case SchemeInternal, SchemeInternetFacing:
		return b.opts.DefaultScheme, nil
	}
	return "", fmt.Errorf("default scheme %q: must be \"internal\" or \"internet-facing\"", b.opts.DefaultScheme)
}

// portGroups groups the Service's ports by number, in the order of their
// first appearance; a TCP and a UDP port of the same number become one
// TCP_UDP group.
func (b *builder) portGroups() ([]servicePortGroup, error) {
	if len(b.svc.Spec.Ports) == 0 {
		return nil, fmt.Errorf("service %s/%s has no ports", b.svc.Namespace, b.svc.Name)
	}
	var groups []servicePortGroup
	index := map[int32]int{}
	for _, p := range b.svc.Spec.Ports {
		proto := string(p.Protocol)
		if proto == "" {
			proto = string(corev1.ProtocolTCP)
		}
		if proto != string(corev1.ProtocolTCP) && proto != string(corev1.ProtocolUDP) {
			return nil, fmt.Errorf("service port %d: protocol %s is not supported by network load balancers", p.Port, proto)
		}
		i, seen := index[p.Port]
		if !seen {
			index[p.Port] = len(groups)
			groups = append(groups, servicePortGroup{port: p, protocol: proto})
			continue
		}
		if groups[i].protocol == proto || groups[i].protocol == "TCP_UDP" {
			return nil, fmt.Errorf("service port %d/%s is listed twice", p.Port, proto)
		}
		// Keep the TCP port as the group's port: its target port and node
		// port are the target group's.
		if proto == string(corev1.ProtocolTCP) {
			groups[i].port = p
		}
		groups[i].protocol = "TCP_UDP"
	}
	return groups, nil
}

func listenerKey(protocol string, port int32) string {
	return protocol + "-" + strconv.Itoa(int(port))
}

// perPort reads the per-listener form of an annotation,
// <prefix>.<PROTOCOL>-<port>, for every listener, keyed by <PROTOCOL>-<port>.
// With byNumber the AWS Load Balancer Controller's <prefix>.<port> names the
// listener of that port number too (kelb's <PROTOCOL>-<port> stays an
// alias); both forms for one listener are an error, as is a suffix naming no
// listener of the Service.
func (b *builder) perPort(prefix string, groups []servicePortGroup, byNumber bool) (map[string]map[string]string, error) {
	known := map[string]bool{}
	numbers := map[string]string{}
	for _, g := range groups {
		known[listenerKey(g.protocol, g.port.Port)] = true
		numbers[strconv.Itoa(int(g.port.Port))] = listenerKey(g.protocol, g.port.Port)
	}
	want := "<PROTOCOL>-<port>, e.g. TCP-80"
	if byNumber {
		want = "<port> or <PROTOCOL>-<port>, e.g. 80 or TCP-80"
	}
	out := map[string]map[string]string{}
	from := map[string]string{}
	keys := make([]string, 0, len(b.ann))
	for k := range b.ann {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		suffix, ok := strings.CutPrefix(key, prefix+".")
		if !ok {
			continue
		}
		listener := suffix
		if byNumber {
			if l, ok := numbers[suffix]; ok {
				listener = l
			}
		}
		if !known[listener] {
			return nil, &AnnotationError{Key: key, Value: b.ann[key], Reason: fmt.Sprintf("%q names no listener of the Service (want %s)", suffix, want)}
		}
		if other, dup := from[listener]; dup {
			return nil, &AnnotationError{Key: key, Value: b.ann[key], Reason: fmt.Sprintf("listener %s is also set by %s; set one of them", listener, other)}
		}
		m, err := b.ann.StringMap(key)
		if err != nil {
			return nil, err
		}
		out[listener] = m
		from[listener] = key
	}
	return out, nil
}

// warnings lists the annotations the Service sets that have no effect.
func (b *builder) warnings() []string {
	var out []string
	for key, value := range b.ann {
		suffix, ok := strings.CutPrefix(key, AnnotationPrefix)
		if !ok {
			continue
		}
		if why, ignored := ignoredAnnotations[suffix]; ignored {
			out = append(out, fmt.Sprintf("annotation %s=%q is ignored: %s", key, value, why))
		} else if unknownAnnotation(key) {
			out = append(out, fmt.Sprintf("annotation %s=%q is ignored: kelb controller does not implement it", key, value))
		}
	}
	sort.Strings(out)
	return out
}
