package service

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
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

var invalidNameChars = regexp.MustCompile("[[:^alnum:]]")

// loadBalancerName is the annotation's name, or the AWS Load Balancer
// Controller's generated one: k8s-<namespace>-<name>-<hash>, namespace and
// name stripped of non-alphanumerics and cut to 8 characters, and 10 hex
// digits of sha256(cluster name, Service UID, scheme).
func (b *builder) loadBalancerName(scheme string) (string, error) {
	if name, ok := b.ann.Str(AnnotationName); ok {
		if name == "" || len(name) > 32 {
			return "", &AnnotationError{Key: AnnotationName, Value: b.ann[AnnotationName], Reason: "must be 1 to 32 characters"}
		}
		if !validLoadBalancerName(name) {
			return "", &AnnotationError{Key: AnnotationName, Value: b.ann[AnnotationName], Reason: "must be letters, digits and hyphens, not starting or ending with a hyphen, without two hyphens in a row, nor starting with internal-"}
		}
		return name, nil
	}
	h := sha256.New()
	h.Write([]byte(b.opts.ClusterName))
	h.Write([]byte(b.svc.UID))
	h.Write([]byte(scheme))
	return generatedName(b.svc.Namespace, b.svc.Name, hex.EncodeToString(h.Sum(nil))), nil
}

func generatedName(namespace, name, hash string) string {
	ns := invalidNameChars.ReplaceAllString(namespace, "")
	n := invalidNameChars.ReplaceAllString(name, "")
	return fmt.Sprintf("k8s-%.8s-%.8s-%.10s", ns, n, hash)
}

func validLoadBalancerName(name string) bool {
	if strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-") || strings.HasPrefix(name, "internal-") || strings.Contains(name, "--") {
		return false
	}
	for _, r := range name {
		if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

func (b *builder) loadBalancer(stackID, scheme string) (LoadBalancer, error) {
	name, err := b.loadBalancerName(scheme)
	if err != nil {
		return LoadBalancer{}, err
	}
	ipType := "ipv4"
	if raw, ok := b.ann.Str(AnnotationIPAddressType); ok {
		if raw != "ipv4" && raw != "dualstack" {
			return LoadBalancer{}, &AnnotationError{Key: AnnotationIPAddressType, Value: b.ann[AnnotationIPAddressType], Reason: `must be "ipv4" or "dualstack"`}
		}
		ipType = raw
	}
	subnets, err := b.ann.List(AnnotationSubnets)
	if err != nil {
		return LoadBalancer{}, err
	}
	attrs, err := b.ann.StringMap(AnnotationAttributes)
	if err != nil {
		return LoadBalancer{}, err
	}
	// The deprecated annotation wins over the attributes annotation, as it
	// does in the AWS Load Balancer Controller.
	crossZone, ok, err := b.ann.Bool(AnnotationCrossZone)
	if err != nil {
		return LoadBalancer{}, err
	}
	if ok {
		if attrs == nil {
			attrs = map[string]string{}
		}
		attrs[attrCrossZone] = strconv.FormatBool(crossZone)
	}
	tags, err := b.resourceTags(stackID, ResourceLoadBalancer)
	if err != nil {
		return LoadBalancer{}, err
	}
	groups, err := b.securityGroups()
	if err != nil {
		return LoadBalancer{}, err
	}
	return LoadBalancer{
		Name:           name,
		Type:           loadBalancerTypeNetwork,
		Scheme:         scheme,
		IPAddressType:  ipType,
		Subnets:        subnets,
		Attributes:     attrs,
		Tags:           tags,
		SecurityGroups: groups,
	}, nil
}

// resourceTags are the default tags, the Service's additional tags, then
// the tracking tags, which nothing overrides.
func (b *builder) resourceTags(stackID, resource string) (map[string]string, error) {
	extra, err := b.ann.StringMap(AnnotationAdditionalTags)
	if err != nil {
		return nil, err
	}
	return b.tags(stackID, resource, extra), nil
}

func (b *builder) tags(stackID, resource string, extra map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range b.opts.DefaultTags {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	if b.opts.ClusterName != "" {
		out[TagCluster] = b.opts.ClusterName
	}
	out[TagStack] = stackID
	out[TagResource] = resource
	return out
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

// fieldSourceRanges is the Service field of the source ranges.
const fieldSourceRanges = "spec.loadBalancerSourceRanges"

// sourceRanges are spec.loadBalancerSourceRanges (items may hold several
// comma-separated ranges) or, when it is empty, the source-ranges
// annotation, as written; field names the one they came from.
func (b *builder) sourceRanges() (field string, ranges []string, err error) {
	if len(b.svc.Spec.LoadBalancerSourceRanges) > 0 {
		for _, r := range b.svc.Spec.LoadBalancerSourceRanges {
			for _, item := range strings.Split(r, ",") {
				ranges = append(ranges, strings.TrimSpace(item))
			}
		}
		return fieldSourceRanges, ranges, nil
	}
	ranges, err = b.ann.CIDRs(AnnotationSourceRanges)
	return "annotation " + AnnotationSourceRanges, ranges, err
}

func (b *builder) targetGroup(stackID string, g servicePortGroup, targetType, lbIPType string, perPortAttrs map[string]string) (TargetGroup, error) {
	port := g.port
	var tgPort int32
	if targetType == "instance" {
		if port.NodePort == 0 {
			return TargetGroup{}, fmt.Errorf("service port %d has no nodePort, which instance targets need (is spec.allocateLoadBalancerNodePorts false?)", port.Port)
		}
		tgPort = port.NodePort
	} else if port.TargetPort.Type == intstr.Int && port.TargetPort.IntVal != 0 {
		tgPort = port.TargetPort.IntVal
	} else if port.TargetPort.Type == intstr.Int {
		tgPort = port.Port // an unset targetPort defaults to the port
	} else {
		// A named target port can differ between pods; targets are always
		// registered with their own port, so the group's port is nominal.
		tgPort = 1
	}
	hc, err := b.healthCheck(targetType)
	if err != nil {
		return TargetGroup{}, err
	}
	attrs, err := b.targetGroupAttributes(perPortAttrs)
	if err != nil {
		return TargetGroup{}, err
	}
	ipType := "ipv4"
	if lbIPType == "dualstack" && len(b.svc.Spec.IPFamilies) > 0 && b.svc.Spec.IPFamilies[0] == corev1.IPv6Protocol {
		ipType = "ipv6"
	}
	resourceID := fmt.Sprintf("%s:%d", stackID, port.Port)
	tags, err := b.resourceTags(stackID, resourceID)
	if err != nil {
		return TargetGroup{}, err
	}
	return TargetGroup{
		ResourceID:    resourceID,
		Name:          b.targetGroupName(port.Port, tgPort, targetType, g.tgProtocol()),
		Protocol:      g.tgProtocol(),
		Port:          tgPort,
		TargetType:    targetType,
		IPAddressType: ipType,
		HealthCheck:   hc,
		Attributes:    attrs,
		Tags:          tags,
	}, nil
}

// targetGroupName is k8s-<namespace>-<name>-<hash> like the AWS Load
// Balancer Controller's, hashing what a target group cannot change in place
// (cluster, Service UID, ports, target type, protocol). The AWS controller
// also hashes the health check protocol and interval because NLB could not
// modify them; kelb server can, so a health check change keeps the group
// and its registered targets.
func (b *builder) targetGroupName(svcPort, tgPort int32, targetType, protocol string) string {
	h := sha256.New()
	h.Write([]byte(b.opts.ClusterName))
	h.Write([]byte(b.svc.UID))
	h.Write([]byte(strconv.Itoa(int(tgPort))))
	h.Write([]byte(strconv.Itoa(int(svcPort))))
	h.Write([]byte(targetType))
	h.Write([]byte(protocol))
	return generatedName(b.svc.Namespace, b.svc.Name, hex.EncodeToString(h.Sum(nil)))
}

// healthCheck builds the health check. Its defaults are the AWS Load
// Balancer Controller's: TCP on the traffic port every 10 s, timeout 10 s,
// thresholds 3/3; and for instance targets of a type LoadBalancer Service
// with externalTrafficPolicy Local, HTTP GET /healthz on the Service's
// healthCheckNodePort (which answers 200 only on nodes with a local
// endpoint), timeout 6 s, thresholds 2/2.
func (b *builder) healthCheck(targetType string) (HealthCheck, error) {
	hc := HealthCheck{
		Protocol:           "TCP",
		Port:               healthCheckPortTrafficPort,
		IntervalSeconds:    10,
		TimeoutSeconds:     10,
		HealthyThreshold:   3,
		UnhealthyThreshold: 3,
	}
	defaultPath := "/"
	if targetType == "instance" && b.svc.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		b.svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		hc.Protocol = "HTTP"
		if b.svc.Spec.HealthCheckNodePort != 0 {
			hc.Port = strconv.Itoa(int(b.svc.Spec.HealthCheckNodePort))
		}
		defaultPath = "/healthz"
		hc.TimeoutSeconds = 6
		hc.HealthyThreshold = 2
		hc.UnhealthyThreshold = 2
	}
	if raw, ok := b.ann.Str(AnnotationHCProtocol); ok {
		switch p := strings.ToUpper(raw); p {
		case "TCP", "HTTP", "HTTPS":
			hc.Protocol = p
		default:
			return HealthCheck{}, &AnnotationError{Key: AnnotationHCProtocol, Value: b.ann[AnnotationHCProtocol], Reason: "must be TCP, HTTP or HTTPS"}
		}
	}
	if raw, ok := b.ann.Str(AnnotationHCPort); ok {
		port, err := b.healthCheckPort(raw, targetType)
		if err != nil {
			return HealthCheck{}, err
		}
		hc.Port = port
	}
	if hc.Protocol != "TCP" {
		hc.Path = defaultPath
		if raw, ok := b.ann.Str(AnnotationHCPath); ok {
			if !strings.HasPrefix(raw, "/") {
				return HealthCheck{}, &AnnotationError{Key: AnnotationHCPath, Value: b.ann[AnnotationHCPath], Reason: `must start with "/"`}
			}
			hc.Path = raw
		}
		hc.HTTPCode = "200-399"
		if raw, ok := b.ann.Str(AnnotationHCSuccessCodes); ok {
			if !validSuccessCodes(raw) {
				return HealthCheck{}, &AnnotationError{Key: AnnotationHCSuccessCodes, Value: b.ann[AnnotationHCSuccessCodes], Reason: `must be codes 200-599 as "200", "200,202" or "200-299"`}
			}
			hc.HTTPCode = raw
		}
	}
	var err error
	if hc.IntervalSeconds, err = b.ann.Positive(AnnotationHCInterval, hc.IntervalSeconds); err != nil {
		return HealthCheck{}, err
	}
	// A default timeout longer than a shorter configured interval is cut
	// to the interval: a 1 s interval gets a 1 s timeout.
	hc.TimeoutSeconds = min(hc.TimeoutSeconds, hc.IntervalSeconds)
	if hc.TimeoutSeconds, err = b.ann.Positive(AnnotationHCTimeout, hc.TimeoutSeconds); err != nil {
		return HealthCheck{}, err
	}
	if hc.HealthyThreshold, err = b.ann.Positive(AnnotationHCHealthyThreshold, hc.HealthyThreshold); err != nil {
		return HealthCheck{}, err
	}
	if hc.UnhealthyThreshold, err = b.ann.Positive(AnnotationHCUnhealthyThreshold, hc.UnhealthyThreshold); err != nil {
		return HealthCheck{}, err
	}
	return hc, nil
}

// healthCheckPort resolves the health check port annotation: traffic-port,
// a number, or the name of a Service port (its node port for instance
// targets, its numeric target port for ip targets).
func (b *builder) healthCheckPort(raw, targetType string) (string, error) {
	if raw == healthCheckPortTrafficPort {
		return raw, nil
	}
	if n, err := strconv.Atoi(raw); err == nil {
		if n < 1 || n > 65535 {
			return "", &AnnotationError{Key: AnnotationHCPort, Value: b.ann[AnnotationHCPort], Reason: "port out of range 1-65535"}
		}
		return strconv.Itoa(n), nil
	}
	for _, p := range b.svc.Spec.Ports {
		if p.Name != raw {
			continue
		}
		if targetType == "instance" {
			if p.NodePort == 0 {
				return "", &AnnotationError{Key: AnnotationHCPort, Value: b.ann[AnnotationHCPort], Reason: "the named Service port has no nodePort"}
			}
			return strconv.Itoa(int(p.NodePort)), nil
		}
		if p.TargetPort.Type == intstr.Int {
			if p.TargetPort.IntVal == 0 {
				return strconv.Itoa(int(p.Port)), nil
			}
			return strconv.Itoa(int(p.TargetPort.IntVal)), nil
		}
		return "", &AnnotationError{Key: AnnotationHCPort, Value: b.ann[AnnotationHCPort], Reason: "a named port cannot be the health check port of ip targets when its targetPort is a name"}
	}
	return "", &AnnotationError{Key: AnnotationHCPort, Value: b.ann[AnnotationHCPort], Reason: "not traffic-port, a port number or the name of a Service port"}
}

func validSuccessCodes(s string) bool {
	code := func(c string) (int, bool) {
		n, err := strconv.Atoi(c)
		return n, err == nil && n >= 200 && n <= 599
	}
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		l, ok1 := code(lo)
		h, ok2 := code(hi)
		return ok1 && ok2 && l <= h
	}
	for _, c := range strings.Split(s, ",") {
		if _, ok := code(c); !ok {
			return false
		}
	}
	return true
}

// targetGroupAttributes are the Service-wide target group attributes,
// overridden key by key by aws-load-balancer-target-group-attributes.<port>
// (or kelb's alias .<PROTOCOL>-<port>),
// with proxy_protocol_v2.enabled always present: false by default, true
// with aws-load-balancer-proxy-protocol "*", which wins over both.
func (b *builder) targetGroupAttributes(perPort map[string]string) (map[string]string, error) {
	attrs, err := b.ann.StringMap(AnnotationTargetGroupAttrs)
	if err != nil {
		return nil, err
	}
	if attrs == nil {
		attrs = map[string]string{}
	}
	for k, v := range perPort {
		attrs[k] = v
	}
	if _, ok := attrs[attrProxyProtocolV2]; !ok {
		attrs[attrProxyProtocolV2] = "false"
	}
	if raw, ok := b.ann.Str(AnnotationProxyProtocol); ok {
		if raw != "*" {
			return nil, &AnnotationError{Key: AnnotationProxyProtocol, Value: b.ann[AnnotationProxyProtocol], Reason: `the only valid value is "*"`}
		}
		attrs[attrProxyProtocolV2] = "true"
	}
	for _, k := range []string{attrProxyProtocolV2, attrPreserveClientIP} {
		if v, ok := attrs[k]; ok {
			if _, err := strconv.ParseBool(v); err != nil {
				return nil, &AnnotationError{Key: AnnotationTargetGroupAttrs, Value: b.ann[AnnotationTargetGroupAttrs], Reason: fmt.Sprintf("%s=%s is not a boolean", k, v)}
			}
		}
	}
	return attrs, nil
}

func (b *builder) targetGroupBinding(tg TargetGroup, g servicePortGroup) (TargetGroupBinding, error) {
	targetType := elbv2api.TargetType(tg.TargetType)
	ipType := elbv2api.TargetGroupIPAddressType(tg.IPAddressType)
	spec := elbv2api.TargetGroupBindingSpec{
		TargetType:    &targetType,
		ServiceRef:    elbv2api.ServiceReference{Name: b.svc.Name, Port: intstr.FromInt32(g.port.Port)},
		IPAddressType: &ipType,
	}
	if tg.TargetType == "instance" {
		labels, err := b.ann.StringMap(AnnotationTargetNodeLabels)
		if err != nil {
			return TargetGroupBinding{}, err
		}
		if len(labels) > 0 {
			spec.NodeSelector = &metav1.LabelSelector{MatchLabels: labels}
		}
	}
	return TargetGroupBinding{
		Name:      tg.Name,
		Namespace: b.svc.Namespace,
		Labels: map[string]string{
			LabelStackNamespace: b.svc.Namespace,
			LabelStackName:      b.svc.Name,
		},
		TargetGroup: tg.ResourceID,
		Spec:        spec,
	}, nil
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
