package gateway

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// ListenerSetStatus returns a ListenerSet's status: Accepted from Build;
// Programmed False with Accepted's reason when the set is not accepted,
// else the Gateway's Programmed (gw is the Gateway's new status); its
// listeners' conditions, each Programmed when valid and the Gateway is
// (a conflicted listener's Programmed carries the conflict's reason).
// Conditions whose status is unchanged keep their lastTransitionTime.
func ListenerSetStatus(current gatewayv1.ListenerSetStatus, ls *gatewayv1.ListenerSet, res ListenerSetResult, gw gatewayv1.GatewayStatus, now metav1.Time) gatewayv1.ListenerSetStatus {
	out := gatewayv1.ListenerSetStatus{Conditions: cloneConditions(current.Conditions)}
	accepted := res.Accepted
	accepted.ObservedGeneration = ls.Generation
	programmed := metav1.Condition{Type: string(gatewayv1.ListenerSetConditionProgrammed), Status: metav1.ConditionFalse,
		Reason: string(gatewayv1.ListenerSetReasonPending), Message: "Waiting for the Gateway to be programmed.", ObservedGeneration: ls.Generation}
	gwProgrammed := meta.FindStatusCondition(gw.Conditions, string(gatewayv1.GatewayConditionProgrammed))
	switch {
	case accepted.Status != metav1.ConditionTrue:
		programmed.Reason, programmed.Message = accepted.Reason, accepted.Message
	case gwProgrammed == nil:
	case gwProgrammed.Status == metav1.ConditionTrue:
		programmed.Status, programmed.Reason, programmed.Message = metav1.ConditionTrue, string(gatewayv1.ListenerSetReasonProgrammed), "The ListenerSet's listeners are programmed."
	default:
		programmed.Reason, programmed.Message = gwProgrammed.Reason, gwProgrammed.Message
	}
	setCondition(&out.Conditions, accepted, now)
	setCondition(&out.Conditions, programmed, now)

	currentListeners := map[gatewayv1.SectionName][]metav1.Condition{}
	for _, l := range current.Listeners {
		currentListeners[l.Name] = l.Conditions
	}
	for _, l := range res.Listeners {
		conds := cloneConditions(currentListeners[l.Name])
		keep := map[string]bool{string(gatewayv1.ListenerEntryConditionProgrammed): true}
		valid := true
		var conflict string
		for _, c := range l.Conditions {
			keep[c.Type] = true
			c.ObservedGeneration = ls.Generation
			setCondition(&conds, c, now)
			switch gatewayv1.ListenerConditionType(c.Type) {
			case gatewayv1.ListenerConditionAccepted, gatewayv1.ListenerConditionResolvedRefs:
				valid = valid && c.Status == metav1.ConditionTrue
			case gatewayv1.ListenerConditionConflicted:
				if c.Status == metav1.ConditionTrue {
					valid, conflict = false, c.Reason
				}
			}
		}
		lp := metav1.Condition{Type: string(gatewayv1.ListenerEntryConditionProgrammed), Status: programmed.Status,
			Reason: string(gatewayv1.ListenerEntryReasonProgrammed), Message: "Listener is programmed.", ObservedGeneration: ls.Generation}
		switch {
		case conflict != "":
			lp.Status, lp.Reason, lp.Message = metav1.ConditionFalse, conflict, "Listener conflicts with an earlier listener."
		case !valid:
			lp.Status, lp.Reason, lp.Message = metav1.ConditionFalse, string(gatewayv1.ListenerEntryReasonInvalid), "Listener is not valid."
		case programmed.Status != metav1.ConditionTrue:
			lp.Reason, lp.Message = string(gatewayv1.ListenerEntryReasonPending), programmed.Message
		}
		setCondition(&conds, lp, now)
		out.Listeners = append(out.Listeners, gatewayv1.ListenerEntryStatus{
			Name:           l.Name,
			SupportedKinds: l.SupportedKinds,
			AttachedRoutes: l.AttachedRoutes,
			Conditions:     filterConditions(conds, keep),
		})
	}
	return out
}
