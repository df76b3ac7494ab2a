package gateway

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// KindListenerSet is the kind of a ListenerSet, in Group.
const KindListenerSet = "ListenerSet"

// ListenerSetResult is what Build decides for one ListenerSet naming the
// Gateway.
type ListenerSetResult struct {
	// Accepted is the set's Accepted condition; Programmed follows it
	// when false, the Gateway's Programmed when true.
	Accepted  metav1.Condition
	Listeners []gatewayv1.ListenerStatus
}

// setState is one ListenerSet as Build judges it.
type setState struct {
	set  *gatewayv1.ListenerSet
	name types.NamespacedName
	// listeners are the set's listeners, named "<namespace>/<set>/<name>"
	// so that they are told apart from the Gateway's and other sets'
	// (names need only be unique within one set); view holds copies under
	// their own names, for attaching routes by sectionName.
	listeners []*listenerState
	view      []*listenerState
	accepted  bool
	result    ListenerSetResult
}

// ListenerSetParent returns the Gateway a ListenerSet's parentRef names;
// ok false when it names another kind.
func ListenerSetParent(ls *gatewayv1.ListenerSet) (types.NamespacedName, bool) {
	p := ls.Spec.ParentRef
	if p.Group != nil && string(*p.Group) != Group || p.Kind != nil && string(*p.Kind) != "Gateway" {
		return types.NamespacedName{}, false
	}
	ns := ls.Namespace
	if p.Namespace != nil {
		ns = string(*p.Namespace)
	}
	return types.NamespacedName{Namespace: ns, Name: string(p.Name)}, true
}

// RefersToListenerSet reports whether a route's parentRef names the
// ListenerSet set.
func RefersToListenerSet(p gatewayv1.ParentReference, routeNS string, set types.NamespacedName) bool {
	if p.Group == nil || string(*p.Group) != Group || p.Kind == nil || string(*p.Kind) != KindListenerSet {
		return false
	}
	ns := routeNS
	if p.Namespace != nil {
		ns = string(*p.Namespace)
	}
	return ns == set.Namespace && string(p.Name) == set.Name
}

// ListenerSets returns the ListenerSets a route's parentRefs name.
func (r Route) ListenerSets() []types.NamespacedName {
	var out []types.NamespacedName
	ns := r.Object().GetNamespace()
	for _, p := range r.ParentRefs() {
		if p.Group == nil || string(*p.Group) != Group || p.Kind == nil || string(*p.Kind) != KindListenerSet {
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

// listenerSetsAllowed applies a Gateway's spec.allowedListeners (default:
// none) to the namespace of a ListenerSet.
func listenerSetsAllowed(gw *gatewayv1.Gateway, ns string, nsLabels map[string]string) bool {
	a := gw.Spec.AllowedListeners
	if a == nil || a.Namespaces == nil || a.Namespaces.From == nil {
		return false
	}
	switch *a.Namespaces.From {
	case gatewayv1.NamespacesFromAll:
		return true
	case gatewayv1.NamespacesFromSame:
		return ns == gw.Namespace
	case gatewayv1.NamespacesFromSelector:
		if a.Namespaces.Selector == nil {
			return false
		}
		sel, err := metav1.LabelSelectorAsSelector(a.Namespaces.Selector)
		return err == nil && sel.Matches(labels.Set(nsLabels))
	}
	return false
}

// judgeListenerSets judges the ListenerSets naming the Gateway, in the
// specification's precedence (oldest first, then by namespace/name), and
// merges their listeners after the Gateway's: a listener on a port an
// earlier listener (the Gateway's or an earlier set's) uses with another
// protocol is Conflicted (ProtocolConflict), one with the same protocol
// and hostname too (HostnameConflict); the earlier one keeps serving. A
// set the Gateway does not allow is NotAllowed, one of a Gateway not
// accepted ParentNotAccepted, one without a valid listener
// ListenersNotValid.
func (b *builder) judgeListenerSets(gwAccepted bool, gwListeners []*listenerState) []*setState {
	gw := b.in.Gateway
	sets := make([]*gatewayv1.ListenerSet, 0, len(b.in.ListenerSets))
	for i := range b.in.ListenerSets {
		sets = append(sets, &b.in.ListenerSets[i])
	}
	slices.SortStableFunc(sets, func(x, y *gatewayv1.ListenerSet) int {
		if c := x.CreationTimestamp.Compare(y.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Name, y.Name))
	})
	taken := slices.Clone(gwListeners)
	var out []*setState
	for _, ls := range sets {
		st := &setState{set: ls, name: types.NamespacedName{Namespace: ls.Namespace, Name: ls.Name}}
		out = append(out, st)
		cond := func(ok bool, reason gatewayv1.ListenerSetConditionReason, msg string) {
			s := metav1.ConditionTrue
			if !ok {
				s = metav1.ConditionFalse
			}
			st.setAccepted(metav1.Condition{Type: string(gatewayv1.ListenerSetConditionAccepted), Status: s, Reason: string(reason), Message: msg, ObservedGeneration: ls.Generation})
		}
		if !listenerSetsAllowed(gw, ls.Namespace, b.in.Namespaces[ls.Namespace]) {
			cond(false, gatewayv1.ListenerSetReasonNotAllowed, fmt.Sprintf("Gateway %s/%s does not allow ListenerSets from namespace %s (spec.allowedListeners)", gw.Namespace, gw.Name, ls.Namespace))
			continue
		}
		if !gwAccepted {
			cond(false, gatewayv1.ListenerSetReasonParentNotAccepted, fmt.Sprintf("Gateway %s/%s is not accepted", gw.Namespace, gw.Name))
			continue
		}
		valid := 0
		grants := grantsForListenerSets(b.in.Grants)
		for _, e := range ls.Spec.Listeners {
			// Each listener is judged alone as a Gateway's in the set's
			// namespace would be; conflicts, with the Gateway's and
			// earlier listeners (the set's own too), by precedence.
			shadow := &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ls.Namespace, Name: ls.Name, Generation: ls.Generation}}
			shadow.Spec.Listeners = []gatewayv1.Listener{{Name: e.Name, Hostname: e.Hostname, Port: e.Port, Protocol: e.Protocol, TLS: e.TLS, AllowedRoutes: e.AllowedRoutes}}
			l := judgeListeners(b.controller, shadow, grants, b.in.Secret)[0]
			if reason, msg := listenerConflict(b.controller, l, taken); reason != "" {
				markConflicted(l, reason, msg)
			}
			if l.Attachable {
				taken = append(taken, l)
			}
			if l.Valid {
				valid++
			}
			view := *l
			st.view = append(st.view, &view)
			l.Name = gatewayv1.SectionName(ls.Namespace + "/" + ls.Name + "/" + string(l.Name))
			st.listeners = append(st.listeners, l)
		}
		if valid == 0 {
			cond(false, gatewayv1.ListenerSetReasonListenersNotValid, "ListenerSet has no valid listener (see status.listeners)")
			continue
		}
		st.accepted = true
		if valid < len(st.listeners) {
			cond(true, gatewayv1.ListenerSetReasonListenersNotValid, "ListenerSet is accepted; some listeners are not valid (see status.listeners)")
		} else {
			cond(true, gatewayv1.ListenerSetReasonAccepted, "ListenerSet is accepted.")
		}
	}
	return out
}

// setAccepted records a set's Accepted condition.
func (st *setState) setAccepted(c metav1.Condition) { st.result.Accepted = c }

// grantsForListenerSets rewrites ReferenceGrants for judging a
// ListenerSet's listeners as a Gateway's: a grant from ListenerSets
// reads as one from Gateways, and one from Gateways is dropped (a
// Gateway's grants are not a set's).
func grantsForListenerSets(grants []gatewayv1.ReferenceGrant) []gatewayv1.ReferenceGrant {
	out := make([]gatewayv1.ReferenceGrant, 0, len(grants))
	for _, g := range grants {
		g := *g.DeepCopy()
		g.Spec.From = slices.DeleteFunc(g.Spec.From, func(f gatewayv1.ReferenceGrantFrom) bool {
			return string(f.Group) == Group && string(f.Kind) == "Gateway"
		})
		for i, f := range g.Spec.From {
			if string(f.Group) == Group && string(f.Kind) == KindListenerSet {
				g.Spec.From[i].Kind = "Gateway"
			}
		}
		out = append(out, g)
	}
	return out
}

// listenerConflict reports how listener l conflicts with the listeners
// taken before it: another protocol on its port (on a network load
// balancer, TLS with another mode), or the same protocol and hostname.
func listenerConflict(controller gatewayv1.GatewayController, l *listenerState, taken []*listenerState) (gatewayv1.ListenerConditionReason, string) {
	for _, t := range taken {
		if t.Port != l.Port {
			continue
		}
		if p := portProtocol(controller, t.Listener); p != portProtocol(controller, l.Listener) {
			return gatewayv1.ListenerReasonProtocolConflict, fmt.Sprintf("port %d is used with protocol %s by an earlier listener", l.Port, p)
		}
		if hostnameOf(t.Hostname) == hostnameOf(l.Hostname) {
			return gatewayv1.ListenerReasonHostnameConflict, fmt.Sprintf("an earlier %s listener on port %d has hostname %q", l.Protocol, l.Port, hostnameOf(l.Hostname))
		}
	}
	return "", ""
}

func hostnameOf(h *gatewayv1.Hostname) string {
	if h == nil {
		return ""
	}
	return string(*h)
}

// markConflicted makes a listener Conflicted, not accepted and taking no
// route kind: the specification's status for the later of two
// conflicting listeners, as judgeListeners gives the Gateway's.
func markConflicted(l *listenerState, reason gatewayv1.ListenerConditionReason, msg string) {
	l.Attachable, l.Valid, l.Kinds = false, false, nil
	for i, c := range l.Conditions {
		switch gatewayv1.ListenerConditionType(c.Type) {
		case gatewayv1.ListenerConditionAccepted:
			l.Conditions[i].Status, l.Conditions[i].Reason, l.Conditions[i].Message = metav1.ConditionFalse, string(reason), msg
		case gatewayv1.ListenerConditionConflicted:
			l.Conditions[i].Status, l.Conditions[i].Reason, l.Conditions[i].Message = metav1.ConditionTrue, string(reason), msg
		}
	}
}

// attachToSet attaches a route's parentRef naming a ListenerSet to the
// set's listeners; the listeners it returns are Build's own.
func attachToSet(r Route, ref gatewayv1.ParentReference, st *setState, nsLabels map[string]map[string]string) attachment {
	if !st.accepted {
		return attachment{Accepted: metav1.Condition{Type: string(gatewayv1.RouteConditionAccepted), Status: metav1.ConditionFalse,
			Reason: string(gatewayv1.RouteReasonNoMatchingParent), Message: "the ListenerSet is not accepted: " + st.result.Accepted.Message}}
	}
	att := attach(r, ref, st.set.Namespace, st.view, nsLabels)
	for i, v := range att.Listeners {
		att.Listeners[i] = st.listeners[slices.Index(st.view, v)]
	}
	if att.Accepted.Status != metav1.ConditionTrue {
		att.Accepted.Message = strings.Replace(att.Accepted.Message, "the Gateway", "the ListenerSet", 1)
	}
	return att
}

// splitListenerStatuses moves the statuses of the sets' listeners out of
// the Gateway's into each set's result, under their own names.
func splitListenerStatuses(all []gatewayv1.ListenerStatus, sets []*setState) []gatewayv1.ListenerStatus {
	var gw []gatewayv1.ListenerStatus
	owner := map[gatewayv1.SectionName]*setState{}
	for _, st := range sets {
		for _, l := range st.listeners {
			owner[l.Name] = st
		}
	}
	for _, s := range all {
		st := owner[s.Name]
		if st == nil {
			gw = append(gw, s)
			continue
		}
		_, name, _ := strings.Cut(strings.TrimPrefix(string(s.Name), st.name.Namespace+"/"), "/")
		s.Name = gatewayv1.SectionName(name)
		st.result.Listeners = append(st.result.Listeners, s)
	}
	return gw
}
