package gateway

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The controllerNames of the AWS Load Balancer Controller's GatewayClasses.
const (
	ControllerALB gatewayv1.GatewayController = "gateway.k8s.aws/alb"
	ControllerNLB gatewayv1.GatewayController = "gateway.k8s.aws/nlb"
)

// The group of kelb's (and the AWS Load Balancer Controller's) Gateway
// customisation resources.
const (
	GroupAWS                      = "gateway.k8s.aws"
	KindLoadBalancerConfiguration = "LoadBalancerConfiguration"
)

// Ours reports whether a GatewayClass's controllerName is one of kelb's.
func Ours(c gatewayv1.GatewayController) bool {
	return c == ControllerALB || c == ControllerNLB
}

// ClassConditions are the status conditions of one of kelb's
// GatewayClasses: Accepted, unless parametersRef names something other
// than a LoadBalancerConfiguration (InvalidParameters), or one that does
// not exist (found false).
func ClassConditions(class *gatewayv1.GatewayClass, found bool) []metav1.Condition {
	accepted := metav1.Condition{
		Type:               string(gatewayv1.GatewayClassConditionStatusAccepted),
		Status:             metav1.ConditionTrue,
		Reason:             string(gatewayv1.GatewayClassReasonAccepted),
		Message:            "GatewayClass is accepted by kelb controller.",
		ObservedGeneration: class.Generation,
	}
	if p := class.Spec.ParametersRef; p != nil {
		switch {
		case string(p.Group) != GroupAWS || string(p.Kind) != KindLoadBalancerConfiguration:
			accepted.Status, accepted.Reason = metav1.ConditionFalse, string(gatewayv1.GatewayClassReasonInvalidParameters)
			accepted.Message = "spec.parametersRef must name a " + KindLoadBalancerConfiguration + " of group " + GroupAWS + ", not " + string(p.Kind) + " of group " + string(p.Group)
		case p.Namespace == nil:
			accepted.Status, accepted.Reason = metav1.ConditionFalse, string(gatewayv1.GatewayClassReasonInvalidParameters)
			accepted.Message = "spec.parametersRef.namespace is required: a LoadBalancerConfiguration is namespaced"
		case !found:
			accepted.Status, accepted.Reason = metav1.ConditionFalse, string(gatewayv1.GatewayClassReasonInvalidParameters)
			accepted.Message = "spec.parametersRef: LoadBalancerConfiguration " + string(*p.Namespace) + "/" + p.Name + " not found"
		}
	}
	return []metav1.Condition{accepted, {
		Type:               string(gatewayv1.GatewayClassConditionStatusSupportedVersion),
		Status:             metav1.ConditionTrue,
		Reason:             string(gatewayv1.GatewayClassReasonSupportedVersion),
		Message:            "kelb controller is built with Gateway API " + BundleVersion + ".",
		ObservedGeneration: class.Generation,
	}}
}

// BundleVersion is the Gateway API release kelb is built with, whose CRDs
// kelb up installs.
const BundleVersion = "v1.6.3"
