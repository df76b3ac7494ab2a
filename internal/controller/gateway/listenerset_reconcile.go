package gateway

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// listenerSetsOf lists the ListenerSets whose parentRef names Gateway gw
// (none when the cluster does not serve ListenerSets).
func (r *Reconciler) listenerSetsOf(ctx context.Context, gw types.NamespacedName) ([]gatewayv1.ListenerSet, error) {
	if !r.ListenerSets {
		return nil, nil
	}
	var list gatewayv1.ListenerSetList
	if err := r.Client.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list ListenerSets: %w", err)
	}
	var out []gatewayv1.ListenerSet
	for _, ls := range list.Items {
		if p, ok := ListenerSetParent(&ls); ok && p == gw {
			out = append(out, ls)
		}
	}
	return out, nil
}

// namesGateway reports whether a route's parentRefs name Gateway gw or
// one of its ListenerSets.
func namesGateway(rt Route, gw types.NamespacedName, sets []gatewayv1.ListenerSet) bool {
	if slices.Contains(rt.Gateways(), gw) {
		return true
	}
	for _, n := range rt.ListenerSets() {
		if slices.Contains(setNames(sets), n) {
			return true
		}
	}
	return false
}

func setNames(sets []gatewayv1.ListenerSet) []types.NamespacedName {
	out := make([]types.NamespacedName, 0, len(sets))
	for _, ls := range sets {
		out = append(out, types.NamespacedName{Namespace: ls.Namespace, Name: ls.Name})
	}
	return out
}

// refersToAnySet reports whether a route's parentRef names one of sets.
func refersToAnySet(p gatewayv1.ParentReference, routeNS string, sets []types.NamespacedName) bool {
	for _, s := range sets {
		if RefersToListenerSet(p, routeNS, s) {
			return true
		}
	}
	return false
}

// loadNamespace records the labels of namespace ns, once.
func (r *Reconciler) loadNamespace(ctx context.Context, into map[string]map[string]string, ns string) error {
	if _, ok := into[ns]; ok {
		return nil
	}
	var n corev1.Namespace
	err := r.Client.Get(ctx, types.NamespacedName{Name: ns}, &n)
	switch {
	case err == nil:
		into[ns] = n.Labels
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("get namespace %s: %w", ns, err)
	}
	return nil
}

// tlsOfListener is a listener's TLS configuration with the namespace its
// certificateRefs default to.
type tlsOfListener struct {
	Namespace string
	TLS       *gatewayv1.ListenerTLSConfig
}

// listenerTLS lists the TLS configurations of a Gateway's listeners and
// its ListenerSets'.
func listenerTLS(gw *gatewayv1.Gateway, sets []gatewayv1.ListenerSet) []tlsOfListener {
	var out []tlsOfListener
	for _, l := range gw.Spec.Listeners {
		if l.TLS != nil {
			out = append(out, tlsOfListener{gw.Namespace, l.TLS})
		}
	}
	for _, ls := range sets {
		for _, l := range ls.Spec.Listeners {
			if l.TLS != nil {
				out = append(out, tlsOfListener{ls.Namespace, l.TLS})
			}
		}
	}
	return out
}

// writeListenerSetStatuses writes the status of each ListenerSet naming
// the Gateway, gw being the Gateway's new status.
func (r *Reconciler) writeListenerSetStatuses(ctx context.Context, sets []gatewayv1.ListenerSet, res Result, gw gatewayv1.GatewayStatus, now metav1.Time) error {
	var errs []error
	for i := range sets {
		ls := &sets[i]
		name := types.NamespacedName{Namespace: ls.Namespace, Name: ls.Name}
		want := ListenerSetStatus(ls.Status, ls, res.ListenerSets[name], gw, now)
		if listenerSetStatusEqual(ls.Status, want) {
			continue
		}
		patch := client.MergeFrom(ls.DeepCopy())
		ls.Status = want
		if err := r.Client.Status().Patch(ctx, ls, patch); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("write status of ListenerSet %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// listenerSetStatusEqual compares ListenerSet statuses ignoring
// transition times.
func listenerSetStatusEqual(a, b gatewayv1.ListenerSetStatus) bool {
	strip := func(s gatewayv1.ListenerSetStatus) gatewayv1.ListenerSetStatus {
		s = *s.DeepCopy()
		for i := range s.Conditions {
			s.Conditions[i].LastTransitionTime = metav1.Time{}
		}
		for i := range s.Listeners {
			for j := range s.Listeners[i].Conditions {
				s.Listeners[i].Conditions[j].LastTransitionTime = metav1.Time{}
			}
		}
		return s
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

// gatewaysOfListenerSet maps a ListenerSet to the Gateway its parentRef
// names and to every Gateway that allows ListenerSets (one its parentRef
// named before may have to drop its listeners).
func (r *Reconciler) gatewaysOfListenerSet(ctx context.Context, obj client.Object) []reconcile.Request {
	ls, ok := obj.(*gatewayv1.ListenerSet)
	if !ok {
		return nil
	}
	parent, named := ListenerSetParent(ls)
	return r.gatewaysWhere(ctx, func(gw *gatewayv1.Gateway) bool {
		return gw.Spec.AllowedListeners != nil || named && gw.Namespace == parent.Namespace && gw.Name == parent.Name
	})
}

// parentsOfListenerSets returns the Gateways the named ListenerSets'
// parentRefs name; a set not found names none.
func (r *Reconciler) parentsOfListenerSets(ctx context.Context, sets []types.NamespacedName) []types.NamespacedName {
	if !r.ListenerSets {
		return nil
	}
	var out []types.NamespacedName
	for _, n := range sets {
		var ls gatewayv1.ListenerSet
		if err := r.Client.Get(ctx, n, &ls); err != nil {
			if !apierrors.IsNotFound(err) {
				log.FromContext(ctx).Error(err, "get ListenerSet", "listenerSet", n)
			}
			continue
		}
		if p, ok := ListenerSetParent(&ls); ok {
			out = append(out, p)
		}
	}
	return out
}

// gatewaysOfSetsUsingSecret maps a Secret to the parent Gateways of the
// ListenerSets whose listeners' certificateRefs name it.
func (r *Reconciler) gatewaysOfSetsUsingSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	if !r.ListenerSets {
		return nil
	}
	var list gatewayv1.ListenerSetList
	if err := r.Client.List(ctx, &list); err != nil {
		log.FromContext(ctx).Error(err, "list ListenerSets")
		return nil
	}
	var names []types.NamespacedName
	for i := range list.Items {
		ls := &list.Items[i]
		p, ok := ListenerSetParent(ls)
		if !ok {
			continue
		}
		for _, l := range listenerTLS(&gatewayv1.Gateway{}, []gatewayv1.ListenerSet{*ls}) {
			for _, ref := range l.TLS.CertificateRefs {
				ns := l.Namespace
				if ref.Namespace != nil {
					ns = string(*ref.Namespace)
				}
				if ns == obj.GetNamespace() && string(ref.Name) == obj.GetName() {
					names = append(names, p)
				}
			}
		}
	}
	slices.SortFunc(names, compareNames)
	return requests(slices.Compact(names))
}
