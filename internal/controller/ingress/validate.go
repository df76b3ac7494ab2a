package ingress

import (
	networkingv1 "k8s.io/api/networking/v1"
)

// Validate checks what of an Ingress of ours can be judged alone, with the
// build's messages: its group (group.name, group.order, or its
// IngressClassParams' group) and its conditions.<service> annotations. The
// admission webhook refuses what fails here; the build would refuse it
// too.
func Validate(ing *networkingv1.Ingress, class ClassResult) error {
	if _, _, err := memberOf(ing, class); err != nil {
		return err
	}
	ann := annotations(ing.Annotations)
	seen := map[string]bool{}
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for _, p := range rule.HTTP.Paths {
			if p.Backend.Service == nil || seen[p.Backend.Service.Name] {
				continue
			}
			seen[p.Backend.Service.Name] = true
			if _, err := parseConditions(ann, p.Backend.Service.Name); err != nil {
				return err
			}
		}
	}
	return nil
}
