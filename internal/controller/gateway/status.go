package gateway

import (
	"reflect"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Deployed is what deploying a Gateway's stack came to.
type Deployed struct {
	// DNSName is the load balancer's DNS name; empty until it has one.
	DNSName string
	// Err is kelb server's refusal, or another failure of the deploy.
	Err error
}

// GatewayStatus returns a Gateway's status: Accepted from Build,
// Programmed from the deploy (with the load balancer's DNS name as the
// Gateway's address), and the listeners' conditions. Conditions whose
// status is unchanged keep their lastTransitionTime.
func GatewayStatus(current gatewayv1.GatewayStatus, gw *gatewayv1.Gateway, res Result, d Deployed, now metav1.Time) gatewayv1.GatewayStatus {
	out := gatewayv1.GatewayStatus{Conditions: cloneConditions(current.Conditions)}
	programmed := metav1.Condition{Type: string(gatewayv1.GatewayConditionProgrammed), Status: metav1.ConditionTrue,
		Reason: string(gatewayv1.GatewayReasonProgrammed), Message: "The load balancer is programmed.", ObservedGeneration: gw.Generation}
	switch {
	case res.Invalid != nil:
		// The load balancer kelb made before, if any, keeps serving.
		programmed.Status, programmed.Reason, programmed.Message = metav1.ConditionFalse, string(gatewayv1.GatewayReasonInvalid), res.Invalid.Message
	case res.Accepted.Status != metav1.ConditionTrue:
		programmed.Status, programmed.Reason, programmed.Message = metav1.ConditionFalse, string(gatewayv1.GatewayReasonInvalid), "The Gateway is not accepted."
	case res.Stack == nil:
		programmed.Status, programmed.Reason, programmed.Message = metav1.ConditionFalse, string(gatewayv1.GatewayReasonInvalid), "The Gateway has no valid listener."
	case d.Err != nil:
		programmed.Status, programmed.Reason, programmed.Message = metav1.ConditionFalse, string(gatewayv1.GatewayReasonInvalid), d.Err.Error()
	case d.DNSName == "":
		programmed.Status, programmed.Reason, programmed.Message = metav1.ConditionFalse, string(gatewayv1.GatewayReasonPending), "Waiting for the load balancer to be active."
	}
	if d.DNSName != "" {
		t := gatewayv1.HostnameAddressType
		out.Addresses = []gatewayv1.GatewayStatusAddress{{Type: &t, Value: d.DNSName}}
	} else {
		out.Addresses = current.Addresses
	}
	setCondition(&out.Conditions, res.Accepted, now)
	setCondition(&out.Conditions, programmed, now)

	currentListeners := map[gatewayv1.SectionName][]metav1.Condition{}
	for _, l := range current.Listeners {
		currentListeners[l.Name] = l.Conditions
	}
	for _, l := range res.Listeners {
		conds := cloneConditions(currentListeners[l.Name])
		// Drop conditions of ours the listener no longer has.
		keep := map[string]bool{string(gatewayv1.ListenerConditionProgrammed): true}
		valid := true
		for _, c := range l.Conditions {
			keep[c.Type] = true
			setCondition(&conds, c, now)
			switch gatewayv1.ListenerConditionType(c.Type) {
			case gatewayv1.ListenerConditionAccepted, gatewayv1.ListenerConditionResolvedRefs:
				valid = valid && c.Status == metav1.ConditionTrue
			case gatewayv1.ListenerConditionConflicted:
				valid = valid && c.Status == metav1.ConditionFalse
			}
		}
		lp := programmed
		lp.Type, lp.Reason = string(gatewayv1.ListenerConditionProgrammed), string(gatewayv1.ListenerReasonProgrammed)
		lp.Message = "Listener is programmed."
		if programmed.Status != metav1.ConditionTrue {
			lp.Reason, lp.Message = string(gatewayv1.ListenerReasonPending), programmed.Message
		}
		if !valid {
			lp.Status, lp.Reason, lp.Message = metav1.ConditionFalse, string(gatewayv1.ListenerReasonInvalid), "Listener is not valid."
			if c := meta.FindStatusCondition(l.Conditions, string(gatewayv1.ListenerConditionConflicted)); c != nil && c.Status == metav1.ConditionTrue {
				lp.Reason, lp.Message = c.Reason, c.Message
			}
		}
		setCondition(&conds, lp, now)
		conds = filterConditions(conds, keep)
		l.Conditions = conds
		out.Listeners = append(out.Listeners, l)
	}
	return out
}

// MergeParents returns a route's status.parents with this controller's
// entries for parentRefs naming Gateway gw (or one of its ListenerSets,
// sets) replaced by want; entries of
// other controllers and other parents stay. Conditions whose status is
// unchanged keep their lastTransitionTime.
func MergeParents(current []gatewayv1.RouteParentStatus, routeNS string, gw types.NamespacedName, controller gatewayv1.GatewayController, want []gatewayv1.RouteParentStatus, now metav1.Time, sets ...types.NamespacedName) []gatewayv1.RouteParentStatus {
	var out []gatewayv1.RouteParentStatus
	old := map[int]gatewayv1.RouteParentStatus{}
	for _, p := range current {
		if p.ControllerName == controller && (RefersTo(p.ParentRef, routeNS, gw) || refersToAnySet(p.ParentRef, routeNS, sets)) {
			for i, w := range want {
				if reflect.DeepEqual(w.ParentRef, p.ParentRef) {
					old[i] = p
				}
			}
			continue
		}
		out = append(out, p)
	}
	for i, w := range want {
		conds := cloneConditions(old[i].Conditions)
		for _, c := range w.Conditions {
			setCondition(&conds, c, now)
		}
		w.Conditions = conds
		out = append(out, w)
	}
	return out
}

// setCondition sets c in conds, keeping the transition time when the
// status does not change.
func setCondition(conds *[]metav1.Condition, c metav1.Condition, now metav1.Time) {
	c.LastTransitionTime = now
	meta.SetStatusCondition(conds, c)
}

func cloneConditions(c []metav1.Condition) []metav1.Condition {
	if c == nil {
		return nil
	}
	return append([]metav1.Condition(nil), c...)
}

func filterConditions(conds []metav1.Condition, keep map[string]bool) []metav1.Condition {
	out := conds[:0]
	for _, c := range conds {
		if keep[c.Type] {
			out = append(out, c)
		}
	}
	return out
}
