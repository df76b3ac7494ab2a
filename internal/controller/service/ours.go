package service

import (
	corev1 "k8s.io/api/core/v1"
)

// DefaultLoadBalancerClass is the load balancer class of kelb controller, the
// AWS Load Balancer Controller's.
const DefaultLoadBalancerClass = "service.k8s.aws/nlb"

// Selection says which Services the controller takes.
type Selection struct {
	// LoadBalancerClass is the class that is ours; DefaultLoadBalancerClass
	// when empty.
	LoadBalancerClass string
	// DefaultLoadBalancer makes every type LoadBalancer Service with no class
	// and no load balancer type annotation ours, in instance mode.
	DefaultLoadBalancer bool
}

func (s Selection) class() string {
	if s.LoadBalancerClass == "" {
		return DefaultLoadBalancerClass
	}
	return s.LoadBalancerClass
}

// Manages reports whether svc is the controller's. The rules are the AWS Load
// Balancer Controller's:
//
//   - a Service with spec.loadBalancerClass is ours exactly when the class is
//     ours, whatever its annotations;
//   - with no class, aws-load-balancer-type "external" with
//     aws-load-balancer-nlb-target-type "ip" or "instance", or the legacy
//     aws-load-balancer-type "nlb-ip", make it ours;
//
// and two more, for clusters with no other load balancer provider:
//
//   - with no class, aws-load-balancer-type "nlb" (the in-tree AWS cloud
//     provider's annotation) on a type LoadBalancer Service makes it ours;
//   - with DefaultLoadBalancer, a type LoadBalancer Service with no class and
//     no aws-load-balancer-type annotation is ours.
//
// A Service being deleted is still judged by these rules: the caller decides
// what to clean up.
func (s Selection) Manages(svc *corev1.Service) bool {
	if svc.Spec.LoadBalancerClass != nil {
		return *svc.Spec.LoadBalancerClass == s.class()
	}
	lbType, hasType := svc.Annotations[AnnotationLoadBalancerType]
	switch lbType {
	case LoadBalancerTypeNLBIP:
		return true
	case LoadBalancerTypeExternal:
		switch svc.Annotations[AnnotationTargetType] {
		case "ip", "instance":
			return true
		}
		return false
	case LoadBalancerTypeNLB:
		return svc.Spec.Type == corev1.ServiceTypeLoadBalancer
	}
	return s.DefaultLoadBalancer && !hasType && svc.Spec.Type == corev1.ServiceTypeLoadBalancer
}
