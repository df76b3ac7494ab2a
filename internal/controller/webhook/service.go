package webhook

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Service mutating webhook: its path and name, as the AWS Load Balancer
// Controller's.
const (
	PathMutateService   = "/mutate-v1-service"
	ServiceWebhookName  = "mservice.elbv2.k8s.aws"
	LabelControllerName = "app.kubernetes.io/name"
	// ControllerName is kelb controller's app.kubernetes.io/name: its own
	// objects are left alone by the webhooks.
	ControllerName = "kelb-controller"
)

// MutateService makes a type LoadBalancer Service the controller's, as the
// AWS Load Balancer Controller's Service mutator does: on create, a Service
// without spec.loadBalancerClass gets class; on update, a Service whose
// class was set keeps it when the update leaves it empty (the field is
// immutable once set). It reports whether it changed svc.
func MutateService(svc, old *corev1.Service, class string) bool {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return false
	}
	if svc.Spec.LoadBalancerClass != nil && *svc.Spec.LoadBalancerClass != "" {
		return false
	}
	if old == nil {
		svc.Spec.LoadBalancerClass = &class
		return true
	}
	if old.Spec.LoadBalancerClass != nil && *old.Spec.LoadBalancerClass != "" {
		c := *old.Spec.LoadBalancerClass
		svc.Spec.LoadBalancerClass = &c
		return true
	}
	return false
}

// NewServiceMutator returns the Service mutator setting class; with enabled
// false it allows every Service unchanged (the webhook may be registered
// while the controller is told not to take class-less Services).
func NewServiceMutator(scheme *runtime.Scheme, class string, enabled bool) admission.Handler {
	return &mutating[*corev1.Service]{
		decoder: admission.NewDecoder(scheme),
		newObj:  func() *corev1.Service { return &corev1.Service{} },
		mutate: func(_ context.Context, _ admission.Request, svc, old *corev1.Service) error {
			if enabled {
				MutateService(svc, old, class)
			}
			return nil
		},
	}
}
