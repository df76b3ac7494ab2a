package gateway

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
	awsv1 "github.com/kelb-io/kelb/api/gateway/v1"
	"github.com/kelb-io/kelb/internal/controller/model"
)

// tgSettings are the TargetGroupConfiguration settings of one backend, with
// where they came from (for messages) and whether a route-specific
// configuration chose them.
type tgSettings struct {
	props    awsv1.TargetGroupProps
	source   string
	perRoute bool
}

// defaultTargetGroups resolves the defaultTargetGroupConfiguration of the
// class's and the Gateway's LoadBalancerConfigurations: their
// defaultConfigurations merged field by field (the class's mergingMode
// says whose wins), the winner's routeConfigurations. A name that does not
// resolve, or names a configuration with a targetReference, is a
// parameters error.
func (b *builder) defaultTargetGroups() *awsv1.TargetGroupConfigurationSpec {
	cfg := b.in.Config
	resolve := func(lb *awsv1.LoadBalancerConfiguration, who string) *awsv1.TargetGroupConfigurationSpec {
		if lb == nil || lb.Spec.DefaultTargetGroupConfiguration == nil {
			return nil
		}
		name := types.NamespacedName{Namespace: lb.Namespace, Name: lb.Spec.DefaultTargetGroupConfiguration.Name}
		tgc := cfg.TargetGroups[name]
		switch {
		case tgc == nil:
			b.configFail(true, "%s %s/%s spec.defaultTargetGroupConfiguration: %s %s not found", who, lb.Namespace, lb.Name, KindTargetGroupConfiguration, name)
			return nil
		case tgc.Spec.TargetReference != nil:
			b.configFail(true, "%s %s/%s spec.defaultTargetGroupConfiguration: %s %s has a targetReference; a default configuration has none", who, lb.Namespace, lb.Name, KindTargetGroupConfiguration, name)
			return nil
		}
		return &tgc.Spec
	}
	class := resolve(cfg.ClassLB, "GatewayClass LoadBalancerConfiguration")
	var gw *awsv1.TargetGroupConfigurationSpec
	if cfg.GatewayLB != nil && cfg.GatewayLB.Namespace == b.in.Gateway.Namespace {
		gw = resolve(cfg.GatewayLB, "Gateway LoadBalancerConfiguration")
	}
	high, low := class, gw
	if cfg.ClassLB != nil && cfg.ClassLB.Spec.MergingMode != nil && *cfg.ClassLB.Spec.MergingMode == MergePreferGateway {
		high, low = gw, class
	}
	switch {
	case high == nil:
		return low
	case low == nil:
		return high
	}
	out := *high
	out.DefaultConfiguration = mergeProps(high.DefaultConfiguration, low.DefaultConfiguration)
	return &out
}

// serviceTargetGroups is the TargetGroupConfiguration whose
// targetReference names the Service (the first by name when several do).
func (b *builder) serviceTargetGroups(svc *corev1.Service) (*awsv1.TargetGroupConfiguration, bool) {
	var found *awsv1.TargetGroupConfiguration
	for _, tgc := range b.in.Config.TargetGroups {
		ref := tgc.Spec.TargetReference
		if tgc.Namespace != svc.Namespace || ref == nil || ref.Name != svc.Name ||
			(ref.Group != nil && *ref.Group != "") || (ref.Kind != nil && *ref.Kind != "Service") {
			continue
		}
		if found == nil || tgc.Name < found.Name {
			found = tgc
		}
	}
	return found, found != nil
}

// forRoute is a configuration's settings for one route: its
// defaultConfiguration, with the routeConfiguration that names the route
// most closely (kind, namespace and name; kind and namespace; kind) over
// it; perRoute when one does.
func forRoute(spec *awsv1.TargetGroupConfigurationSpec, r Route) (awsv1.TargetGroupProps, bool) {
	k := r.Key()
	var best *awsv1.TargetGroupProps
	rank := 0
	for i, rc := range spec.RouteConfigurations {
		id := rc.RouteIdentifier
		if id.RouteKind != r.Kind {
			continue
		}
		var n int
		switch {
		case id.RouteName != "" && id.RouteNamespace == k.Namespace && id.RouteName == k.Name:
			n = 3
		case id.RouteName == "" && id.RouteNamespace == k.Namespace:
			n = 2
		case id.RouteName == "" && id.RouteNamespace == "":
			n = 1
		}
		if n > rank {
			best, rank = &spec.RouteConfigurations[i].TargetGroupProps, n
		}
	}
	if best == nil {
		return spec.DefaultConfiguration, false
	}
	return mergeProps(*best, spec.DefaultConfiguration), true
}

// targetGroupSettings are a backend's settings: the Service's
// configuration over the Gateway's default one.
func (b *builder) targetGroupSettings(svc *corev1.Service, r Route) tgSettings {
	var s tgSettings
	var def awsv1.TargetGroupProps
	if b.defaultTGs != nil {
		var perRoute bool
		def, perRoute = forRoute(b.defaultTGs, r)
		s.props, s.perRoute, s.source = def, perRoute, "default TargetGroupConfiguration"
	}
	if tgc, ok := b.serviceTargetGroups(svc); ok {
		props, perRoute := forRoute(&tgc.Spec, r)
		s.props = mergeProps(props, def)
		s.perRoute = s.perRoute || perRoute
		s.source = fmt.Sprintf("%s %s/%s", KindTargetGroupConfiguration, tgc.Namespace, tgc.Name)
	}
	return s
}

// mergeProps is high's value of every field it sets, low's otherwise;
// tags and attributes merge key by key.
func mergeProps(high, low awsv1.TargetGroupProps) awsv1.TargetGroupProps {
	out := high
	pick(&out.TargetGroupName, low.TargetGroupName)
	pick(&out.IPAddressType, low.IPAddressType)
	pick(&out.HealthCheckConfig, low.HealthCheckConfig)
	pick(&out.NodeSelector, low.NodeSelector)
	pick(&out.TargetType, low.TargetType)
	pick(&out.Protocol, low.Protocol)
	pick(&out.ProtocolVersion, low.ProtocolVersion)
	pick(&out.TargetControlPort, low.TargetControlPort)
	pick(&out.EnableMultiCluster, low.EnableMultiCluster)
	out.Tags = mergeTags(high.Tags, low.Tags)
	out.TargetGroupAttributes = mergeKeyValues(high.TargetGroupAttributes, low.TargetGroupAttributes)
	return out
}

// Protocols a target group of each load balancer type can have.
var tgProtocols = map[string][]string{
	model.TypeApplication: {"HTTP", "HTTPS"},
	model.TypeNetwork:     {"TCP", "TLS", "UDP", "TCP_UDP"},
}

var validHTTPCodes = regexp.MustCompile(`^[0-9]{3}([-,][0-9]{3})*$`)

// applyTargetGroupSettings gives a target group and its binding the
// settings; a value kelb cannot apply is an error naming the field.
func (b *builder) applyTargetGroupSettings(s tgSettings, svc *corev1.Service, svcPort *corev1.ServicePort, tg *model.TargetGroup, tgb *model.TargetGroupBinding) {
	p := s.props
	fail := func(field, format string, args ...any) {
		b.configFail(false, "%s %s: %s", s.source, field, fmt.Sprintf(format, args...))
	}
	if p.TargetGroupName != nil {
		if !validELBName.MatchString(*p.TargetGroupName) {
			fail("targetGroupName", "%q is not a target group name (1-32 letters, digits and hyphens, not first or last)", *p.TargetGroupName)
		} else {
			tg.Name, tgb.Name = *p.TargetGroupName, *p.TargetGroupName
		}
	}
	if p.IPAddressType != nil {
		tg.IPAddressType = *p.IPAddressType
		t := elbv2api.TargetGroupIPAddressType(*p.IPAddressType)
		tgb.Spec.IPAddressType = &t
	}
	if p.Protocol != nil {
		if !slices.Contains(tgProtocols[b.stack.LoadBalancer.Type], *p.Protocol) {
			fail("protocol", "a %s load balancer's target group protocol is one of %v, not %s", b.stack.LoadBalancer.Type, tgProtocols[b.stack.LoadBalancer.Type], *p.Protocol)
		} else {
			tg.Protocol = *p.Protocol
		}
	}
	if p.ProtocolVersion != nil {
		if tg.Protocol != "HTTP" && tg.Protocol != "HTTPS" {
			fail("protocolVersion", "a protocol version is for HTTP and HTTPS target groups, not %s", tg.Protocol)
		} else {
			tg.ProtocolVersion = *p.ProtocolVersion
		}
	}
	if p.Protocol != nil || p.ProtocolVersion != nil {
		tg.HealthCheck = healthCheck(tg.Protocol, tg.ProtocolVersion)
	}
	if p.TargetType != nil && *p.TargetType == "instance" {
		if svcPort.NodePort == 0 {
			fail("targetType", "instance targets are the nodes at the Service's node port, and Service %s/%s port %d has none (type NodePort or LoadBalancer)", svc.Namespace, svc.Name, svcPort.Port)
		} else {
			tg.TargetType, tg.Port = "instance", svcPort.NodePort
			tt := elbv2api.TargetTypeInstance
			tgb.Spec.TargetType = &tt
			tgb.Spec.NodeSelector = p.NodeSelector
		}
	}
	if hc := p.HealthCheckConfig; hc != nil {
		b.applyHealthCheck(*hc, tg, func(field, format string, args ...any) { fail("healthCheckConfig."+field, format, args...) })
	}
	for _, a := range p.TargetGroupAttributes {
		if tg.Attributes == nil {
			tg.Attributes = map[string]string{}
		}
		tg.Attributes[a.Key] = a.Value
	}
	if p.Tags != nil {
		for _, k := range slices.Sorted(maps.Keys(*p.Tags)) {
			if b.reservedTag(k) {
				fail("tags", "tag %s is kelb controller's own", k)
				continue
			}
			tg.Tags[k] = (*p.Tags)[k]
		}
	}
	if p.EnableMultiCluster != nil && *p.EnableMultiCluster {
		tgb.Spec.MultiClusterTargetGroup = true
	}
	if p.TargetControlPort != nil {
		b.warn("%s targetControlPort is ignored: kelb has no equivalent", s.source)
	}
}

// applyHealthCheck sets the fields of a health check the configuration
// sets, in the ranges ELBv2 allows.
func (b *builder) applyHealthCheck(c awsv1.HealthCheck, tg *model.TargetGroup, fail func(field, format string, args ...any)) {
	hc := &tg.HealthCheck
	inRange := func(field string, v *int32, lo, hi int32, dst *int32) {
		if v == nil {
			return
		}
		if *v < lo || *v > hi {
			fail(field, "%d is not within %d-%d", *v, lo, hi)
			return
		}
		*dst = *v
	}
	if c.HealthCheckProtocol != nil {
		hc.Protocol = *c.HealthCheckProtocol
		if hc.Protocol == "TCP" {
			hc.Path, hc.HTTPCode, hc.GRPCCode = "", "", ""
		} else if hc.Path == "" {
			hc.Path, hc.HTTPCode = "/", "200-399"
		}
	}
	inRange("healthCheckInterval", c.HealthCheckInterval, 5, 300, &hc.IntervalSeconds)
	inRange("healthCheckTimeout", c.HealthCheckTimeout, 2, 120, &hc.TimeoutSeconds)
	inRange("healthyThresholdCount", c.HealthyThresholdCount, 2, 10, &hc.HealthyThreshold)
	inRange("unhealthyThresholdCount", c.UnhealthyThresholdCount, 2, 10, &hc.UnhealthyThreshold)
	if hc.TimeoutSeconds >= hc.IntervalSeconds {
		fail("healthCheckTimeout", "%d s is not shorter than the interval, %d s", hc.TimeoutSeconds, hc.IntervalSeconds)
	}
	if c.HealthCheckPort != nil {
		port := *c.HealthCheckPort
		if n, err := strconv.Atoi(port); port != "traffic-port" && (err != nil || n < 1 || n > 65535) {
			fail("healthCheckPort", "%q is not traffic-port or a port number", port)
		} else {
			hc.Port = port
		}
	}
	if c.HealthCheckPath != nil {
		if hc.Protocol == "TCP" {
			fail("healthCheckPath", "a TCP health check has no path")
		} else if len(*c.HealthCheckPath) == 0 || (*c.HealthCheckPath)[0] != '/' {
			fail("healthCheckPath", "%q does not start with /", *c.HealthCheckPath)
		} else {
			hc.Path = *c.HealthCheckPath
		}
	}
	if m := c.Matcher; m != nil {
		switch {
		case m.HTTPCode != nil && m.GRPCCode != nil:
			fail("matcher", "set httpCode or grpcCode, not both")
		case hc.Protocol == "TCP":
			fail("matcher", "a TCP health check has no matcher")
		case m.HTTPCode != nil:
			if !validHTTPCodes.MatchString(*m.HTTPCode) {
				fail("matcher.httpCode", "%q is not codes like 200, 200,202 or 200-299", *m.HTTPCode)
			} else {
				hc.HTTPCode, hc.GRPCCode = *m.HTTPCode, ""
			}
		case m.GRPCCode != nil:
			if tg.ProtocolVersion != "GRPC" {
				fail("matcher.grpcCode", "a gRPC code is for GRPC target groups")
			} else {
				hc.GRPCCode, hc.HTTPCode = *m.GRPCCode, ""
			}
		}
	}
}
