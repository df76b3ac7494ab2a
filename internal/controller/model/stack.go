package model

import (
	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
)

// TagCluster is the tag naming the cluster a resource was made for, the
// AWS Load Balancer Controller's. Every front-end sets it.
const TagCluster = "elbv2.k8s.aws/cluster"

// ListenerAttributeSourceRanges is the kelb listener attribute that carries
// the networks allowed to reach a listener, comma-separated. kelb server
// refuses connections from any other source. It is absent when every
// source is allowed. Stacks carry source ranges in their
// ManagedSecurityGroup; deploy writes them in this attribute only for a
// load balancer that cannot carry that group (elbv2deploy.WithSourceRanges),
// and removes it otherwise.
const ListenerAttributeSourceRanges = "kelb.source_ranges.cidrs"

// Load balancer types.
const (
	TypeNetwork     = "network"
	TypeApplication = "application"
)

// SourceNatAutoAssigned is the source NAT prefix of a subnet whose prefix
// kelb server picks, as ELBv2 names it.
const SourceNatAutoAssigned = "auto_assigned"

// Stack is the desired state of one Kubernetes object's (or group's) load
// balancer: what a deployer makes kelb server hold.
type Stack struct {
	// ID is the value of the front-end's stack tag: "<namespace>/<name>"
	// of a Service, the group ID of an IngressGroup.
	ID           string       `json:"id"`
	LoadBalancer LoadBalancer `json:"loadBalancer"`
	// Listeners are in the front-end's order; each carries its rules.
	Listeners           []Listener           `json:"listeners"`
	TargetGroups        []TargetGroup        `json:"targetGroups"`
	TargetGroupBindings []TargetGroupBinding `json:"targetGroupBindings"`
	// Warnings are annotations (or fields) that were accepted but have no
	// effect; front-ends report them as Kubernetes events.
	Warnings []string `json:"warnings,omitempty"`
}

// TargetGroup returns the stack's target group with ResourceID id, or nil.
func (s *Stack) TargetGroup(id string) *TargetGroup {
	for i := range s.TargetGroups {
		if s.TargetGroups[i].ResourceID == id {
			return &s.TargetGroups[i]
		}
	}
	return nil
}

// LoadBalancer is a stack's desired load balancer.
type LoadBalancer struct {
	Name string `json:"name"`
	// Type is TypeNetwork or TypeApplication.
	Type          string `json:"type"`
	Scheme        string `json:"scheme"`
	IPAddressType string `json:"ipAddressType"`
	// Subnets select the zones of kelb server; none means every zone.
	Subnets []string `json:"subnets,omitempty"`
	// EnablePrefixForIPv6SourceNat is "on" or "off" when the object sets
	// it (dualstack network load balancers only); "" leaves kelb server's
	// setting, off for a new load balancer.
	EnablePrefixForIPv6SourceNat string `json:"enablePrefixForIpv6SourceNat,omitempty"`
	// SourceNatIPv6Prefixes are the source NAT prefixes of Subnets, in
	// their order: a /80, or SourceNatAutoAssigned for one kelb server
	// picks. None lets kelb server pick each.
	SourceNatIPv6Prefixes []string `json:"sourceNatIpv6Prefixes,omitempty"`
	// Attributes hold only the attributes the Kubernetes object sets;
	// others keep whatever value kelb server has.
	Attributes map[string]string `json:"attributes,omitempty"`
	Tags       map[string]string `json:"tags"`
	// SecurityGroups are names or IDs of security groups, resolved to IDs
	// at deploy; none leaves the load balancer's groups as they are.
	SecurityGroups []string `json:"securityGroups,omitempty"`
	// ManagedSecurityGroup is the frontend group kelb controller makes
	// and gives the load balancer when SecurityGroups is empty, as the
	// AWS Load Balancer Controller does; it carries the source ranges.
	ManagedSecurityGroup *ManagedSecurityGroup `json:"managedSecurityGroup,omitempty"`
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
