package elbv2deploy

import (
	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
)

// LoadBalancer is a stack's desired load balancer. Its JSON form is part of
// the Service and Ingress stacks' golden files.
type LoadBalancer struct {
	Name          string `json:"name"`
	Type          string `json:"type"`
	Scheme        string `json:"scheme"`
	IPAddressType string `json:"ipAddressType"`
	// Subnets select the zones of kelb server; none means every zone.
	Subnets []string `json:"subnets,omitempty"`
	// Attributes hold only the attributes the Kubernetes object sets;
	// others keep whatever value kelb server has.
	Attributes map[string]string `json:"attributes,omitempty"`
	Tags       map[string]string `json:"tags"`
	// SecurityGroups are the names or IDs of the security-groups
	// annotation, resolved to IDs at deploy (ResolveSecurityGroups); none
	// leaves the load balancer's groups as they are.
	SecurityGroups []string `json:"securityGroups,omitempty"`
}

// TargetGroupBinding is a desired TargetGroupBinding object. Its
// Spec.TargetGroupARN is empty until deploy knows the target group's ARN.
type TargetGroupBinding struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels"`
	// TargetGroup is the ResourceID of the bound target group.
	TargetGroup string                          `json:"targetGroup"`
	Spec        elbv2api.TargetGroupBindingSpec `json:"spec"`
}

// Stack is the desired state of one Kubernetes object's (or group's) load
// balancer: what a deployer makes kelb server hold. L and TG are the
// listener and target group types of the kind of load balancer it is.
type Stack[L, TG any] struct {
	// ID is the value of the stack tag: "<namespace>/<name>" of a Service,
	// the group ID of an IngressGroup.
	ID                  string               `json:"id"`
	LoadBalancer        LoadBalancer         `json:"loadBalancer"`
	Listeners           []L                  `json:"listeners"`
	TargetGroups        []TG                 `json:"targetGroups"`
	TargetGroupBindings []TargetGroupBinding `json:"targetGroupBindings"`
	// Warnings are annotations that were accepted but have no effect.
	Warnings []string `json:"warnings,omitempty"`
}
