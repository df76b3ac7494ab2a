package gateway

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Setup registers the GatewayClass and Gateway controllers with mgr when
// the cluster serves the Gateway API (GatewayClass, Gateway and
// ReferenceGrant in gateway.networking.k8s.io/v1), with the route kinds
// whose CRDs it serves. Without them it logs so and registers nothing:
// kelb controller then serves Services and Ingresses only. Without
// deployers, only GatewayClasses are accepted. It reports whether the
// controllers were registered.
func Setup(mgr ctrl.Manager, deployers map[gatewayv1.GatewayController]Deployer, opts Options) (bool, error) {
	logger := mgr.GetLogger().WithName("gateway")
	mapper := mgr.GetRESTMapper()
	served := func(kind string) bool {
		_, err := mapper.RESTMapping(schema.GroupKind{Group: Group, Kind: kind}, gatewayv1.GroupVersion.Version)
		return err == nil
	}
	for _, k := range []string{"GatewayClass", "Gateway", "ReferenceGrant"} {
		if !served(k) {
			logger.Info("the cluster does not serve the Gateway API (no " + k + " in " + gatewayv1.GroupVersion.String() + "): Gateway controllers not started; install the Gateway API CRDs and restart kelb controller to serve Gateways")
			return false, nil
		}
	}
	var kinds []string
	for _, k := range []string{KindHTTPRoute, KindGRPCRoute, KindTCPRoute, KindUDPRoute, KindTLSRoute} {
		if served(k) {
			kinds = append(kinds, k)
		} else {
			logger.Info("route kind not served by the cluster: not watched", "kind", k)
		}
	}
	classes := &ClassReconciler{Client: mgr.GetClient()}
	if err := ctrl.NewControllerManagedBy(mgr).Named("gatewayclass").For(&gatewayv1.GatewayClass{}).Complete(classes); err != nil {
		return false, err
	}
	if len(deployers) == 0 {
		logger.Info("accepting GatewayClasses only: no deployer for Gateways")
		return true, nil
	}
	r := &Reconciler{
		Client:       mgr.GetClient(),
		Recorder:     mgr.GetEventRecorderFor("gateway"),
		Deployers:    deployers,
		Options:      opts,
		Kinds:        kinds,
		ListenerSets: served(KindListenerSet),
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named("gateway").
		For(&gatewayv1.Gateway{}).
		Watches(&gatewayv1.GatewayClass{}, handler.EnqueueRequestsFromMapFunc(r.gatewaysOfClass)).
		Watches(&gatewayv1.ReferenceGrant{}, handler.EnqueueRequestsFromMapFunc(r.allGateways)).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.allGateways)).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.gatewaysUsingService)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.gatewaysUsingSecret))
	for _, k := range kinds {
		b = b.Watches(routeObject(k), handler.EnqueueRequestsFromMapFunc(r.gatewaysOfRoute(k)))
	}
	if r.ListenerSets {
		b = b.Watches(&gatewayv1.ListenerSet{}, handler.EnqueueRequestsFromMapFunc(r.gatewaysOfListenerSet))
	} else {
		logger.Info("ListenerSet not served by the cluster: not watched")
	}
	b = r.watchConfig(mapper, b)
	if err := b.Complete(r); err != nil {
		return false, err
	}
	logger.Info("serving the Gateway API", "routeKinds", kinds, "controllers", []string{string(ControllerALB), string(ControllerNLB)})
	return true, nil
}

func routeObject(kind string) client.Object {
	switch kind {
	case KindHTTPRoute:
		return &gatewayv1.HTTPRoute{}
	case KindGRPCRoute:
		return &gatewayv1.GRPCRoute{}
	case KindTCPRoute:
		return &gatewayv1.TCPRoute{}
	case KindUDPRoute:
		return &gatewayv1.UDPRoute{}
	}
	return &gatewayv1.TLSRoute{}
}

// asRoute wraps a route object of kind.
func asRoute(kind string, obj client.Object) (Route, bool) {
	r := Route{Kind: kind}
	var ok bool
	switch kind {
	case KindHTTPRoute:
		r.HTTP, ok = obj.(*gatewayv1.HTTPRoute)
	case KindGRPCRoute:
		r.GRPC, ok = obj.(*gatewayv1.GRPCRoute)
	case KindTCPRoute:
		r.TCP, ok = obj.(*gatewayv1.TCPRoute)
	case KindUDPRoute:
		r.UDP, ok = obj.(*gatewayv1.UDPRoute)
	case KindTLSRoute:
		r.TLS, ok = obj.(*gatewayv1.TLSRoute)
	}
	return r, ok
}

func requests(names []types.NamespacedName) []reconcile.Request {
	out := make([]reconcile.Request, 0, len(names))
	for _, n := range names {
		out = append(out, reconcile.Request{NamespacedName: n})
	}
	return out
}

// gatewaysOfRoute maps a route to the Gateways its parentRefs name, and
// those whose status it carries (a parentRef just removed).
func (r *Reconciler) gatewaysOfRoute(kind string) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		rt, ok := asRoute(kind, obj)
		if !ok {
			return nil
		}
		names := rt.Gateways()
		sets := rt.ListenerSets()
		for _, p := range rt.Parents() {
			if Ours(p.ControllerName) {
				ns := obj.GetNamespace()
				if p.ParentRef.Namespace != nil {
					ns = string(*p.ParentRef.Namespace)
				}
				n := types.NamespacedName{Namespace: ns, Name: string(p.ParentRef.Name)}
				if p.ParentRef.Kind != nil && string(*p.ParentRef.Kind) == KindListenerSet {
					sets = append(sets, n)
				} else {
					names = append(names, n)
				}
			}
		}
		names = append(names, r.parentsOfListenerSets(ctx, sets)...)
		slices.SortFunc(names, func(a, b types.NamespacedName) int { return compareNames(a, b) })
		return requests(slices.Compact(names))
	}
}

func compareNames(a, b types.NamespacedName) int {
	if a.Namespace != b.Namespace {
		if a.Namespace < b.Namespace {
			return -1
		}
		return 1
	}
	switch {
	case a.Name < b.Name:
		return -1
	case a.Name > b.Name:
		return 1
	}
	return 0
}

func (r *Reconciler) gatewaysOfClass(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.gatewaysWhere(ctx, func(gw *gatewayv1.Gateway) bool { return string(gw.Spec.GatewayClassName) == obj.GetName() })
}

func (r *Reconciler) allGateways(ctx context.Context, _ client.Object) []reconcile.Request {
	return r.gatewaysWhere(ctx, func(*gatewayv1.Gateway) bool { return true })
}

func (r *Reconciler) gatewaysWhere(ctx context.Context, keep func(*gatewayv1.Gateway) bool) []reconcile.Request {
	var list gatewayv1.GatewayList
	if err := r.Client.List(ctx, &list); err != nil {
		log.FromContext(ctx).Error(err, "list Gateways")
		return nil
	}
	var names []types.NamespacedName
	for i := range list.Items {
		if keep(&list.Items[i]) {
			names = append(names, types.NamespacedName{Namespace: list.Items[i].Namespace, Name: list.Items[i].Name})
		}
	}
	return requests(names)
}

// gatewaysUsingService maps a Service to the Gateways of the routes whose
// backendRefs name it (through a ListenerSet too).
func (r *Reconciler) gatewaysUsingService(ctx context.Context, obj client.Object) []reconcile.Request {
	routes, err := listRoutes(ctx, r.Client, r.Kinds)
	if err != nil {
		log.FromContext(ctx).Error(err, "list routes")
		return nil
	}
	svc := types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}
	var names []types.NamespacedName
	for _, rt := range routes {
		if slices.Contains(backendServices(rt), svc) {
			names = append(names, rt.Gateways()...)
			names = append(names, r.parentsOfListenerSets(ctx, rt.ListenerSets())...)
		}
	}
	slices.SortFunc(names, compareNames)
	return requests(slices.Compact(names))
}

// gatewaysUsingSecret maps a Secret to the Gateways whose listeners'
// certificateRefs name it, or whose ListenerSets' do.
func (r *Reconciler) gatewaysUsingSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	return append(r.gatewaysOfSetsUsingSecret(ctx, obj), r.gatewaysWhere(ctx, func(gw *gatewayv1.Gateway) bool {
		for _, l := range gw.Spec.Listeners {
			if l.TLS == nil {
				continue
			}
			for _, ref := range l.TLS.CertificateRefs {
				ns := gw.Namespace
				if ref.Namespace != nil {
					ns = string(*ref.Namespace)
				}
				if ns == obj.GetNamespace() && string(ref.Name) == obj.GetName() {
					return true
				}
			}
		}
		return false
	})...)
}

// ClassReconciler sets the status of kelb's GatewayClasses.
type ClassReconciler struct {
	Client client.Client
}

// Reconcile accepts a GatewayClass of kelb's, or says why not.
func (c *ClassReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var class gatewayv1.GatewayClass
	if err := c.Client.Get(ctx, req.NamespacedName, &class); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !Ours(class.Spec.ControllerName) {
		return ctrl.Result{}, nil
	}
	found := true
	if p := class.Spec.ParametersRef; p != nil && p.Namespace != nil && string(p.Group) == GroupAWS && string(p.Kind) == KindLoadBalancerConfiguration {
		u := &metav1.PartialObjectMetadata{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: GroupAWS, Version: "v1", Kind: KindLoadBalancerConfiguration})
		err := c.Client.Get(ctx, types.NamespacedName{Namespace: string(*p.Namespace), Name: p.Name}, u)
		found = err == nil
		if err != nil && !meta.IsNoMatchError(err) && client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, err
		}
	}
	now := metav1.Now()
	conds := cloneConditions(class.Status.Conditions)
	for _, cond := range ClassConditions(&class, found) {
		setCondition(&conds, cond, now)
	}
	before := class.DeepCopy()
	class.Status.Conditions = conds
	if conditionsEqual(before.Status.Conditions, conds) {
		return ctrl.Result{}, nil
	}
	if err := c.Client.Status().Patch(ctx, &class, client.MergeFrom(before)); err != nil {
		return ctrl.Result{}, fmt.Errorf("write status of GatewayClass %s: %w", class.Name, err)
	}
	return ctrl.Result{}, nil
}

func conditionsEqual(a, b []metav1.Condition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		x.LastTransitionTime, y.LastTransitionTime = metav1.Time{}, metav1.Time{}
		if x != y {
			return false
		}
	}
	return true
}
