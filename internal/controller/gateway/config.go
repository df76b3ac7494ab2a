package gateway

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	awsv1 "github.com/kelb-io/kelb/api/gateway/v1"
	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/model"
)

// Kinds of the AWS Load Balancer Controller's other Gateway resources.
const (
	KindTargetGroupConfiguration  = "TargetGroupConfiguration"
	KindListenerRuleConfiguration = "ListenerRuleConfiguration"
)

// Merging modes of a GatewayClass's LoadBalancerConfiguration.
const (
	MergePreferGatewayClass = "prefer-gateway-class"
	MergePreferGateway      = "prefer-gateway"
)

// Config holds the AWS Load Balancer Controller's configuration resources
// a Gateway's load balancer depends on, as the reconciler found them.
type Config struct {
	// ClassLB and GatewayLB are the LoadBalancerConfigurations the
	// GatewayClass's spec.parametersRef and the Gateway's
	// spec.infrastructure.parametersRef name; nil when not found (a
	// reference to one that is missing makes the Gateway's parameters
	// invalid).
	ClassLB, GatewayLB *awsv1.LoadBalancerConfiguration
	// TargetGroups are the TargetGroupConfigurations by namespace/name:
	// those whose targetReference names a Service, and those the
	// LoadBalancerConfigurations name as defaultTargetGroupConfiguration.
	TargetGroups map[types.NamespacedName]*awsv1.TargetGroupConfiguration
	// RuleConfigs are the ListenerRuleConfigurations the routes'
	// ExtensionRef filters name, by namespace/name.
	RuleConfigs map[types.NamespacedName]*awsv1.ListenerRuleConfiguration
}

// ConfigError is a configuration value kelb cannot apply: the Gateway
// keeps the load balancer it has, and says so, naming the field.
type ConfigError struct {
	// Parameters: the error is in the Gateway's LoadBalancerConfigurations
	// (Accepted False, InvalidParameters).
	Parameters bool
	Message    string
}

// configFail records the first configuration error of a Build.
func (b *builder) configFail(parameters bool, format string, args ...any) {
	if b.configErr == nil {
		b.configErr = &ConfigError{Parameters: parameters, Message: fmt.Sprintf(format, args...)}
	}
}

// warn records a configuration value kelb accepts but does not apply.
func (b *builder) warn(format string, args ...any) {
	b.warnings = append(b.warnings, fmt.Sprintf(format, args...))
}

// lbConfigRef is "LoadBalancerConfiguration <namespace>/<name>" of a
// parametersRef, and its key; ok false when the reference is not to a
// LoadBalancerConfiguration of gateway.k8s.aws.
func lbConfigRef(group, kind, namespace, name string) (types.NamespacedName, bool) {
	return types.NamespacedName{Namespace: namespace, Name: name}, group == GroupAWS && kind == KindLoadBalancerConfiguration
}

// ClassParameters is the LoadBalancerConfiguration a GatewayClass's
// parametersRef names, if it names one.
func ClassParameters(class *gatewayv1.GatewayClass) (types.NamespacedName, bool) {
	p := class.Spec.ParametersRef
	if p == nil || p.Namespace == nil {
		return types.NamespacedName{}, false
	}
	return lbConfigRef(string(p.Group), string(p.Kind), string(*p.Namespace), p.Name)
}

// GatewayParameters is the LoadBalancerConfiguration a Gateway's
// infrastructure.parametersRef names (in the Gateway's namespace), if any.
func GatewayParameters(gw *gatewayv1.Gateway) (types.NamespacedName, bool) {
	if gw.Spec.Infrastructure == nil || gw.Spec.Infrastructure.ParametersRef == nil {
		return types.NamespacedName{}, false
	}
	p := gw.Spec.Infrastructure.ParametersRef
	return lbConfigRef(string(p.Group), string(p.Kind), gw.Namespace, p.Name)
}

// mergedLBConfig merges the class's and the Gateway's LoadBalancerConfigurations
// as the AWS Load Balancer Controller does: the class's mergingMode
// (prefer-gateway-class by default) says whose value wins a field both
// set; tags and attributes merge key by key, listener configurations
// protocolPort by protocolPort. A reference that does not resolve is a
// parameters error.
func (b *builder) mergedLBConfig() awsv1.LoadBalancerConfigurationSpec {
	cfg := b.in.Config
	if p := b.in.Gateway.Spec.Infrastructure; p != nil && p.ParametersRef != nil {
		ref := p.ParametersRef
		name, ok := GatewayParameters(b.in.Gateway)
		switch {
		case !ok:
			b.configFail(true, "spec.infrastructure.parametersRef must name a %s of group %s, not %s of group %q", KindLoadBalancerConfiguration, GroupAWS, ref.Kind, ref.Group)
		case cfg.GatewayLB == nil:
			b.configFail(true, "spec.infrastructure.parametersRef: %s %s not found", KindLoadBalancerConfiguration, name)
		}
	}
	var class, gw awsv1.LoadBalancerConfigurationSpec
	if cfg.ClassLB != nil {
		class = cfg.ClassLB.Spec
	}
	if cfg.GatewayLB != nil {
		gw = cfg.GatewayLB.Spec
	}
	high, low := class, gw
	if class.MergingMode != nil && *class.MergingMode == MergePreferGateway {
		high, low = gw, class
	}
	return mergeLBConfig(high, low)
}

// mergeLBConfig is high's value of every field it sets, low's otherwise.
func mergeLBConfig(high, low awsv1.LoadBalancerConfigurationSpec) awsv1.LoadBalancerConfigurationSpec {
	out := high
	out.MergingMode = nil
	pick(&out.LoadBalancerName, low.LoadBalancerName)
	pick(&out.Scheme, low.Scheme)
	pick(&out.IpAddressType, low.IpAddressType)
	pick(&out.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic, low.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic)
	pick(&out.CustomerOwnedIpv4Pool, low.CustomerOwnedIpv4Pool)
	pick(&out.IPv4IPAMPoolId, low.IPv4IPAMPoolId)
	pick(&out.LoadBalancerSubnets, low.LoadBalancerSubnets)
	pick(&out.LoadBalancerSubnetsSelector, low.LoadBalancerSubnetsSelector)
	pick(&out.DisableSecurityGroup, low.DisableSecurityGroup)
	pick(&out.SecurityGroups, low.SecurityGroups)
	pick(&out.SecurityGroupPrefixes, low.SecurityGroupPrefixes)
	pick(&out.SourceRanges, low.SourceRanges)
	pick(&out.EnableICMP, low.EnableICMP)
	pick(&out.ManageBackendSecurityGroupRules, low.ManageBackendSecurityGroupRules)
	pick(&out.MinimumLoadBalancerCapacity, low.MinimumLoadBalancerCapacity)
	pick(&out.WAFv2, low.WAFv2)
	pick(&out.ShieldAdvanced, low.ShieldAdvanced)
	pick(&out.DefaultTargetGroupConfiguration, low.DefaultTargetGroupConfiguration)
	out.Tags = mergeTags(high.Tags, low.Tags)
	out.LoadBalancerAttributes = mergeKeyValues(high.LoadBalancerAttributes, low.LoadBalancerAttributes)
	if high.ListenerConfigurations != nil || low.ListenerConfigurations != nil {
		byPort := map[string]awsv1.ListenerConfiguration{}
		for _, l := range []*[]awsv1.ListenerConfiguration{low.ListenerConfigurations, high.ListenerConfigurations} {
			if l != nil {
				for _, c := range *l {
					byPort[c.ProtocolPort] = c
				}
			}
		}
		lcs := slices.Collect(maps.Values(byPort))
		slices.SortFunc(lcs, func(a, b awsv1.ListenerConfiguration) int { return strings.Compare(a.ProtocolPort, b.ProtocolPort) })
		out.ListenerConfigurations = &lcs
	}
	return out
}

// pick sets *dst to low when it is not set.
func pick[T any](dst **T, low *T) {
	if *dst == nil {
		*dst = low
	}
}

// mergeTags merges two configurations' tags key by key, high's value
// winning; nil when neither has tags.
func mergeTags(high, low *map[string]string) *map[string]string {
	if high == nil && low == nil {
		return nil
	}
	t := map[string]string{}
	if low != nil {
		maps.Copy(t, *low)
	}
	if high != nil {
		maps.Copy(t, *high)
	}
	return &t
}

// mergeKeyValues is low's key-values with high's over them, by key, in
// key order.
func mergeKeyValues(high, low []awsv1.KeyValue) []awsv1.KeyValue {
	if high == nil && low == nil {
		return nil
	}
	m := map[string]string{}
	for _, kv := range low {
		m[kv.Key] = kv.Value
	}
	for _, kv := range high {
		m[kv.Key] = kv.Value
	}
	out := make([]awsv1.KeyValue, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, awsv1.KeyValue{Key: k, Value: m[k]})
	}
	return out
}

// The AWS rules on names: 1-32 alphanumerics and hyphens, neither first
// nor last.
var validELBName = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?$`)

// applyLBConfig gives the stack the merged configuration's load balancer
// settings; a value kelb cannot apply is a parameters error naming the
// field, one it accepts but has no equivalent for a warning.
func (b *builder) applyLBConfig(c awsv1.LoadBalancerConfigurationSpec) {
	lb := &b.stack.LoadBalancer
	if c.LoadBalancerName != nil {
		if n := *c.LoadBalancerName; !validELBName.MatchString(n) || strings.HasPrefix(n, "internal-") {
			b.configFail(true, "spec.loadBalancerName: %q is not a load balancer name (1-32 letters, digits and hyphens, not first or last, not starting with internal-)", n)
		} else {
			lb.Name = n
		}
	}
	if c.Scheme != nil {
		lb.Scheme = *c.Scheme
	}
	if c.IpAddressType != nil {
		if *c.IpAddressType == "dualstack-without-public-ipv4" && (lb.Type != model.TypeApplication || lb.Scheme != "internet-facing") {
			b.configFail(true, "spec.ipAddressType: dualstack-without-public-ipv4 is for internet-facing application load balancers only")
		} else {
			lb.IPAddressType = *c.IpAddressType
		}
	}
	if c.LoadBalancerSubnets != nil {
		lb.Subnets = nil
		for i, s := range *c.LoadBalancerSubnets {
			if s.Identifier == "" {
				b.configFail(true, "spec.loadBalancerSubnets[%d].identifier is required", i)
			}
			lb.Subnets = append(lb.Subnets, s.Identifier)
			if s.EIPAllocation != nil || s.PrivateIPv4Allocation != nil || s.IPv6Allocation != nil || s.SourceNatIPv6Prefix != nil {
				b.warn("spec.loadBalancerSubnets[%d]: address allocations are ignored: kelb server allocates a load balancer's addresses from its zones' pools", i)
			}
		}
	}
	for _, a := range c.LoadBalancerAttributes {
		if lb.Attributes == nil {
			lb.Attributes = map[string]string{}
		}
		lb.Attributes[a.Key] = a.Value
	}
	if c.Tags != nil {
		for _, k := range slices.Sorted(maps.Keys(*c.Tags)) {
			if _, reserved := lb.Tags[k]; reserved && k != "" && b.reservedTag(k) {
				b.configFail(true, "spec.tags: tag %s is kelb controller's own", k)
				continue
			}
			lb.Tags[k] = (*c.Tags)[k]
		}
	}
	ignored := []struct {
		set   bool
		field string
	}{
		{c.LoadBalancerSubnetsSelector != nil, "spec.loadBalancerSubnetsSelector"},
		{c.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic != nil, "spec.enforceSecurityGroupInboundRulesOnPrivateLinkTraffic"},
		{c.CustomerOwnedIpv4Pool != nil, "spec.customerOwnedIpv4Pool"},
		{c.IPv4IPAMPoolId != nil, "spec.ipv4IPAMPoolId"},
		{c.SecurityGroupPrefixes != nil && len(*c.SecurityGroupPrefixes) > 0, "spec.securityGroupPrefixes"},
		{c.EnableICMP != nil && *c.EnableICMP, "spec.enableICMP"},
		{c.ManageBackendSecurityGroupRules != nil && *c.ManageBackendSecurityGroupRules, "spec.manageBackendSecurityGroupRules"},
		{c.MinimumLoadBalancerCapacity != nil, "spec.minimumLoadBalancerCapacity"},
		{c.WAFv2 != nil, "spec.wafV2"},
		{c.ShieldAdvanced != nil, "spec.shieldConfiguration"},
	}
	for _, f := range ignored {
		if f.set {
			b.warn("%s is ignored: kelb has no equivalent", f.field)
		}
	}
}

// reservedTag reports whether a tag key is one kelb controller sets to
// find its resources again.
func (b *builder) reservedTag(k string) bool {
	stack, resource := TagKeys(b.controller)
	return k == model.TagCluster || k == stack || k == resource
}

// applyListenerConfigs gives the stack's listeners their configurations
// (protocolPort "HTTPS:443" names a listener by its protocol and port):
// certificates, SSL and ALPN policies, mutual TLS and attributes.
func (b *builder) applyListenerConfigs(c awsv1.LoadBalancerConfigurationSpec) {
	if c.ListenerConfigurations == nil {
		return
	}
	for i, lc := range *c.ListenerConfigurations {
		field := fmt.Sprintf("spec.listenerConfigurations[%d]", i)
		var ml *model.Listener
		for j := range b.stack.Listeners {
			l := &b.stack.Listeners[j]
			if l.Protocol+":"+strconv.Itoa(int(l.Port)) == lc.ProtocolPort {
				ml = l
			}
		}
		if ml == nil {
			b.warn("%s: the load balancer has no %s listener", field, lc.ProtocolPort)
			continue
		}
		secure := ml.Protocol == "HTTPS" || ml.Protocol == "TLS"
		var arns []string
		if lc.DefaultCertificate != nil {
			arns = append(arns, *lc.DefaultCertificate)
		}
		for _, a := range lc.Certificates {
			if a != nil && !slices.Contains(arns, *a) {
				arns = append(arns, *a)
			}
		}
		if len(arns) > 0 {
			if !secure {
				b.configFail(true, "%s.certificates: a %s listener has no certificates", field, ml.Protocol)
				continue
			}
			// The configured default certificate comes first, the
			// listener's certificateRefs after it.
			certs := make([]model.Certificate, 0, len(arns)+len(ml.Certificates))
			for _, a := range arns {
				certs = append(certs, model.Certificate{ARN: a})
			}
			ml.Certificates = append(certs, ml.Certificates...)
		}
		if lc.SslPolicy != nil {
			if !secure {
				b.configFail(true, "%s.sslPolicy: a %s listener has no SSL policy", field, ml.Protocol)
				continue
			}
			ml.SSLPolicy = *lc.SslPolicy
		}
		if lc.ALPNPolicy != nil {
			if ml.Protocol != "TLS" {
				b.configFail(true, "%s.alpnPolicy: an ALPN policy is for the TLS listeners of network load balancers, not %s", field, ml.Protocol)
				continue
			}
			ml.ALPNPolicy = *lc.ALPNPolicy
		}
		if m := lc.MutualAuthentication; m != nil {
			if ml.Protocol != "HTTPS" {
				b.configFail(true, "%s.mutualAuthentication: mutual TLS is for HTTPS listeners, not %s", field, ml.Protocol)
				continue
			}
			ma := &model.MutualAuthentication{Port: ml.Port, Mode: m.Mode, IgnoreClientCertificateExpiry: m.IgnoreClientCertificateExpiry,
				AdvertiseTrustStoreCaNames: m.AdvertiseTrustStoreCaNames}
			if m.TrustStore != nil {
				ma.TrustStore = *m.TrustStore
			}
			if m.Mode == "verify" && ma.TrustStore == "" {
				b.configFail(true, "%s.mutualAuthentication.trustStore is required in verify mode", field)
				continue
			}
			ml.MutualAuthentication = ma
		}
		for _, a := range lc.ListenerAttributes {
			if ml.Attributes == nil {
				ml.Attributes = map[string]string{}
			}
			ml.Attributes[a.Key] = a.Value
		}
		if lc.TargetGroupStickiness != nil && *lc.TargetGroupStickiness {
			b.warn("%s.targetGroupStickiness is ignored: give the rules stickiness with a ListenerRuleConfiguration forward action", field)
		}
		if lc.QuicEnabled != nil && *lc.QuicEnabled {
			b.warn("%s.quicEnabled is ignored: kelb server does not serve QUIC", field)
		}
	}
}

// configuredCertificate reports whether the configuration gives a listener
// of protocol and port a default certificate.
func configuredCertificate(c awsv1.LoadBalancerConfigurationSpec, protocol gatewayv1.ProtocolType, port gatewayv1.PortNumber) bool {
	if c.ListenerConfigurations == nil {
		return false
	}
	for _, lc := range *c.ListenerConfigurations {
		if lc.ProtocolPort == fmt.Sprintf("%s:%d", protocol, port) && lc.DefaultCertificate != nil {
			return true
		}
	}
	return false
}

// acceptConfiguredCertificates makes valid the listeners that terminate
// TLS without certificateRefs when the configuration gives them a default
// certificate, as the AWS Load Balancer Controller serves them.
func acceptConfiguredCertificates(c awsv1.LoadBalancerConfigurationSpec, listeners []*listenerState) {
	for _, l := range listeners {
		if l.Valid || (l.TLS != nil && len(l.TLS.CertificateRefs) > 0) || !configuredCertificate(c, l.Protocol, l.Port) {
			continue
		}
		if l.TLS != nil && l.TLS.Mode != nil && *l.TLS.Mode != gatewayv1.TLSModeTerminate {
			continue
		}
		valid := true
		for i, cond := range l.Conditions {
			if cond.Type == string(gatewayv1.ListenerConditionResolvedRefs) && cond.Reason == string(gatewayv1.ListenerReasonInvalidCertificateRef) {
				l.Conditions[i].Status, l.Conditions[i].Reason = metav1.ConditionTrue, string(gatewayv1.ListenerReasonResolvedRefs)
				l.Conditions[i].Message = "Listener has all refs resolved (its certificate comes from the LoadBalancerConfiguration)."
				continue
			}
			switch gatewayv1.ListenerConditionType(cond.Type) {
			case gatewayv1.ListenerConditionAccepted, gatewayv1.ListenerConditionResolvedRefs:
				valid = valid && cond.Status == metav1.ConditionTrue
			case gatewayv1.ListenerConditionConflicted:
				valid = valid && cond.Status == metav1.ConditionFalse
			}
		}
		l.Valid = valid
	}
}

// applySecurityGroups gives the load balancer the configuration's
// security groups, or the managed frontend group the AWS Load Balancer
// Controller makes for a Gateway that names none: named
// k8s-<namespace>-<name>-<hash>, admitting the source ranges (every
// source by default) to each listener's port. A network load balancer
// with disableSecurityGroup gets none.
func (b *builder) applySecurityGroups(c awsv1.LoadBalancerConfigurationSpec) {
	lb := &b.stack.LoadBalancer
	if c.SecurityGroups != nil && len(*c.SecurityGroups) > 0 {
		lb.SecurityGroups = slices.Clone(*c.SecurityGroups)
		if c.SourceRanges != nil {
			b.warn("spec.sourceRanges is ignored: the load balancer's groups come from spec.securityGroups, whose rules decide which sources it admits")
		}
		return
	}
	if c.DisableSecurityGroup != nil && *c.DisableSecurityGroup {
		if lb.Type == model.TypeNetwork {
			return
		}
		b.configFail(true, "spec.disableSecurityGroup: an application load balancer has security groups")
		return
	}
	var ranges []string
	if c.SourceRanges != nil {
		ranges = *c.SourceRanges
	}
	cidrs, err := deploy.SourceCIDRs(ranges, lb.IPAddressType != "ipv4")
	if err != nil {
		b.configFail(true, "spec.sourceRanges: %v", err)
		return
	}
	gw := b.in.Gateway
	g := &model.ManagedSecurityGroup{
		Name:        deploy.ManagedSecurityGroupName([]string{gw.Namespace, gw.Name}, b.opts.ClusterName, gw.Name, gw.Namespace),
		Description: model.ManagedSecurityGroupDescription,
		Tags:        b.tags(model.ResourceManagedSecurityGroup),
	}
	for _, l := range b.stack.Listeners {
		g.Ingress = append(g.Ingress, model.IngressRules(l.Protocol, l.Port, cidrs)...)
	}
	lb.ManagedSecurityGroup = g
}
