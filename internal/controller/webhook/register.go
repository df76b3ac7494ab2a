package webhook

import (
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
)

// Options configure the webhooks Register serves.
type Options struct {
	// Webhooks are the webhooks served besides the pod mutator.
	Webhooks Webhooks
	// LoadBalancerClass is what the Service mutator sets.
	LoadBalancerClass string
	// ELB describes target groups for the TargetGroupBinding webhooks.
	ELB TargetGroups
	// VpcID is the cluster's VPC (the TargetGroupBinding validator).
	VpcID string
	// IngressClass, DisableIngressClassAnnotation and
	// DisableIngressGroupNameAnnotation configure the Ingress validator.
	IngressClass                      string
	DisableIngressClassAnnotation     bool
	DisableIngressGroupNameAnnotation bool
}

// Register serves every webhook on srv, reading the cluster through c (the
// manager's cache). Every path is served whatever Options.Webhooks says,
// so that a configuration from manifests never meets a 404: the Service
// mutator then allows Services unchanged, and the others check as usual.
func Register(srv ctrlwebhook.Server, c client.Reader, scheme *runtime.Scheme, o Options) {
	srv.Register(PathMutatePod, &ctrlwebhook.Admission{Handler: NewPodMutator(c, scheme)})
	srv.Register(PathMutateService, &ctrlwebhook.Admission{Handler: NewServiceMutator(scheme, o.LoadBalancerClass, o.Webhooks.Service)})
	srv.Register(PathMutateTargetGroupBinding, &ctrlwebhook.Admission{Handler: NewTargetGroupBindingMutator(scheme, o.ELB)})
	srv.Register(PathValidateTargetGroupBinding, &ctrlwebhook.Admission{Handler: NewTargetGroupBindingValidator(scheme,
		&TargetGroupBindingValidator{Client: c, ELB: o.ELB, VpcID: o.VpcID})})
	srv.Register(PathValidateIngress, &ctrlwebhook.Admission{Handler: NewIngressValidator(scheme, &IngressValidator{
		Client:                            c,
		IngressClass:                      o.IngressClass,
		DisableIngressClassAnnotation:     o.DisableIngressClassAnnotation,
		DisableIngressGroupNameAnnotation: o.DisableIngressGroupNameAnnotation,
	})})
	srv.Register(PathValidateIngressClassParams, &ctrlwebhook.Admission{Handler: NewIngressClassParamsValidator(scheme)})
}
