package ingress

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
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/model"
)

// Load balancer schemes.
const (
	SchemeInternal       = "internal"
	SchemeInternetFacing = "internet-facing"
)

// DefaultSSLPolicy is the security policy of HTTPS listeners with no
// ssl-policy annotation, the AWS Load Balancer Controller's default.
const DefaultSSLPolicy = "ELBSecurityPolicy-2016-08"

const (
	loadBalancerTypeApplication = "application"
	healthCheckPortTrafficPort  = "traffic-port"
	grpcHealthCheckPath         = "/AWS.ALB/healthcheck"
)

// BuildOptions are the controller-wide settings a stack depends on. The zero
// value builds internal load balancers with instance targets and no cluster
// tag.
type BuildOptions struct {
	// ClusterName is the value of the elbv2.k8s.aws/cluster tag and part of
	// every generated name.
	ClusterName string
	// DefaultTargetType is the target type of a backend with no target-type
	// annotation: "instance" (when empty) or "ip".
	DefaultTargetType string
	// DefaultScheme is the scheme of a group with no scheme annotation:
	// "internal" (when empty) or "internet-facing".
	DefaultScheme string
	// DefaultSSLPolicy is the security policy of HTTPS listeners with no
	// ssl-policy annotation; DefaultSSLPolicy when empty.
	DefaultSSLPolicy string
	// DefaultTags are added to every resource and win over the tags
	// annotation and IngressClassParams, as the AWS Load Balancer
	// Controller's --default-tags do.
	DefaultTags map[string]string
}

// BuildInput is what a group's stack is built from.
type BuildInput struct {
	Group GroupID
	// Members are the Ingresses of the group that are not being deleted;
	// Build sorts them by group.order, then namespace/name.
	Members []Member
	// Services holds the Services the members' backends name.
	Services map[types.NamespacedName]*corev1.Service
	// NamespaceLabels are the labels of the members' namespaces, for the
	// namespace selectors of IngressClassParams.
	NamespaceLabels map[string]map[string]string
}

// ConflictError is a setting that must be the same across a group (an
// exclusive annotation, a listener's protocol, a default backend) and is
// not. The whole group fails to build.
type ConflictError struct {
	Group   string
	Setting string
	// Values maps "<namespace>/<name>" of each member to its value.
	Values map[string]string
}

func (e *ConflictError) Error() string {
	keys := make([]string, 0, len(e.Values))
	for k := range e.Values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, e.Values[k])
	}
	return fmt.Sprintf("ingress group %s: conflicting %s: %s", e.Group, e.Setting, strings.Join(parts, ", "))
}

// Build turns an IngressGroup into the desired stack of its application
// load balancer. It is a pure function: the same input and options always
// give the same stack. An error names the Ingress, annotation and value at
// fault (an *AnnotationError or a *ConflictError, wrapped); the caller must
// then leave the existing load balancer unchanged.
func Build(in BuildInput, opts BuildOptions) (*Stack, error) {
	if len(in.Members) == 0 {
		return nil, fmt.Errorf("ingress group %s has no members", in.Group)
	}
	members, err := withClassParams(in.Members)
	if err != nil {
		return nil, err
	}
	sortMembers(members)
	b := &builder{in: in, members: members, opts: opts, stackID: in.Group.String(), tgs: map[string]*TargetGroup{}, bindings: map[string]TargetGroupBinding{}}
	return b.build()
}

type builder struct {
	in      BuildInput
	members []Member
	opts    BuildOptions
	stackID string
	// userTags are the group's tags from annotations and parameters.
	userTags map[string]string
	ipType   string
	// inbound are the managed security group's rules, from the
	// listeners' inbound CIDRs; inboundSet says a member set them.
	inbound    []model.IngressRule
	inboundSet bool
	tgs        map[string]*TargetGroup
	bindings   map[string]TargetGroupBinding
	tgOrder    []string
}

func key(ing *networkingv1.Ingress) string { return ing.Namespace + "/" + ing.Name }

// memberError wraps err with the Ingress it comes from.
func memberError(ing *networkingv1.Ingress, err error) error {
	return fmt.Errorf("ingress %s: %w", key(ing), err)
}

func (b *builder) build() (*Stack, error) {
	for _, m := range b.members {
		if m.Class.Err != nil {
			return nil, memberError(m.Ingress, m.Class.Err)
		}
		if err := b.checkNamespace(m); err != nil {
			return nil, memberError(m.Ingress, err)
		}
		if err := refuseUnprotected(annotations(m.Ingress.Annotations)); err != nil {
			return nil, memberError(m.Ingress, err)
		}
		if _, err := parseMutualAuthentication(annotations(m.Ingress.Annotations)); err != nil {
			return nil, memberError(m.Ingress, err)
		}
	}
	lb, err := b.loadBalancer()
	if err != nil {
		return nil, err
	}
	listeners, err := b.listeners()
	if err != nil {
		return nil, err
	}
	st := &Stack{ID: b.stackID, LoadBalancer: lb, Listeners: listeners, Warnings: b.warnings()}
	b.managedSecurityGroup(st)
	for _, id := range b.tgOrder {
		tg := b.tgs[id]
		st.TargetGroups = append(st.TargetGroups, *tg)
	}
	for _, tg := range st.TargetGroups {
		st.TargetGroupBindings = append(st.TargetGroupBindings, b.bindings[tg.ResourceID])
	}
	return st, nil
}

func (b *builder) checkNamespace(m Member) error {
	p := m.Class.Params
	if p == nil || p.Spec.NamespaceSelector == nil {
		return nil
	}
	sel, err := metav1.LabelSelectorAsSelector(p.Spec.NamespaceSelector)
	if err != nil {
		return fmt.Errorf("IngressClassParams %s: namespaceSelector: %w", p.Name, err)
	}
	if !sel.Matches(labels.Set(b.in.NamespaceLabels[m.Ingress.Namespace])) {
		return fmt.Errorf("IngressClassParams %s: namespace %s is not selected by its namespaceSelector", p.Name, m.Ingress.Namespace)
	}
	return nil
}

// exclusive reads an annotation that must have one value across the group:
// members that set it must agree. parse validates one member's value.
func (b *builder) exclusive(annKey string, parse func(ann annotations) (string, error)) (string, bool, error) {
	values := map[string]string{}
	var value string
	for _, m := range b.members {
		ann := annotations(m.Ingress.Annotations)
		if _, ok := ann[annKey]; !ok {
			continue
		}
		v, err := parse(ann)
		if err != nil {
			return "", false, memberError(m.Ingress, err)
		}
		values[key(m.Ingress)] = v
		value = v
	}
	for _, v := range values {
		if v != value {
			return "", false, &ConflictError{Group: b.stackID, Setting: "annotation " + annKey, Values: values}
		}
	}
	return value, len(values) > 0, nil
}

// mergedMap merges a key=value annotation across the group; a key given
// two different values is a conflict.
func (b *builder) mergedMap(annKey string) (map[string]string, error) {
	out := map[string]string{}
	from := map[string]string{}
	for _, m := range b.members {
		ann := annotations(m.Ingress.Annotations)
		kv, err := ann.StringMap(annKey)
		if err != nil {
			return nil, memberError(m.Ingress, err)
		}
		for k, v := range kv {
			if have, ok := out[k]; ok && have != v {
				return nil, &ConflictError{Group: b.stackID, Setting: fmt.Sprintf("annotation %s key %s", annKey, k),
					Values: map[string]string{from[k]: have, key(m.Ingress): v}}
			}
			out[k], from[k] = v, key(m.Ingress)
		}
	}
	return out, nil
}

// params returns the IngressClassParams of the group's members; members of
// one group may come from classes with different parameters, which then
// must agree on what they set.
func (b *builder) params() []*elbv2api.IngressClassParams {
	var out []*elbv2api.IngressClassParams
	for _, m := range b.members {
		if p := m.Class.Params; p != nil && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// fromParams returns the single value the group's IngressClassParams set
// with get, or a conflict.
func (b *builder) fromParams(setting string, get func(*elbv2api.IngressClassParams) string) (string, bool, error) {
	values := map[string]string{}
	var value string
	for _, p := range b.params() {
		if v := get(p); v != "" {
			values["IngressClassParams "+p.Name] = v
			value = v
		}
	}
	for _, v := range values {
		if v != value {
			return "", false, &ConflictError{Group: b.stackID, Setting: setting, Values: values}
		}
	}
	return value, len(values) > 0, nil
}

func (b *builder) loadBalancer() (LoadBalancer, error) {
	scheme, ok, err := b.fromParams("IngressClassParams scheme", func(p *elbv2api.IngressClassParams) string {
		if p.Spec.Scheme == nil {
			return ""
		}
		return string(*p.Spec.Scheme)
	})
	if err != nil {
		return LoadBalancer{}, err
	}
	if !ok {
		scheme, ok, err = b.exclusive(AnnotationScheme, func(ann annotations) (string, error) {
			v, _, err := ann.OneOf(AnnotationScheme, SchemeInternal, SchemeInternetFacing)
			return v, err
		})
		if err != nil {
			return LoadBalancer{}, err
		}
	}
	if !ok {
		switch b.opts.DefaultScheme {
		case "":
			scheme = SchemeInternal
		case SchemeInternal, SchemeInternetFacing:
			scheme = b.opts.DefaultScheme
		default:
			return LoadBalancer{}, fmt.Errorf("default scheme %q: must be internal or internet-facing", b.opts.DefaultScheme)
		}
	}

	ipType, ok, err := b.fromParams("IngressClassParams ipAddressType", func(p *elbv2api.IngressClassParams) string {
		if p.Spec.IPAddressType == nil {
			return ""
		}
		return string(*p.Spec.IPAddressType)
	})
	if err != nil {
		return LoadBalancer{}, err
	}
	if !ok {
		ipType, ok, err = b.exclusive(AnnotationIPAddressType, func(ann annotations) (string, error) {
			v, _, err := ann.OneOf(AnnotationIPAddressType, "ipv4", "dualstack", "dualstack-without-public-ipv4")
			return v, err
		})
		if err != nil {
			return LoadBalancer{}, err
		}
	}
	if !ok {
		ipType = "ipv4"
	}
	b.ipType = ipType

	name, err := b.loadBalancerName(scheme)
	if err != nil {
		return LoadBalancer{}, err
	}

	subnets, ok, err := b.fromParams("IngressClassParams subnets", func(p *elbv2api.IngressClassParams) string {
		if p.Spec.Subnets == nil {
			return ""
		}
		ids := make([]string, len(p.Spec.Subnets.IDs))
		for i, id := range p.Spec.Subnets.IDs {
			ids[i] = string(id)
		}
		return strings.Join(ids, ",")
	})
	if err != nil {
		return LoadBalancer{}, err
	}
	if !ok {
		subnets, _, err = b.exclusive(AnnotationSubnets, func(ann annotations) (string, error) {
			items, err := ann.List(AnnotationSubnets)
			return strings.Join(items, ","), err
		})
		if err != nil {
			return LoadBalancer{}, err
		}
	}
	var subnetList []string
	if subnets != "" {
		subnetList = strings.Split(subnets, ",")
	}

	for _, m := range b.members {
		if _, err := attributes(annotations(m.Ingress.Annotations), AnnotationLoadBalancerAttributes, loadBalancerAttributes); err != nil {
			return LoadBalancer{}, memberError(m.Ingress, err)
		}
	}
	attrs, err := b.mergedMap(AnnotationLoadBalancerAttributes)
	if err != nil {
		return LoadBalancer{}, err
	}
	for _, p := range b.params() {
		for _, a := range p.Spec.LoadBalancerAttributes {
			attrs[a.Key] = a.Value
		}
	}
	if len(attrs) == 0 {
		attrs = nil
	}

	if b.userTags, err = b.mergedMap(AnnotationTags); err != nil {
		return LoadBalancer{}, err
	}
	for _, p := range b.params() {
		for _, t := range p.Spec.Tags {
			b.userTags[t.Key] = t.Value
		}
	}
	groups, err := b.securityGroups()
	if err != nil {
		return LoadBalancer{}, err
	}
	return LoadBalancer{
		Name:           name,
		Type:           loadBalancerTypeApplication,
		Scheme:         scheme,
		IPAddressType:  ipType,
		Subnets:        subnetList,
		Attributes:     attrs,
		Tags:           b.tags(ResourceLoadBalancer),
		SecurityGroups: groups,
	}, nil
}

var invalidNameChars = regexp.MustCompile("[[:^alnum:]]")

// loadBalancerName is the load-balancer-name annotation (one value across
// the group), or the AWS Load Balancer Controller's generated name:
// k8s-<group>-<hash> for an explicit group (17 characters of its name),
// k8s-<namespace>-<name>-<hash> for an implicit one (8 characters each),
// names stripped of non-alphanumerics, and 10 hex digits of
// sha256(cluster name, group ID, scheme).
func (b *builder) loadBalancerName(scheme string) (string, error) {
	name, ok, err := b.exclusive(AnnotationLoadBalancerName, func(ann annotations) (string, error) {
		v, _ := ann.Str(AnnotationLoadBalancerName)
		if v == "" || len(v) > 32 {
			return "", ann.Fail(AnnotationLoadBalancerName, "must be 1 to 32 characters")
		}
		if !validLoadBalancerName(v) {
			return "", ann.Fail(AnnotationLoadBalancerName, "must be letters, digits and hyphens, not starting or ending with a hyphen, without two hyphens in a row, nor starting with internal-")
		}
		return v, nil
	})
	if err != nil || ok {
		return name, err
	}
	h := sha256.New()
	h.Write([]byte(b.opts.ClusterName))
	h.Write([]byte(b.stackID))
	h.Write([]byte(scheme))
	sum := hex.EncodeToString(h.Sum(nil))
	if b.in.Group.Explicit() {
		return fmt.Sprintf("k8s-%.17s-%.10s", invalidNameChars.ReplaceAllString(b.in.Group.Name, ""), sum), nil
	}
	return generatedName(b.in.Group.Namespace, b.in.Group.Name, sum), nil
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

// tags are the group's user tags, the controller's default tags, then the
// tracking tags, which nothing overrides.
func (b *builder) tags(resource string) map[string]string {
	out := map[string]string{}
	for k, v := range b.userTags {
		out[k] = v
	}
	for k, v := range b.opts.DefaultTags {
		out[k] = v
	}
	if b.opts.ClusterName != "" {
		out[TagCluster] = b.opts.ClusterName
	}
	out[TagStack] = b.stackID
	out[TagResource] = resource
	return out
}

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

func backendString(be networkingv1.IngressBackend) string {
	if be.Service == nil {
		return "resource"
	}
	if be.Service.Port.Name != "" {
		return be.Service.Name + ":" + be.Service.Port.Name
	}
	return be.Service.Name + ":" + strconv.Itoa(int(be.Service.Port.Number))
}

// sortPaths orders one rule's paths as the AWS Load Balancer Controller
// does: Exact paths first, then Prefix paths longest first, then the
// others in their order.
func sortPaths(paths []networkingv1.HTTPIngressPath) []networkingv1.HTTPIngressPath {
	var exact, prefix, other []networkingv1.HTTPIngressPath
	for _, p := range paths {
		switch pathType(p) {
		case networkingv1.PathTypeExact:
			exact = append(exact, p)
		case networkingv1.PathTypePrefix:
			prefix = append(prefix, p)
		default:
			other = append(other, p)
		}
	}
	sort.SliceStable(prefix, func(i, j int) bool { return len(prefix[i].Path) > len(prefix[j].Path) })
	return slices.Concat(exact, prefix, other)
}

func pathType(p networkingv1.HTTPIngressPath) networkingv1.PathType {
	if p.PathType == nil {
		return networkingv1.PathTypeImplementationSpecific
	}
	return *p.PathType
}

// pathPatterns maps an Ingress path to ALB path patterns: Exact as given,
// Prefix "/p" as "/p" and "/p/*" ("/" as "/*"), ImplementationSpecific as
// given (so "/*" style wildcards work).
func pathPatterns(p networkingv1.HTTPIngressPath) ([]string, error) {
	switch pathType(p) {
	case networkingv1.PathTypeExact:
		if strings.ContainsAny(p.Path, "*?") {
			return nil, fmt.Errorf("exact path %q must not contain wildcards", p.Path)
		}
		return []string{p.Path}, nil
	case networkingv1.PathTypePrefix:
		if p.Path == "/" {
			return []string{"/*"}, nil
		}
		if strings.ContainsAny(p.Path, "*?") {
			return nil, fmt.Errorf("prefix path %q must not contain wildcards", p.Path)
		}
		trimmed := strings.TrimSuffix(p.Path, "/")
		return []string{trimmed, trimmed + "/*"}, nil
	case networkingv1.PathTypeImplementationSpecific:
		if p.Path == "" {
			return nil, nil
		}
		return []string{p.Path}, nil
	}
	return nil, fmt.Errorf("path %q: unknown pathType %q", p.Path, *p.PathType)
}

func (b *builder) rule(m Member, host string, path networkingv1.HTTPIngressPath) (Rule, error) {
	var conds []Condition
	if host != "" {
		conds = append(conds, Condition{Field: "host-header", Values: []string{host}})
	}
	ann := annotations(m.Ingress.Annotations)
	regexPaths, _, err := ann.OneOf(AnnotationUseRegexPathMatch, "true", "false")
	if err != nil {
		return Rule{}, err
	}
	if regexPaths == "true" && pathType(path) == networkingv1.PathTypeImplementationSpecific && path.Path != "" {
		// The Ingress path is "/" and a regular expression.
		conds = append(conds, Condition{Field: "path-pattern", RegexValues: []string{path.Path[1:]}})
	} else {
		patterns, err := pathPatterns(path)
		if err != nil {
			return Rule{}, err
		}
		if len(patterns) > 0 {
			conds = append(conds, Condition{Field: "path-pattern", Values: patterns})
		}
	}
	var transforms []Transform
	if path.Backend.Service != nil {
		name := path.Backend.Service.Name
		extra, err := parseConditions(ann, name)
		if err != nil {
			return Rule{}, err
		}
		if conds, err = mergeConditions(conds, extra); err != nil {
			return Rule{}, ann.Fail(AnnotationConditionsPrefix+name, err.Error())
		}
		if transforms, err = parseTransforms(ann, name); err != nil {
			return Rule{}, err
		}
	}
	if len(conds) == 0 {
		// ALB needs a condition; this one matches every request.
		conds = []Condition{{Field: "path-pattern", Values: []string{"/*"}}}
	}
	a, err := b.backendAction(m, path.Backend)
	if err != nil {
		return Rule{}, err
	}
	return Rule{Conditions: conds, Action: a, Transforms: transforms}, nil
}

// mergeConditions adds a conditions annotation's conditions to those of
// the Ingress rule and path. A rule has one host-header and one
// path-pattern condition, so the annotation's host-header and
// path-pattern values join the Ingress's, as in the AWS Load Balancer
// Controller; one condition cannot have both values and regexValues.
func mergeConditions(conds, extra []Condition) ([]Condition, error) {
	for _, e := range extra {
		i := slices.IndexFunc(conds, func(c Condition) bool {
			return (e.Field == "host-header" || e.Field == "path-pattern") && c.Field == e.Field
		})
		if i < 0 {
			conds = append(conds, e)
			continue
		}
		c := &conds[i]
		c.Values = append(slices.Clone(c.Values), e.Values...)
		c.RegexValues = append(slices.Clone(c.RegexValues), e.RegexValues...)
		if len(c.Values) > 0 && len(c.RegexValues) > 0 {
			return nil, fmt.Errorf("the %s condition would have both values %q and regexValues %q (a host or path of the Ingress rule is values; see use-regex-path-match)", c.Field, c.Values, c.RegexValues)
		}
	}
	return conds, nil
}

// backendAction is the action of an Ingress backend: forward to the
// target group of its Service port, or the actions.<name> annotation for
// port name use-annotation.
func (b *builder) backendAction(m Member, be networkingv1.IngressBackend) (Action, error) {
	if be.Service == nil {
		return Action{}, fmt.Errorf("resource backends are not supported, only Service backends")
	}
	if be.Service.Port.Name == UseAnnotation {
		pa, err := parseAction(annotations(m.Ingress.Annotations), be.Service.Name)
		if err != nil {
			return Action{}, err
		}
		if pa.action.Forward != nil {
			for i := range pa.action.Forward.TargetGroups {
				wt := &pa.action.Forward.TargetGroups[i]
				if wt.ARN != "" || wt.Name != "" {
					continue
				}
				idx, _ := strconv.Atoi(wt.TargetGroup)
				svc := pa.services[idx]
				tg, err := b.targetGroup(m, svc.Name, svc.Port)
				if err != nil {
					return Action{}, err
				}
				wt.TargetGroup = tg
			}
		}
		return pa.action, nil
	}
	port := intstr.FromInt32(be.Service.Port.Number)
	if be.Service.Port.Name != "" {
		port = intstr.FromString(be.Service.Port.Name)
	}
	tg, err := b.targetGroup(m, be.Service.Name, port)
	if err != nil {
		return Action{}, err
	}
	return Action{Type: ActionForward, Forward: &ForwardAction{TargetGroups: []WeightedTargetGroup{{TargetGroup: tg, Weight: 1}}}}, nil
}

// ipv6Capable reports whether load balancers of address type t have IPv6
// addresses: dualstack and dualstack-without-public-ipv4, as the AWS Load
// Balancer Controller decides.
func ipv6Capable(t string) bool {
	return t == "dualstack" || t == "dualstack-without-public-ipv4"
}
