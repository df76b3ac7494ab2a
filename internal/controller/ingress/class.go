package ingress

import (
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
)

// Controller is the spec.controller of the IngressClasses that are ours,
// the AWS Load Balancer Controller's.
const Controller = "ingress.k8s.aws/alb"

// DefaultIngressClass is the value of the legacy kubernetes.io/ingress.class
// annotation that makes an Ingress ours.
const DefaultIngressClass = "alb"

// Annotations that select the class of an Ingress.
const (
	AnnotationIngressClass   = "kubernetes.io/ingress.class"
	AnnotationDefaultClass   = "ingressclass.kubernetes.io/is-default-class"
	paramsAPIGroup           = "elbv2.k8s.aws"
	paramsKind               = "IngressClassParams"
	defaultClassAnnotationOn = "true"
)

// Classes holds the cluster's IngressClasses and IngressClassParams: what
// decides which Ingresses are ours and with which parameters.
type Classes struct {
	// IngressClass is the legacy annotation value that makes an Ingress
	// ours; DefaultIngressClass when empty.
	IngressClass string
	Classes      []networkingv1.IngressClass
	Params       []elbv2api.IngressClassParams
}

// ClassResult is the class an Ingress of ours belongs to.
type ClassResult struct {
	// Class is the IngressClass's name; "" for the legacy annotation.
	Class string
	// Params are the class's parameters, nil when it has none.
	Params *elbv2api.IngressClassParams
	// Err is set when the class is ours but unusable: its parameters are
	// missing or of the wrong kind. The Ingress is ours, and its group
	// fails to build.
	Err error
}

func (c Classes) legacy() string {
	if c.IngressClass == "" {
		return DefaultIngressClass
	}
	return c.IngressClass
}

// Of reports whether ing is ours, and its class. The rules are the AWS Load
// Balancer Controller's:
//
//   - spec.ingressClassName naming an IngressClass whose spec.controller is
//     ingress.k8s.aws/alb makes it ours, with the class's
//     IngressClassParams; naming any other class (or one that does not
//     exist) makes it not ours;
//   - with no class name, the annotation kubernetes.io/ingress.class: alb
//     makes it ours, with no parameters; any other value not ours;
//   - with neither, the default IngressClass (annotated
//     ingressclass.kubernetes.io/is-default-class: "true"), if ours.
func (c Classes) Of(ing *networkingv1.Ingress) (ClassResult, bool) {
	if name := ing.Spec.IngressClassName; name != nil {
		for i := range c.Classes {
			if c.Classes[i].Name == *name {
				return c.result(&c.Classes[i])
			}
		}
		return ClassResult{}, false
	}
	if v, ok := ing.Annotations[AnnotationIngressClass]; ok {
		if v == c.legacy() {
			return ClassResult{}, true
		}
		return ClassResult{}, false
	}
	for i := range c.Classes {
		if c.Classes[i].Annotations[AnnotationDefaultClass] == defaultClassAnnotationOn {
			return c.result(&c.Classes[i])
		}
	}
	return ClassResult{}, false
}

func (c Classes) result(class *networkingv1.IngressClass) (ClassResult, bool) {
	if class.Spec.Controller != Controller {
		return ClassResult{}, false
	}
	res := ClassResult{Class: class.Name}
	ref := class.Spec.Parameters
	if ref == nil {
		return res, true
	}
	if ref.APIGroup == nil || *ref.APIGroup != paramsAPIGroup || ref.Kind != paramsKind {
		res.Err = fmt.Errorf("IngressClass %s: parameters must be an %s %s, not %s", class.Name, paramsAPIGroup, paramsKind, ref.Kind)
		return res, true
	}
	for i := range c.Params {
		if c.Params[i].Name == ref.Name {
			res.Params = &c.Params[i]
			return res, true
		}
	}
	res.Err = fmt.Errorf("IngressClass %s: IngressClassParams %s not found", class.Name, ref.Name)
	return res, true
}
