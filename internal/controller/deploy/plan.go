package deploy

import (
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/kelb-io/kelb/internal/controller/model"
)

// Actual is what kelb server holds for one stack (Deployer.Find).
type Actual struct {
	LoadBalancer *ActualLoadBalancer
	// OtherLoadBalancers are further load balancers tagged for the stack,
	// left over from an interrupted replacement: they are deleted.
	OtherLoadBalancers []string
	Listeners          []ActualListener
	TargetGroups       []ActualTargetGroup
}

// ActualListener is an existing listener of the stack's load balancer.
type ActualListener struct {
	ARN      string
	Port     int32
	Protocol string
	// DefaultAction is its default action, target groups given by ARN.
	DefaultAction model.Action
	// SSLPolicy, ALPNPolicy and Certificates (the default first, then the
	// others sorted) are a TLS or HTTPS listener's.
	SSLPolicy            string
	ALPNPolicy           string
	Certificates         []string
	MutualAuthentication *types.MutualAuthenticationAttributes
	Attributes           map[string]string
	Tags                 map[string]string
	// Rules are the non-default rules of an application load balancer's
	// listener.
	Rules []ActualRule
}

// Empty reports whether c changes nothing.
func (c TagChange) Empty() bool { return len(c.Set) == 0 && len(c.Remove) == 0 }

// Plan is what deploy must do to make Actual into the desired Stack. Steps
// name desired resources by ResourceID (target groups) or port
// (listeners) and existing ones by ARN; deploy runs them in field order.
type Plan struct {
	// DeleteLoadBalancers are load balancers to delete first: one that must
	// be replaced (its name or scheme cannot change in place) and leftovers.
	DeleteLoadBalancers []string `json:"deleteLoadBalancers,omitempty"`
	// CreateLoadBalancer creates the desired load balancer.
	CreateLoadBalancer bool `json:"createLoadBalancer,omitempty"`
	// LoadBalancerARN is the existing load balancer that is kept.
	LoadBalancerARN  string            `json:"loadBalancerARN,omitempty"`
	SetIPAddressType string            `json:"setIPAddressType,omitempty"`
	SetSubnets       []string          `json:"setSubnets,omitempty"`
	SetLBAttributes  map[string]string `json:"setLBAttributes,omitempty"`
	LBTags           TagChange         `json:"lbTags,omitzero"`
	// SetSourceNat changes the source NAT setting or prefixes, in the
	// SetSubnets call (SetSubnets is then set, to the zones kept if they
	// do not change).
	SetSourceNat *SourceNatChange `json:"setSourceNat,omitempty"`

	CreateTargetGroups []string            `json:"createTargetGroups,omitempty"`
	ModifyTargetGroups []TargetGroupChange `json:"modifyTargetGroups,omitempty"`
	// TargetGroupARNs maps the ResourceID of every kept target group to
	// its ARN.
	TargetGroupARNs map[string]string `json:"targetGroupARNs,omitempty"`

	CreateListeners []int32          `json:"createListeners,omitempty"`
	ModifyListeners []ListenerChange `json:"modifyListeners,omitempty"`
	DeleteListeners []string         `json:"deleteListeners,omitempty"`

	// DeleteTargetGroups run last, once no listener forwards to them.
	DeleteTargetGroups []string `json:"deleteTargetGroups,omitempty"`
}

// TargetGroupChange modifies an existing target group in place.
type TargetGroupChange struct {
	ARN         string             `json:"arn"`
	HealthCheck *model.HealthCheck `json:"healthCheck,omitempty"`
	Attributes  map[string]string  `json:"attributes,omitempty"`
	Tags        TagChange          `json:"tags,omitzero"`
}

// ListenerChange modifies an existing listener in place.
type ListenerChange struct {
	ARN  string `json:"arn"`
	Port int32  `json:"port"`
	// Protocol and DefaultAction are set when ModifyListener must run:
	// the listener's protocol, default action, TLS settings or mutual TLS
	// differ. DefaultAction's target groups are given by ARN, or by
	// ResourceID for those the plan creates. SSLPolicy, Certificate (the
	// default one) and, for TLS, ALPNPolicy ("None" to negotiate none) are
	// then set for a listener with certificates, MutualAuthentication when
	// the stack sets it.
	Protocol             string                                `json:"protocol,omitempty"`
	DefaultAction        *model.Action                         `json:"defaultAction,omitempty"`
	SSLPolicy            string                                `json:"sslPolicy,omitempty"`
	ALPNPolicy           string                                `json:"alpnPolicy,omitempty"`
	Certificate          string                                `json:"certificate,omitempty"`
	MutualAuthentication *types.MutualAuthenticationAttributes `json:"mutualAuthentication,omitempty"`
	// AddCertificates and RemoveCertificates change a listener's
	// certificates besides the default.
	AddCertificates    []string          `json:"addCertificates,omitempty"`
	RemoveCertificates []string          `json:"removeCertificates,omitempty"`
	Attributes         map[string]string `json:"attributes,omitempty"`
	Tags               TagChange         `json:"tags,omitzero"`
	// Rules make the listener's rules the desired ones.
	Rules RulePlan `json:"rules,omitzero"`
}

// Empty reports whether the plan makes no API call that writes.
func (p *Plan) Empty() bool {
	if len(p.DeleteLoadBalancers) > 0 || p.CreateLoadBalancer || p.SetIPAddressType != "" || p.SetSubnets != nil || p.SetSourceNat != nil ||
		len(p.SetLBAttributes) > 0 || !p.LBTags.Empty() || len(p.CreateTargetGroups) > 0 ||
		len(p.CreateListeners) > 0 || len(p.DeleteListeners) > 0 || len(p.DeleteTargetGroups) > 0 {
		return false
	}
	return len(p.ModifyTargetGroups) == 0 && len(p.ModifyListeners) == 0
}

// Diff compares the desired stack with what exists and returns the plan
// that reconciles them. It never replaces what can be modified in place:
// the load balancer is replaced only when its name or scheme changes, a
// target group only when its name, protocol, port, target type or address
// type does (ELBv2 cannot modify those). Desired nil means the stack must go:
// everything in actual is deleted.
func Diff(desired *model.Stack, actual *Actual) *Plan {
	p := &Plan{TargetGroupARNs: map[string]string{}}
	p.DeleteLoadBalancers = append(p.DeleteLoadBalancers, actual.OtherLoadBalancers...)
	if desired == nil {
		for _, l := range actual.Listeners {
			p.DeleteListeners = append(p.DeleteListeners, l.ARN)
		}
		if actual.LoadBalancer != nil {
			p.DeleteLoadBalancers = append(p.DeleteLoadBalancers, actual.LoadBalancer.ARN)
		}
		for _, tg := range actual.TargetGroups {
			p.DeleteTargetGroups = append(p.DeleteTargetGroups, tg.ARN)
		}
		return p
	}

	lb := actual.LoadBalancer
	keepListeners := true
	switch {
	case lb == nil:
		p.CreateLoadBalancer = true
		keepListeners = false
	case lb.Name != desired.LoadBalancer.Name || lb.Scheme != desired.LoadBalancer.Scheme ||
		(lb.Type != "" && lb.Type != desired.LoadBalancer.Type):
		// Deleting the load balancer deletes its listeners.
		p.DeleteLoadBalancers = append(p.DeleteLoadBalancers, lb.ARN)
		p.CreateLoadBalancer = true
		keepListeners = false
	default:
		p.LoadBalancerARN = lb.ARN
		if lb.IPAddressType != desired.LoadBalancer.IPAddressType {
			p.SetIPAddressType = desired.LoadBalancer.IPAddressType
		}
		if len(desired.LoadBalancer.Subnets) > 0 && !SameZones(desired.LoadBalancer.Subnets, lb) {
			p.SetSubnets = slices.Clone(desired.LoadBalancer.Subnets)
		}
		if p.SetSourceNat = diffSourceNat(desired.LoadBalancer, lb); p.SetSourceNat != nil && p.SetSubnets == nil {
			p.SetSubnets = slices.Clone(desired.LoadBalancer.Subnets)
			if len(p.SetSubnets) == 0 {
				p.SetSubnets = slices.Clone(lb.Subnets)
			}
		}
		p.SetLBAttributes = ChangedAttributes(desired.LoadBalancer.Attributes, lb.Attributes)
		p.LBTags = diffTags(desired.LoadBalancer.Tags, lb.Tags)
	}

	// Target groups: keep an existing group whose immutable properties
	// match the desired one of its resource tag; every other group of the
	// stack is deleted once no listener uses it.
	kept := map[string]bool{}
	for _, want := range desired.TargetGroups {
		var match *ActualTargetGroup
		for i := range actual.TargetGroups {
			tg := &actual.TargetGroups[i]
			if !kept[tg.ARN] && tg.ResourceID == want.ResourceID && sameTargetGroupIdentity(want, *tg) {
				match = tg
				break
			}
		}
		if match == nil {
			p.CreateTargetGroups = append(p.CreateTargetGroups, want.ResourceID)
			continue
		}
		kept[match.ARN] = true
		p.TargetGroupARNs[want.ResourceID] = match.ARN
		change := TargetGroupChange{
			ARN:        match.ARN,
			Attributes: ChangedAttributes(want.Attributes, match.Attributes),
			Tags:       diffTags(want.Tags, match.Tags),
		}
		if !sameHealthCheck(want.HealthCheck, match.HealthCheck) {
			hc := want.HealthCheck
			change.HealthCheck = &hc
		}
		if change.HealthCheck != nil || len(change.Attributes) > 0 || !change.Tags.Empty() {
			p.ModifyTargetGroups = append(p.ModifyTargetGroups, change)
		}
	}
	for _, tg := range actual.TargetGroups {
		if !kept[tg.ARN] {
			p.DeleteTargetGroups = append(p.DeleteTargetGroups, tg.ARN)
		}
	}

	// Listeners, by port.
	if !keepListeners {
		for _, l := range desired.Listeners {
			p.CreateListeners = append(p.CreateListeners, l.Port)
		}
		return p
	}
	byPort := map[int32]ActualListener{}
	for _, l := range actual.Listeners {
		byPort[l.Port] = l
	}
	wanted := map[int32]bool{}
	for _, want := range desired.Listeners {
		wanted[want.Port] = true
		have, ok := byPort[want.Port]
		if !ok {
			p.CreateListeners = append(p.CreateListeners, want.Port)
			continue
		}
		if change, ok := diffListener(want, have, p.TargetGroupARNs, desired.LoadBalancer.Type); ok {
			p.ModifyListeners = append(p.ModifyListeners, change)
		}
	}
	for _, l := range actual.Listeners {
		if !wanted[l.Port] {
			p.DeleteListeners = append(p.DeleteListeners, l.ARN)
		}
	}
	return p
}

func sameTargetGroupIdentity(want model.TargetGroup, have ActualTargetGroup) bool {
	return want.Name == have.Name && want.Protocol == have.Protocol && want.Port == have.Port &&
		want.TargetType == have.TargetType && (have.IPAddressType == "" || want.IPAddressType == have.IPAddressType) &&
		(have.ProtocolVersion == "" || want.ProtocolVersion == "" || want.ProtocolVersion == have.ProtocolVersion)
}

func sameHealthCheck(want, have model.HealthCheck) bool {
	if want.Protocol == "TCP" {
		// TCP checks have no path nor matcher; whatever the server reports
		// for them does not matter.
		want.Path, want.HTTPCode, have.Path, have.HTTPCode = "", "", "", ""
		want.GRPCCode, have.GRPCCode = "", ""
	}
	if want.GRPCCode == "" {
		// Only gRPC checks name gRPC codes.
		have.GRPCCode = ""
	}
	return want == have
}
