package ingress

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
	"github.com/kelb-io/kelb/internal/controller/certificates"
	"github.com/kelb-io/kelb/internal/controller/deploy"
)

// Options configure the Ingress controller.
type Options struct {
	// ELB is the ELBv2 client of kelb server. Required.
	ELB deploy.ELBv2
	// ACM is the ACM client of kelb server's certificate store; without
	// it, Ingresses naming TLS Secrets, asking for create-acm-cert or
	// relying on certificate discovery fail to deploy.
	ACM certificates.Client
	// EC2 is the EC2 client of kelb server, for the security-groups
	// annotation; without it, Ingresses naming groups fail to deploy.
	EC2 deploy.EC2
	// Tagging is the Resource Groups Tagging API client of kelb server: a
	// group's first deploy finds what an earlier one left by its tags
	// (GetResources); without it, it lists every load balancer and target
	// group and reads their tags.
	Tagging deploy.Tagging
	// IngressClass is the legacy kubernetes.io/ingress.class value that is
	// ours; "alb" when empty.
	IngressClass string
	// MaxConcurrentReconciles is how many IngressGroups are reconciled at
	// once; zero means DefaultMaxConcurrentReconciles.
	MaxConcurrentReconciles int
	// Build holds the cluster name and defaults of every stack.
	Build BuildOptions
}

// SetupWithManager registers the Ingress controller with mgr: it watches
// Ingresses, IngressClasses, IngressClassParams, Services and Secrets and
// reconciles the IngressGroups they affect.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if opts.ELB == nil {
		return fmt.Errorf("ingress controller: no ELBv2 client")
	}
	d := &deploy.Deployer{Client: opts.ELB, Tagging: opts.Tagging, EC2: opts.EC2, ClusterName: opts.Build.ClusterName, OIDCSecrets: KubeOIDCSecrets{Kube: mgr.GetClient()}, Frontend: Frontend}
	if opts.ACM != nil {
		d.Certificates = &certificates.SecretCertificates{Kube: mgr.GetClient(), ACM: opts.ACM, ClusterName: opts.Build.ClusterName}
		d.ACM = opts.ACM
	}
	r := &Reconciler{
		Client:       mgr.GetClient(),
		Recorder:     mgr.GetEventRecorderFor("ingress"),
		Deployer:     d,
		IngressClass: opts.IngressClass,
		Options:      opts.Build,

		MaxConcurrentReconciles: opts.MaxConcurrentReconciles,
	}
	return r.SetupWithManager(mgr)
}

// SetupWithManager registers the reconciler with mgr.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	workers := r.MaxConcurrentReconciles
	if workers <= 0 {
		workers = DefaultMaxConcurrentReconciles
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("ingress").
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Watches(&networkingv1.Ingress{}, handler.EnqueueRequestsFromMapFunc(r.groupsOfIngress)).
		Watches(&networkingv1.IngressClass{}, handler.EnqueueRequestsFromMapFunc(r.allGroups)).
		Watches(&elbv2api.IngressClassParams{}, handler.EnqueueRequestsFromMapFunc(r.allGroups)).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.groupsUsing(func(ing *networkingv1.Ingress, name string) bool {
			return usesService(ing, name)
		}))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.groupsUsing(func(ing *networkingv1.Ingress, name string) bool {
			for _, t := range ing.Spec.TLS {
				if t.SecretName == name {
					return true
				}
			}
			return false
		}))).
		Complete(r)
}

// requests returns the groups an Ingress is in now and was in at its last
// reconcile.
func requests(ing *networkingv1.Ingress, classes Classes) []reconcile.Request {
	var ids []GroupID
	if class, ours := classes.Of(ing); ours {
		if id, _, err := memberOf(ing, class); err == nil {
			ids = append(ids, id)
		}
	}
	ids = append(ids, groupsOfFinalizers(ing)...)
	var out []reconcile.Request
	seen := map[GroupID]bool{}
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName(id)})
		}
	}
	return out
}

func (r *Reconciler) groupsOfIngress(ctx context.Context, obj client.Object) []reconcile.Request {
	ing, ok := obj.(*networkingv1.Ingress)
	if !ok {
		return nil
	}
	classes, err := r.classes(ctx)
	if err != nil {
		return nil
	}
	return requests(ing, classes)
}

// allGroups enqueues the groups of every Ingress: a class change can move
// any of them.
func (r *Reconciler) allGroups(ctx context.Context, _ client.Object) []reconcile.Request {
	return r.groupsMatching(ctx, "", func(*networkingv1.Ingress) bool { return true })
}

// groupsUsing enqueues the groups of the Ingresses in an object's
// namespace that use it.
func (r *Reconciler) groupsUsing(uses func(ing *networkingv1.Ingress, name string) bool) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		return r.groupsMatching(ctx, obj.GetNamespace(), func(ing *networkingv1.Ingress) bool { return uses(ing, obj.GetName()) })
	}
}

func (r *Reconciler) groupsMatching(ctx context.Context, namespace string, match func(*networkingv1.Ingress) bool) []reconcile.Request {
	classes, err := r.classes(ctx)
	if err != nil {
		return nil
	}
	var list networkingv1.IngressList
	var opts []client.ListOption
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := r.Client.List(ctx, &list, opts...); err != nil {
		return nil
	}
	var out []reconcile.Request
	seen := map[reconcile.Request]bool{}
	for i := range list.Items {
		if !match(&list.Items[i]) {
			continue
		}
		for _, req := range requests(&list.Items[i], classes) {
			if !seen[req] {
				seen[req] = true
				out = append(out, req)
			}
		}
	}
	return out
}

// usesService reports whether ing routes to Service name: by a backend or
// by a forward action annotation.
func usesService(ing *networkingv1.Ingress, name string) bool {
	uses := func(be *networkingv1.IngressBackend) bool {
		if be == nil || be.Service == nil {
			return false
		}
		if be.Service.Name == name {
			return true
		}
		if be.Service.Port.Name != UseAnnotation {
			return false
		}
		pa, err := parseAction(annotations(ing.Annotations), be.Service.Name)
		if err != nil {
			return false
		}
		for _, s := range pa.services {
			if s.Name == name {
				return true
			}
		}
		return false
	}
	if uses(ing.Spec.DefaultBackend) {
		return true
	}
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for i := range rule.HTTP.Paths {
			if uses(&rule.HTTP.Paths[i].Backend) {
				return true
			}
		}
	}
	return false
}
