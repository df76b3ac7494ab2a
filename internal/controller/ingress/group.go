package ingress

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Finalizers of Ingresses, the AWS Load Balancer Controller's: an Ingress
// alone in its implicit group carries ImplicitGroupFinalizer, a member of
// group <name> carries ExplicitGroupFinalizerPrefix + <name>.
const (
	ImplicitGroupFinalizer       = "ingress.k8s.aws/resources"
	ExplicitGroupFinalizerPrefix = "group.ingress.k8s.aws/"
)

// GroupID names an IngressGroup: an explicit group has a Name only; the
// implicit group of one Ingress has its Namespace and Name.
type GroupID types.NamespacedName

// Explicit reports whether the group was named by group.name (or by the
// class's IngressClassParams).
func (g GroupID) Explicit() bool { return g.Namespace == "" }

// String is the group's name, or "<namespace>/<name>" of its Ingress: the
// value of the ingress.k8s.aws/stack tag.
func (g GroupID) String() string {
	if g.Explicit() {
		return g.Name
	}
	return g.Namespace + "/" + g.Name
}

// Finalizer is the finalizer the group's members carry.
func (g GroupID) Finalizer() string {
	if g.Explicit() {
		return ExplicitGroupFinalizerPrefix + g.Name
	}
	return ImplicitGroupFinalizer
}

// groupsOfFinalizers returns the groups whose finalizer ing carries: the
// groups it was a member of when last reconciled.
func groupsOfFinalizers(ing *networkingv1.Ingress) []GroupID {
	var out []GroupID
	for _, f := range ing.Finalizers {
		if f == ImplicitGroupFinalizer {
			out = append(out, GroupID{Namespace: ing.Namespace, Name: ing.Name})
		} else if name, ok := strings.CutPrefix(f, ExplicitGroupFinalizerPrefix); ok && name != "" {
			out = append(out, GroupID{Name: name})
		}
	}
	return out
}

var groupNamePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// Member is an Ingress of a group, with its class.
type Member struct {
	Ingress *networkingv1.Ingress
	Class   ClassResult
	// Order is the group.order annotation: members are sorted by it, then
	// by namespace/name.
	Order int
}

// memberOf returns the group of an Ingress that is ours, and its order.
// IngressClassParams' group wins over the group.name annotation, as its
// fields win over annotations.
func memberOf(ing *networkingv1.Ingress, class ClassResult) (GroupID, int, error) {
	ann := annotations(ing.Annotations)
	order := 0
	if raw, ok := ann.Str(AnnotationGroupOrder); ok {
		n, err := strconv.Atoi(raw)
		if err != nil || n < -1000 || n > 1000 {
			return GroupID{}, 0, ann.Fail(AnnotationGroupOrder, "must be an integer from -1000 to 1000")
		}
		order = n
	}
	if class.Params != nil && class.Params.Spec.Group != nil && class.Params.Spec.Group.Name != "" {
		name := class.Params.Spec.Group.Name
		if !validGroupName(name) {
			return GroupID{}, 0, fmt.Errorf("IngressClassParams %s: group name %q must be at most 63 lower case letters, digits, '-' or '.', starting and ending with a letter or digit", class.Params.Name, name)
		}
		return GroupID{Name: name}, order, nil
	}
	if raw, ok := ann.Str(AnnotationGroupName); ok {
		if !validGroupName(raw) {
			return GroupID{}, 0, ann.Fail(AnnotationGroupName, "must be at most 63 lower case letters, digits, '-' or '.', starting and ending with a letter or digit")
		}
		return GroupID{Name: raw}, order, nil
	}
	return GroupID{Namespace: ing.Namespace, Name: ing.Name}, order, nil
}

func validGroupName(s string) bool {
	return len(s) <= 63 && groupNamePattern.MatchString(s)
}

// sortMembers orders members as the AWS Load Balancer Controller does: by
// group.order, then by namespace/name. Rule priorities follow this order.
func sortMembers(ms []Member) {
	sort.SliceStable(ms, func(i, j int) bool {
		if ms[i].Order != ms[j].Order {
			return ms[i].Order < ms[j].Order
		}
		a, b := ms[i].Ingress, ms[j].Ingress
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
}
