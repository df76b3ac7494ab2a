package gateway

import (
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Route kinds.
const (
	KindHTTPRoute = "HTTPRoute"
	KindGRPCRoute = "GRPCRoute"
	KindTCPRoute  = "TCPRoute"
	KindUDPRoute  = "UDPRoute"
	KindTLSRoute  = "TLSRoute"
)

// Group is the Gateway API's group.
const Group = gatewayv1.GroupName

// Route is one route of any kind, with what attachment needs in common.
// Exactly one of HTTP, GRPC, TCP, UDP and TLS is set, the one Kind names.
type Route struct {
	Kind string
	HTTP *gatewayv1.HTTPRoute
	GRPC *gatewayv1.GRPCRoute
	TCP  *gatewayv1.TCPRoute
	UDP  *gatewayv1.UDPRoute
	TLS  *gatewayv1.TLSRoute
}

// Object is the route's Kubernetes object.
func (r Route) Object() client.Object {
	switch {
	case r.HTTP != nil:
		return r.HTTP
	case r.GRPC != nil:
		return r.GRPC
	case r.TCP != nil:
		return r.TCP
	case r.UDP != nil:
		return r.UDP
	}
	return r.TLS
}

// Key names the route: kind/namespace/name.
func (r Route) Key() RouteKey {
	o := r.Object()
	return RouteKey{Kind: r.Kind, NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}}
}

// RouteKey names a route of any kind.
type RouteKey struct {
	Kind string
	types.NamespacedName
}

func (k RouteKey) String() string { return k.Kind + " " + k.NamespacedName.String() }

// ParentRefs are the route's spec.parentRefs.
func (r Route) ParentRefs() []gatewayv1.ParentReference {
	switch {
	case r.HTTP != nil:
		return r.HTTP.Spec.ParentRefs
	case r.GRPC != nil:
		return r.GRPC.Spec.ParentRefs
	case r.TCP != nil:
		return r.TCP.Spec.ParentRefs
	case r.UDP != nil:
		return r.UDP.Spec.ParentRefs
	}
	return r.TLS.Spec.ParentRefs
}

// Hostnames are the route's spec.hostnames; none for TCP and UDP routes.
func (r Route) Hostnames() []gatewayv1.Hostname {
	switch {
	case r.HTTP != nil:
		return r.HTTP.Spec.Hostnames
	case r.GRPC != nil:
		return r.GRPC.Spec.Hostnames
	case r.TLS != nil:
		return r.TLS.Spec.Hostnames
	}
	return nil
}

// Parents are the route's status.parents.
func (r Route) Parents() []gatewayv1.RouteParentStatus {
	switch {
	case r.HTTP != nil:
		return r.HTTP.Status.Parents
	case r.GRPC != nil:
		return r.GRPC.Status.Parents
	case r.TCP != nil:
		return r.TCP.Status.Parents
	case r.UDP != nil:
		return r.UDP.Status.Parents
	}
	return r.TLS.Status.Parents
}

// SetParents sets the route's status.parents.
func (r Route) SetParents(p []gatewayv1.RouteParentStatus) {
	switch {
	case r.HTTP != nil:
		r.HTTP.Status.Parents = p
	case r.GRPC != nil:
		r.GRPC.Status.Parents = p
	case r.TCP != nil:
		r.TCP.Status.Parents = p
	case r.UDP != nil:
		r.UDP.Status.Parents = p
	case r.TLS != nil:
		r.TLS.Status.Parents = p
	}
}

// RefersTo reports whether parentRef p of a route in namespace ns names
// Gateway gw.
func RefersTo(p gatewayv1.ParentReference, ns string, gw types.NamespacedName) bool {
	if p.Group != nil && string(*p.Group) != Group {
		return false
	}
	if p.Kind != nil && string(*p.Kind) != "Gateway" {
		return false
	}
	pns := ns
	if p.Namespace != nil {
		pns = string(*p.Namespace)
	}
	return pns == gw.Namespace && string(p.Name) == gw.Name
}

// Gateways returns the Gateways a route's parentRefs name.
func (r Route) Gateways() []types.NamespacedName {
	var out []types.NamespacedName
	ns := r.Object().GetNamespace()
	for _, p := range r.ParentRefs() {
		if p.Group != nil && string(*p.Group) != Group || p.Kind != nil && string(*p.Kind) != "Gateway" {
			continue
		}
		pns := ns
		if p.Namespace != nil {
			pns = string(*p.Namespace)
		}
		out = append(out, types.NamespacedName{Namespace: pns, Name: string(p.Name)})
	}
	return out
}
