package ingress

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
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
