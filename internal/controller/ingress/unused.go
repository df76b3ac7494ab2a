package ingress

import (
	"fmt"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
)

// AnnotationTargetControlPortPrefix starts the AWS Load Balancer
// Controller's target-control-port.<service>.<port> annotations: the port
// of the target optimizer's control agent, which kelb does not have.
const AnnotationTargetControlPortPrefix = AnnotationPrefix + "target-control-port."

// unusedAnnotations names the per-backend annotations of ing that nothing
// reads: target-control-port.<service>.<port> (kelb has no target
// optimizer), and actions.<name> or conditions.<name> that no path's
// backend uses (service <name>, port use-annotation for actions). They are
// reported, never silently dropped.
func unusedAnnotations(ing *networkingv1.Ingress) []string {
	actions := map[string]bool{}
	backends := map[string]bool{}
	add := func(be *networkingv1.IngressBackend) {
		if be == nil || be.Service == nil {
			return
		}
		backends[be.Service.Name] = true
		if be.Service.Port.Name == UseAnnotation {
			actions[be.Service.Name] = true
		}
	}
	add(ing.Spec.DefaultBackend)
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for i := range r.HTTP.Paths {
			add(&r.HTTP.Paths[i].Backend)
		}
	}
	var out []string
	for k, v := range ing.Annotations {
		var why string
		if rest, ok := strings.CutPrefix(k, AnnotationTargetControlPortPrefix); ok && rest != "" {
			why = "the target optimizer's control agent is not supported by kelb"
		} else if name, ok := strings.CutPrefix(k, AnnotationActionsPrefix); ok && !actions[name] {
			why = fmt.Sprintf("no path's backend names service %q with port %s", name, UseAnnotation)
		} else if name, ok := strings.CutPrefix(k, AnnotationConditionsPrefix); ok && !backends[name] {
			why = fmt.Sprintf("no path's backend names service %q", name)
		} else {
			continue
		}
		out = append(out, fmt.Sprintf("ingress %s: annotation %s=%q is ignored: %s", key(ing), k, v, why))
	}
	return out
}

// backendServiceWarnings names the actions.* and target-control-port.*
// annotations of the group's backend Services: the AWS Load Balancer
// Controller reads them from the Ingress only, so on a Service they do
// nothing.
func (b *builder) backendServiceWarnings() []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range b.members {
		for name := range backendNames(m.Ingress) {
			svc := b.in.Services[types.NamespacedName{Namespace: m.Ingress.Namespace, Name: name}]
			if svc == nil || seen[svc.Namespace+"/"+svc.Name] {
				continue
			}
			seen[svc.Namespace+"/"+svc.Name] = true
			for k, v := range svc.Annotations {
				if strings.HasPrefix(k, AnnotationActionsPrefix) || strings.HasPrefix(k, AnnotationTargetControlPortPrefix) {
					out = append(out, fmt.Sprintf("service %s/%s: annotation %s=%q is ignored: it is read from the Ingress only", svc.Namespace, svc.Name, k, v))
				}
			}
		}
	}
	return out
}

func backendNames(ing *networkingv1.Ingress) map[string]bool {
	out := map[string]bool{}
	if be := ing.Spec.DefaultBackend; be != nil && be.Service != nil {
		out[be.Service.Name] = true
	}
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			if p.Backend.Service != nil {
				out[p.Backend.Service.Name] = true
			}
		}
	}
	return out
}
