package ingress

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

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
