package gateway

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// protocolKinds are the route kinds a listener protocol carries on a class
// of kelb's: HTTP and HTTPS on an application load balancer; TCP, UDP and
// TLS on a network load balancer.
func protocolKinds(controller gatewayv1.GatewayController, l gatewayv1.Listener) []string {
	switch controller {
	case ControllerALB:
		switch l.Protocol {
		case gatewayv1.HTTPProtocolType, gatewayv1.HTTPSProtocolType:
			return []string{KindHTTPRoute, KindGRPCRoute}
		}
	case ControllerNLB:
		switch l.Protocol {
		case gatewayv1.TCPProtocolType:
			return []string{KindTCPRoute}
		case gatewayv1.UDPProtocolType:
			return []string{KindUDPRoute}
		case gatewayv1.TLSProtocolType:
			if l.TLS != nil && l.TLS.Mode != nil && *l.TLS.Mode == gatewayv1.TLSModeTerminate {
				return []string{KindTCPRoute, KindTLSRoute}
			}
			return []string{KindTLSRoute}
		}
	}
	return nil
}

// portProtocol is what must be the same for listeners to share a port:
// the protocol, and on a network load balancer the TLS mode too (one NLB
// listener per port either terminates TLS or passes it through).
func portProtocol(controller gatewayv1.GatewayController, l gatewayv1.Listener) string {
	p := string(l.Protocol)
	if controller == ControllerNLB && l.Protocol == gatewayv1.TLSProtocolType {
		mode := gatewayv1.TLSModeTerminate
		if l.TLS != nil && l.TLS.Mode != nil {
			mode = *l.TLS.Mode
		}
		p += "/" + string(mode)
	}
	return p
}

// listenerState is one Gateway listener as Build judges it.
type listenerState struct {
	gatewayv1.Listener
	// Kinds are the route kinds the listener takes: its protocol's, less
	// those allowedRoutes.kinds leaves out.
	Kinds []string
	// Valid: Accepted, ResolvedRefs and not Conflicted; only valid
	// listeners are programmed.
	Valid bool
	// Attachable: Accepted and not Conflicted. Routes attach (and are
	// counted in attachedRoutes) even when the listener's references do
	// not resolve, as the specification asks; it serves them once they do.
	Attachable bool
	Conditions []metav1.Condition
	Attached   int32
	// Certificates are the listener's TLS Secrets, "<namespace>/<name>".
	Certificates []string
}

// SecretLookup reports whether a TLS Secret exists, holding a tls.crt and
// tls.key that parse as a certificate and its key.
type SecretLookup func(namespace, name string) bool

// judgeListeners validates a Gateway's listeners for its class.
func judgeListeners(controller gatewayv1.GatewayController, gw *gatewayv1.Gateway, grants []gatewayv1.ReferenceGrant, secret SecretLookup) []*listenerState {
	out := make([]*listenerState, 0, len(gw.Spec.Listeners))
	protoOfPort := map[gatewayv1.PortNumber]map[string]bool{}
	for _, l := range gw.Spec.Listeners {
		if protoOfPort[l.Port] == nil {
			protoOfPort[l.Port] = map[string]bool{}
		}
		protoOfPort[l.Port][portProtocol(controller, l)] = true
	}
	for _, l := range gw.Spec.Listeners {
		st := &listenerState{Listener: l, Valid: true}
		cond := func(t gatewayv1.ListenerConditionType, ok bool, reason gatewayv1.ListenerConditionReason, msg string) {
			s := metav1.ConditionTrue
			if !ok {
				s = metav1.ConditionFalse
			}
			st.Conditions = append(st.Conditions, metav1.Condition{Type: string(t), Status: s, Reason: string(reason), Message: msg, ObservedGeneration: gw.Generation})
		}
		accepted, acceptedReason, acceptedMsg := true, gatewayv1.ListenerReasonAccepted, "Listener is accepted."
		resolved, resolvedReason, resolvedMsg := true, gatewayv1.ListenerReasonResolvedRefs, "Listener has all refs resolved."
		conflicted := len(protoOfPort[l.Port]) > 1

		kinds := protocolKinds(controller, l)
		if kinds == nil {
			accepted, acceptedReason = false, gatewayv1.ListenerReasonUnsupportedProtocol
			lb := "an application"
			if controller == ControllerNLB {
				lb = "a network"
			}
			acceptedMsg = fmt.Sprintf("protocol %s is not supported by %s load balancer (%s)", l.Protocol, lb, controller)
		}
		if l.AllowedRoutes != nil && len(l.AllowedRoutes.Kinds) > 0 {
			var allowed []string
			var invalid []string
			for _, k := range l.AllowedRoutes.Kinds {
				g := Group
				if k.Group != nil {
					g = string(*k.Group)
				}
				if g == Group && slices.Contains(kinds, string(k.Kind)) {
					allowed = append(allowed, string(k.Kind))
				} else {
					invalid = append(invalid, string(k.Kind))
				}
			}
			kinds = allowed
			if len(invalid) > 0 {
				resolved, resolvedReason = false, gatewayv1.ListenerReasonInvalidRouteKinds
				resolvedMsg = fmt.Sprintf("allowedRoutes.kinds: %s not supported on a %s listener", strings.Join(invalid, ", "), l.Protocol)
			}
		}
		st.Kinds = kinds

		if kinds != nil && (l.Protocol == gatewayv1.HTTPSProtocolType || l.Protocol == gatewayv1.TLSProtocolType) {
			mode := gatewayv1.TLSModeTerminate
			if l.TLS != nil && l.TLS.Mode != nil {
				mode = *l.TLS.Mode
			}
			switch {
			case l.Protocol == gatewayv1.HTTPSProtocolType && mode == gatewayv1.TLSModePassthrough:
				accepted, acceptedReason, acceptedMsg = false, gatewayv1.ListenerReasonUnsupportedValue, "tls.mode: an HTTPS listener terminates TLS (Passthrough is for TLS listeners)"
			case mode == gatewayv1.TLSModeTerminate && (l.TLS == nil || len(l.TLS.CertificateRefs) == 0):
				resolved, resolvedReason, resolvedMsg = false, gatewayv1.ListenerReasonInvalidCertificateRef, "tls.certificateRefs: a listener that terminates TLS needs a certificate"
			case mode == gatewayv1.TLSModeTerminate:
				for i, ref := range l.TLS.CertificateRefs {
					ns := gw.Namespace
					if ref.Namespace != nil {
						ns = string(*ref.Namespace)
					}
					field := fmt.Sprintf("tls.certificateRefs[%d]", i)
					switch {
					case ref.Group != nil && *ref.Group != "" || ref.Kind != nil && *ref.Kind != "Secret":
						resolved, resolvedReason, resolvedMsg = false, gatewayv1.ListenerReasonInvalidCertificateRef, field+": only Secrets (group \"\", kind Secret) are supported"
					case !Permitted(grants, Ref{Group: Group, Kind: "Gateway", Namespace: gw.Namespace}, Ref{Group: "", Kind: "Secret", Namespace: ns, Name: string(ref.Name)}):
						resolved, resolvedReason, resolvedMsg = false, gatewayv1.ListenerReasonRefNotPermitted, fmt.Sprintf("%s: Secret %s/%s is in another namespace and no ReferenceGrant there permits it", field, ns, ref.Name)
					case secret == nil || !secret(ns, string(ref.Name)):
						resolved, resolvedReason, resolvedMsg = false, gatewayv1.ListenerReasonInvalidCertificateRef, fmt.Sprintf("%s: Secret %s/%s not found, or its tls.crt and tls.key are not a PEM certificate and its key", field, ns, ref.Name)
					default:
						st.Certificates = append(st.Certificates, ns+"/"+string(ref.Name))
					}
					if !resolved {
						break
					}
				}
			}
		}
		if conflicted && accepted {
			// A conflicted listener takes no route kind.
			st.Kinds = nil
			accepted, acceptedReason = false, gatewayv1.ListenerReasonProtocolConflict
			acceptedMsg = fmt.Sprintf("another listener uses port %d with another protocol", l.Port)
			if controller == ControllerNLB && l.Protocol == gatewayv1.TLSProtocolType {
				acceptedMsg = fmt.Sprintf("another listener uses port %d with another TLS mode: a network load balancer's listener on a port either terminates TLS or passes it through", l.Port)
			}
		}
		st.Attachable = accepted && !conflicted
		st.Valid = st.Attachable && resolved
		cond(gatewayv1.ListenerConditionAccepted, accepted, acceptedReason, acceptedMsg)
		cond(gatewayv1.ListenerConditionResolvedRefs, resolved, resolvedReason, resolvedMsg)
		if conflicted {
			cond(gatewayv1.ListenerConditionConflicted, true, gatewayv1.ListenerReasonProtocolConflict, fmt.Sprintf("another listener uses port %d with another protocol", l.Port))
		} else {
			cond(gatewayv1.ListenerConditionConflicted, false, gatewayv1.ListenerReasonNoConflicts, "Listener has no conflict.")
		}
		out = append(out, st)
	}
	return out
}

// attachment is the result of attaching one parentRef of a route.
type attachment struct {
	// Listeners are those the route attaches to, with the hostnames it
	// serves on each (nil: any).
	Listeners []*listenerState
	Hostnames [][]string
	// Accepted is the route's Accepted condition for the parentRef.
	Accepted metav1.Condition
}

// attach attaches a route's parentRef to a Gateway's listeners, as the
// specification orders the checks: sectionName and port select listeners
// (none: NoMatchingParent), allowedRoutes must let the route's kind and
// namespace in (none: NotAllowedByListeners), and the route's hostnames
// must meet the listener's (none: NoMatchingListenerHostname).
func attach(r Route, ref gatewayv1.ParentReference, gwNamespace string, listeners []*listenerState, nsLabels map[string]map[string]string) attachment {
	var a attachment
	fail := func(reason gatewayv1.RouteConditionReason, msg string) attachment {
		a.Listeners, a.Hostnames = nil, nil
		a.Accepted = metav1.Condition{Type: string(gatewayv1.RouteConditionAccepted), Status: metav1.ConditionFalse, Reason: string(reason), Message: msg}
		return a
	}
	var selected []*listenerState
	for _, l := range listeners {
		if ref.SectionName != nil && *ref.SectionName != l.Name {
			continue
		}
		if ref.Port != nil && *ref.Port != l.Port {
			continue
		}
		selected = append(selected, l)
	}
	if len(selected) == 0 {
		what := "no listener"
		if ref.SectionName != nil {
			what = fmt.Sprintf("no listener named %q", *ref.SectionName)
		}
		if ref.Port != nil {
			what += fmt.Sprintf(" on port %d", *ref.Port)
		}
		return fail(gatewayv1.RouteReasonNoMatchingParent, "the Gateway has "+what)
	}
	routeNS := r.Object().GetNamespace()
	var allowed []*listenerState
	for _, l := range selected {
		if !l.Attachable || !slices.Contains(l.Kinds, r.Kind) || !namespaceAllowed(l.Listener, gwNamespace, routeNS, nsLabels[routeNS]) {
			continue
		}
		allowed = append(allowed, l)
	}
	if len(allowed) == 0 {
		return fail(gatewayv1.RouteReasonNotAllowedByListeners, fmt.Sprintf("no valid listener of the Gateway allows a %s from namespace %s", r.Kind, routeNS))
	}
	for _, l := range allowed {
		hosts, ok := intersectHostnames(l.Hostname, r.Hostnames())
		if !ok {
			continue
		}
		a.Listeners = append(a.Listeners, l)
		a.Hostnames = append(a.Hostnames, hosts)
	}
	if len(a.Listeners) == 0 {
		return fail(gatewayv1.RouteReasonNoMatchingListenerHostname, "no hostname of the route matches a listener's hostname")
	}
	a.Accepted = metav1.Condition{Type: string(gatewayv1.RouteConditionAccepted), Status: metav1.ConditionTrue, Reason: string(gatewayv1.RouteReasonAccepted), Message: "Route is accepted."}
	return a
}

// namespaceAllowed applies a listener's allowedRoutes.namespaces (default
// Same) to a route's namespace.
func namespaceAllowed(l gatewayv1.Listener, gwNamespace, routeNS string, nsLabels map[string]string) bool {
	from := gatewayv1.NamespacesFromSame
	var selector *metav1.LabelSelector
	if l.AllowedRoutes != nil && l.AllowedRoutes.Namespaces != nil {
		if l.AllowedRoutes.Namespaces.From != nil {
			from = *l.AllowedRoutes.Namespaces.From
		}
		selector = l.AllowedRoutes.Namespaces.Selector
	}
	switch from {
	case gatewayv1.NamespacesFromAll:
		return true
	case gatewayv1.NamespacesFromSame:
		return routeNS == gwNamespace
	case gatewayv1.NamespacesFromSelector:
		if selector == nil {
			return false
		}
		sel, err := metav1.LabelSelectorAsSelector(selector)
		if err != nil {
			return false
		}
		return sel.Matches(labels.Set(nsLabels))
	}
	return false
}

// intersectHostnames returns the hostnames a route serves on a listener:
// the route's that the listener's hostname matches (or the listener's,
// where a route wildcard is wider), nil meaning any; ok is false when they
// have none in common.
func intersectHostnames(listener *gatewayv1.Hostname, route []gatewayv1.Hostname) ([]string, bool) {
	if len(route) == 0 {
		if listener == nil {
			return nil, true
		}
		return []string{string(*listener)}, true
	}
	if listener == nil {
		out := make([]string, len(route))
		for i, h := range route {
			out[i] = string(h)
		}
		return out, true
	}
	var out []string
	lh := string(*listener)
	for _, h := range route {
		rh := string(h)
		switch {
		case hostMatches(lh, rh):
			out = append(out, rh)
		case hostMatches(rh, lh):
			out = append(out, lh)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return out, len(out) > 0
}

// hostMatches reports whether hostname pattern (exact, or *.suffix
// matching one or more labels before suffix) covers host (which may itself
// be a narrower wildcard).
func hostMatches(pattern, host string) bool {
	if pattern == host {
		return true
	}
	suffix, ok := strings.CutPrefix(pattern, "*")
	if !ok {
		return false
	}
	if strings.HasPrefix(host, "*") {
		host = host[1:]
		return strings.HasSuffix(host, suffix) && len(host) > len(suffix)
	}
	return strings.HasSuffix(host, suffix) && len(host) > len(suffix)
}
