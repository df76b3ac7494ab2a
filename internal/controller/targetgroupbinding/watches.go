package targetgroupbinding

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
)

// IndexServiceName indexes TargetGroupBindings by spec.serviceRef.name.
const IndexServiceName = "spec.serviceRef.name"

// SetupWithManager registers the reconciler and its watches with mgr:
// TargetGroupBindings, and the Services, EndpointSlices, Nodes and gated
// Pods that change their targets.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &elbv2api.TargetGroupBinding{}, IndexServiceName,
		func(o client.Object) []string {
			return []string{o.(*elbv2api.TargetGroupBinding).Spec.ServiceRef.Name}
		}); err != nil {
		return fmt.Errorf("index target group bindings by service: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("targetgroupbinding").
		For(&elbv2api.TargetGroupBinding{}).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.bindingsOfService)).
		Watches(&discoveryv1.EndpointSlice{}, handler.EnqueueRequestsFromMapFunc(r.bindingsOfSlice)).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(r.instanceBindings),
			builder.WithPredicates(nodeChanged)).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(bindingsOfGatedPod)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.workers()}).
		Complete(r)
}

func (r *Reconciler) workers() int {
	if r.MaxConcurrentReconciles > 0 {
		return r.MaxConcurrentReconciles
	}
	return DefaultMaxConcurrentReconciles
}

func (r *Reconciler) bindingsOfService(ctx context.Context, o client.Object) []reconcile.Request {
	return r.bindingsByService(ctx, o.GetNamespace(), o.GetName())
}

func (r *Reconciler) bindingsOfSlice(ctx context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[discoveryv1.LabelServiceName]
	if name == "" {
		return nil
	}
	return r.bindingsByService(ctx, o.GetNamespace(), name)
}

func (r *Reconciler) bindingsByService(ctx context.Context, ns, name string) []reconcile.Request {
	var list elbv2api.TargetGroupBindingList
	if err := r.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{IndexServiceName: name}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "list target group bindings of service", "service", ns+"/"+name)
		return nil
	}
	return requests(list.Items, nil)
}

// instanceBindings returns every binding that may have instance targets.
func (r *Reconciler) instanceBindings(ctx context.Context, _ client.Object) []reconcile.Request {
	var list elbv2api.TargetGroupBindingList
	if err := r.Client.List(ctx, &list); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "list target group bindings")
		return nil
	}
	return requests(list.Items, func(t *elbv2api.TargetGroupBinding) bool {
		return t.Spec.TargetType == nil || *t.Spec.TargetType == elbv2api.TargetTypeInstance
	})
}

func requests(items []elbv2api.TargetGroupBinding, keep func(*elbv2api.TargetGroupBinding) bool) []reconcile.Request {
	var out []reconcile.Request
	for i := range items {
		if keep == nil || keep(&items[i]) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: items[i].Namespace, Name: items[i].Name}})
		}
	}
	return out
}

// bindingsOfGatedPod maps a pod to the bindings whose readiness gates it
// carries: its containers turning ready makes it a target without any
// EndpointSlice change.
func bindingsOfGatedPod(_ context.Context, o client.Object) []reconcile.Request {
	pod, ok := o.(*corev1.Pod)
	if !ok {
		return nil
	}
	var out []reconcile.Request
	for _, g := range pod.Spec.ReadinessGates {
		if name, ok := strings.CutPrefix(string(g.ConditionType), GatePrefix); ok && name != "" {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: pod.Namespace, Name: name}})
		}
	}
	return out
}

// nodeChanged passes node events that can change instance targets: not the
// kubelet's periodic status updates.
var nodeChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		a, okA := e.ObjectOld.(*corev1.Node)
		b, okB := e.ObjectNew.(*corev1.Node)
		if !okA || !okB {
			return true
		}
		return nodeReady(a) != nodeReady(b) ||
			a.Spec.Unschedulable != b.Spec.Unschedulable ||
			!maps.Equal(a.Labels, b.Labels) ||
			!slices.Equal(a.Status.Addresses, b.Status.Addresses) ||
			(a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil)
	},
}
