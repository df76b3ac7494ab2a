package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	awsv1 "github.com/kelb-io/kelb/api/gateway/v1"
	"github.com/kelb-io/kelb/internal/controller/model"
)

// Input is everything one Gateway's load balancer and statuses depend on.
type Input struct {
	Class   *gatewayv1.GatewayClass
	Gateway *gatewayv1.Gateway
	// Routes are the routes, of every kind, with a parentRef naming the
	// Gateway.
	Routes []Route
	// Services are the routes' backend Services that exist.
	Services map[types.NamespacedName]*corev1.Service
	// Namespaces hold the labels of the routes' namespaces, for
	// allowedRoutes selectors.
	Namespaces map[string]map[string]string
	Grants     []gatewayv1.ReferenceGrant
	Secret     SecretLookup
	// ListenerSets are the ListenerSets whose parentRef names the
	// Gateway (listenerset.go).
	ListenerSets []gatewayv1.ListenerSet
	// Config holds the LoadBalancer, TargetGroup and ListenerRule
	// configurations (config.go).
	Config Config
}

// Options are kelb controller's settings a stack depends on.
type Options struct {
	ClusterName      string
	DefaultScheme    string
	DefaultTags      map[string]string
	DefaultSSLPolicy string
}

// Result is what Build decides for one Gateway.
type Result struct {
	// Stack is the Gateway's load balancer; nil when the Gateway is not
	// accepted or has no valid listener.
	Stack *model.Stack
	// Conditions are the Gateway's Accepted condition (Programmed is the
	// reconciler's, once deployed).
	Accepted  metav1.Condition
	Listeners []gatewayv1.ListenerStatus
	// Parents hold, per route, its status entries for the parentRefs
	// naming the Gateway.
	Parents map[RouteKey][]gatewayv1.RouteParentStatus
	// Invalid is a configuration value kelb cannot apply; Stack is then
	// nil and the Gateway keeps the load balancer it has.
	Invalid *ConfigError
	// Warnings are configuration values accepted but not applied.
	Warnings []string
	// ListenerSets hold the statuses of the ListenerSets naming the
	// Gateway; AttachedListenerSets counts those accepted.
	ListenerSets         map[types.NamespacedName]ListenerSetResult
	AttachedListenerSets int32
}

// Tag keys of the stacks of Gateways, the AWS Load Balancer Controller's:
// gateway.k8s.aws.alb/stack (or .nlb) is "<namespace>/<name>" of the
// Gateway, .../resource tells its load balancer and target groups apart.
const (
	TagStackALB    = "gateway.k8s.aws.alb/stack"
	TagResourceALB = "gateway.k8s.aws.alb/resource"
	TagStackNLB    = "gateway.k8s.aws.nlb/stack"
	TagResourceNLB = "gateway.k8s.aws.nlb/resource"
	// ResourceLoadBalancer is the resource tag of a Gateway's load
	// balancer.
	ResourceLoadBalancer = "LoadBalancer"
)

// Labels of the TargetGroupBindings of a Gateway's stack.
const (
	LabelStackNamespace = "gateway.k8s.aws/stack-namespace"
	LabelStackName      = "gateway.k8s.aws/stack-name"
)

// TagKeys returns the stack and resource tag keys of a class's stacks.
func TagKeys(controller gatewayv1.GatewayController) (stack, resource string) {
	if controller == ControllerNLB {
		return TagStackNLB, TagResourceNLB
	}
	return TagStackALB, TagResourceALB
}

// builder holds one Build's state.
type builder struct {
	in         Input
	opts       Options
	controller gatewayv1.GatewayController
	stack      *model.Stack
	// refusals hold, per route, why it cannot be served
	// (UnsupportedValue); resolve hold its first unresolved backendRef.
	refusals map[RouteKey]string
	resolve  map[RouteKey]metav1.Condition
	// lbConfig is the merged LoadBalancerConfiguration, defaultTGs the
	// merged default TargetGroupConfiguration (nil: none); configErr the
	// first configuration error, warnings the values not applied.
	lbConfig   awsv1.LoadBalancerConfigurationSpec
	defaultTGs *awsv1.TargetGroupConfigurationSpec
	configErr  *ConfigError
	warnings   []string
}

// Build decides a Gateway's load balancer and the statuses of the Gateway,
// its listeners and its routes' parent entries. It is pure.
func Build(in Input, opts Options) Result {
	gw := in.Gateway
	b := &builder{in: in, opts: opts, controller: in.Class.Spec.ControllerName,
		refusals: map[RouteKey]string{}, resolve: map[RouteKey]metav1.Condition{}}
	res := Result{Parents: map[RouteKey][]gatewayv1.RouteParentStatus{}}
	b.lbConfig = b.mergedLBConfig()
	b.defaultTGs = b.defaultTargetGroups()
	listeners := judgeListeners(b.controller, gw, in.Grants, in.Secret)
	acceptConfiguredCertificates(b.lbConfig, listeners)

	valid, attachable := 0, 0
	for _, l := range listeners {
		if l.Valid {
			valid++
		}
		if l.Attachable {
			attachable++
		}
	}
	res.Accepted = metav1.Condition{Type: string(gatewayv1.GatewayConditionAccepted), Status: metav1.ConditionTrue,
		Reason: string(gatewayv1.GatewayReasonAccepted), Message: "Gateway is accepted.", ObservedGeneration: gw.Generation}
	switch {
	case b.configErr != nil && b.configErr.Parameters:
		res.Accepted.Status, res.Accepted.Reason = metav1.ConditionFalse, string(gatewayv1.GatewayReasonInvalidParameters)
		res.Accepted.Message = b.configErr.Message
	case len(gw.Spec.Addresses) > 0:
		res.Accepted.Status, res.Accepted.Reason = metav1.ConditionFalse, string(gatewayv1.GatewayReasonUnsupportedAddress)
		res.Accepted.Message = "spec.addresses: kelb server allocates a load balancer's addresses from its zones' pools; static addresses are not supported"
	case attachable == 0:
		res.Accepted.Status, res.Accepted.Reason = metav1.ConditionFalse, string(gatewayv1.GatewayReasonListenersNotValid)
		res.Accepted.Message = "Gateway is not accepted because there is no valid listener."
	case valid < len(listeners):
		res.Accepted.Reason = string(gatewayv1.GatewayReasonListenersNotValid)
		res.Accepted.Message = "Gateway is accepted; some listeners are not valid (see status.listeners)."
	}

	// The ListenerSets' listeners follow the Gateway's.
	sets := b.judgeListenerSets(res.Accepted.Status == metav1.ConditionTrue, listeners)
	for _, st := range sets {
		acceptConfiguredCertificates(b.lbConfig, st.listeners)
		listeners = append(listeners, st.listeners...)
		if st.accepted {
			valid++
		}
	}

	// Attach every parentRef naming this Gateway or one of its sets.
	gwName := types.NamespacedName{Namespace: gw.Namespace, Name: gw.Name}
	type parentAttachment struct {
		ref gatewayv1.ParentReference
		att attachment
	}
	attached := map[RouteKey][]parentAttachment{}
	routes := sortedRoutes(in.Routes)
	for _, r := range routes {
		for _, ref := range r.ParentRefs() {
			var set *setState
			for _, st := range sets {
				if RefersToListenerSet(ref, r.Object().GetNamespace(), st.name) {
					set = st
				}
			}
			if set == nil && !RefersTo(ref, r.Object().GetNamespace(), gwName) {
				continue
			}
			var att attachment
			switch {
			case set != nil:
				att = attachToSet(r, ref, set, in.Namespaces)
			case res.Accepted.Status == metav1.ConditionTrue:
				att = attach(r, ref, gw.Namespace, listeners[:len(gw.Spec.Listeners)], in.Namespaces)
			default:
				att.Accepted = metav1.Condition{Type: string(gatewayv1.RouteConditionAccepted), Status: metav1.ConditionFalse,
					Reason: string(gatewayv1.RouteReasonNoMatchingParent), Message: "the Gateway is not accepted"}
			}
			attached[r.Key()] = append(attached[r.Key()], parentAttachment{ref, att})
		}
	}

	if res.Accepted.Status == metav1.ConditionTrue {
		b.stack = b.newStack()
		// Routes with each listener they attach to, in precedence order.
		byListener := map[gatewayv1.SectionName][]routeOnListener{}
		var unprogrammed []Route
		for _, r := range routes {
			programmed, some := false, false
			for _, pa := range attached[r.Key()] {
				for i, l := range pa.att.Listeners {
					byListener[l.Name] = append(byListener[l.Name], routeOnListener{route: r, hostnames: pa.att.Hostnames[i]})
					programmed, some = programmed || l.Valid, true
				}
			}
			if some && !programmed {
				unprogrammed = append(unprogrammed, r)
			}
		}
		if b.controller == ControllerNLB {
			b.buildNetwork(listeners, byListener)
		} else {
			b.buildApplication(listeners, byListener)
		}
		b.applyLBConfig(b.lbConfig)
		b.applyListenerConfigs(b.lbConfig)
		b.applySecurityGroups(b.lbConfig)
		b.judge(unprogrammed)
		// A Gateway accepted without a valid listener (say, every one's
		// certificate is missing) has routes attached but no load
		// balancer.
		if valid > 0 {
			res.Stack = b.stack
		}
	}
	if b.configErr != nil {
		res.Stack, res.Invalid = nil, b.configErr
		if b.configErr.Parameters {
			res.Accepted.Status, res.Accepted.Reason = metav1.ConditionFalse, string(gatewayv1.GatewayReasonInvalidParameters)
			res.Accepted.Message = b.configErr.Message
		}
	}
	res.Warnings = b.warnings

	// Route statuses, and attached-route counts of listeners.
	counted := map[gatewayv1.SectionName]map[RouteKey]bool{}
	for _, r := range routes {
		k := r.Key()
		for _, pa := range attached[k] {
			accepted := pa.att.Accepted
			if msg, refused := b.refusals[k]; refused && accepted.Status == metav1.ConditionTrue {
				accepted = metav1.Condition{Type: string(gatewayv1.RouteConditionAccepted), Status: metav1.ConditionFalse,
					Reason: string(gatewayv1.RouteReasonUnsupportedValue), Message: msg}
			}
			if accepted.Status == metav1.ConditionTrue {
				for _, l := range pa.att.Listeners {
					if counted[l.Name] == nil {
						counted[l.Name] = map[RouteKey]bool{}
					}
					counted[l.Name][k] = true
				}
			}
			accepted.ObservedGeneration = r.Object().GetGeneration()
			resolved, ok := b.resolve[k]
			if !ok {
				resolved = metav1.Condition{Type: string(gatewayv1.RouteConditionResolvedRefs), Status: metav1.ConditionTrue,
					Reason: string(gatewayv1.RouteReasonResolvedRefs), Message: "All references are resolved."}
			}
			resolved.ObservedGeneration = r.Object().GetGeneration()
			res.Parents[k] = append(res.Parents[k], gatewayv1.RouteParentStatus{
				ParentRef:      pa.ref,
				ControllerName: b.controller,
				Conditions:     []metav1.Condition{accepted, resolved},
			})
		}
	}
	for _, l := range listeners {
		kinds := make([]gatewayv1.RouteGroupKind, 0, len(l.Kinds))
		for _, k := range l.Kinds {
			g := gatewayv1.Group(Group)
			kinds = append(kinds, gatewayv1.RouteGroupKind{Group: &g, Kind: gatewayv1.Kind(k)})
		}
		res.Listeners = append(res.Listeners, gatewayv1.ListenerStatus{
			Name:           l.Name,
			SupportedKinds: kinds,
			AttachedRoutes: int32(len(counted[l.Name])),
			Conditions:     l.Conditions,
		})
	}
	res.Listeners = splitListenerStatuses(res.Listeners, sets)
	res.ListenerSets = map[types.NamespacedName]ListenerSetResult{}
	for _, st := range sets {
		res.ListenerSets[st.name] = st.result
		if st.accepted {
			res.AttachedListenerSets++
		}
	}
	return res
}

// judge resolves the backends of routes attached only to listeners that
// are not programmed (their references do not resolve), so that their
// statuses say what is wrong with them too; the target groups it builds
// are not kept.
func (b *builder) judge(routes []Route) {
	scratch := *b
	scratch.stack = b.newStack()
	for i, r := range routes {
		if r.HTTP != nil || r.GRPC != nil {
			scratch.routeCandidates(r, i)
			continue
		}
		for _, ref := range l4BackendRefs(r) {
			scratch.backend(r, ref.BackendObjectReference, "TCP", "")
		}
	}
}

// routeOnListener is a route attached to a listener, with the hostnames
// it serves there (nil: any).
type routeOnListener struct {
	route     Route
	hostnames []string
}

// refuse records that a route cannot be served, and why (the first
// reason wins).
func (b *builder) refuse(k RouteKey, format string, args ...any) {
	if _, ok := b.refusals[k]; !ok {
		b.refusals[k] = fmt.Sprintf(format, args...)
	}
}

// unresolved records a route's first unresolved backendRef.
func (b *builder) unresolved(k RouteKey, reason gatewayv1.RouteConditionReason, format string, args ...any) {
	if _, ok := b.resolve[k]; !ok {
		b.resolve[k] = metav1.Condition{Type: string(gatewayv1.RouteConditionResolvedRefs), Status: metav1.ConditionFalse,
			Reason: string(reason), Message: fmt.Sprintf(format, args...)}
	}
}

// newStack is the Gateway's stack without listeners or target groups.
func (b *builder) newStack() *model.Stack {
	gw := b.in.Gateway
	scheme := b.opts.DefaultScheme
	if b.lbConfig.Scheme != nil {
		scheme = *b.lbConfig.Scheme
	}
	if scheme == "" {
		scheme = "internal"
	}
	lbType := model.TypeApplication
	if b.controller == ControllerNLB {
		lbType = model.TypeNetwork
	}
	h := sha256.New()
	h.Write([]byte(b.opts.ClusterName))
	h.Write([]byte(gw.UID))
	h.Write([]byte(scheme))
	h.Write([]byte(lbType))
	id := gw.Namespace + "/" + gw.Name
	return &model.Stack{
		ID: id,
		LoadBalancer: model.LoadBalancer{
			Name:          model.GeneratedName(gw.Namespace, gw.Name, hex.EncodeToString(h.Sum(nil))),
			Type:          lbType,
			Scheme:        scheme,
			IPAddressType: "ipv4",
			Tags:          b.tags(ResourceLoadBalancer),
		},
		Listeners:           []model.Listener{},
		TargetGroups:        []model.TargetGroup{},
		TargetGroupBindings: []model.TargetGroupBinding{},
	}
}

// tags are the tags of a stack resource.
func (b *builder) tags(resource string) map[string]string {
	stackKey, resourceKey := TagKeys(b.controller)
	t := maps.Clone(b.opts.DefaultTags)
	if t == nil {
		t = map[string]string{}
	}
	t[model.TagCluster] = b.opts.ClusterName
	t[stackKey] = b.in.Gateway.Namespace + "/" + b.in.Gateway.Name
	if resource != "" {
		t[resourceKey] = resource
	}
	return t
}

// backend resolves one backendRef of a route into the ResourceID of its
// target group in the stack, building the group and its
// TargetGroupBinding the first time; ok false when it does not resolve,
// recorded as the route's ResolvedRefs condition.
func (b *builder) backend(r Route, ref gatewayv1.BackendObjectReference, protocol, version string) (string, bool) {
	k := r.Key()
	group, kind := "", "Service"
	if ref.Group != nil {
		group = string(*ref.Group)
	}
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	ns := k.Namespace
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	if group != "" || kind != "Service" {
		b.unresolved(k, gatewayv1.RouteReasonInvalidKind, "backendRef %s/%s: kind %s of group %q is not supported (Services only)", ns, ref.Name, kind, group)
		return "", false
	}
	if !Permitted(b.in.Grants, Ref{Group: Group, Kind: r.Kind, Namespace: k.Namespace}, Ref{Group: "", Kind: "Service", Namespace: ns, Name: string(ref.Name)}) {
		b.unresolved(k, gatewayv1.RouteReasonRefNotPermitted, "backendRef Service %s/%s is in another namespace and no ReferenceGrant in %s permits %s from %s", ns, ref.Name, ns, r.Kind, k.Namespace)
		return "", false
	}
	svc := b.in.Services[types.NamespacedName{Namespace: ns, Name: string(ref.Name)}]
	if svc == nil {
		b.unresolved(k, gatewayv1.RouteReasonBackendNotFound, "backendRef Service %s/%s not found", ns, ref.Name)
		return "", false
	}
	if ref.Port == nil {
		b.unresolved(k, gatewayv1.RouteReasonUnsupportedValue, "backendRef Service %s/%s: port is required", ns, ref.Name)
		return "", false
	}
	var svcPort *corev1.ServicePort
	for i, p := range svc.Spec.Ports {
		if p.Port == int32(*ref.Port) {
			svcPort = &svc.Spec.Ports[i]
		}
	}
	if svcPort == nil {
		b.unresolved(k, gatewayv1.RouteReasonBackendNotFound, "backendRef Service %s/%s has no port %d", ns, ref.Name, *ref.Port)
		return "", false
	}
	if version == "HTTP1" && svcPort.AppProtocol != nil && *svcPort.AppProtocol == appProtocolH2C {
		// The port speaks HTTP/2 without TLS: an HTTP2 target group
		// sends it h2c.
		version = "HTTP2"
	}
	resourceID := fmt.Sprintf("%s/%s:%d", ns, ref.Name, *ref.Port)
	if version != "" && version != "HTTP1" {
		resourceID += "/" + version
	}
	if protocol == "UDP" {
		resourceID += "/UDP"
	}
	settings := b.targetGroupSettings(svc, r)
	if settings.perRoute {
		// A route-specific configuration makes the route's own group.
		resourceID += "@" + k.String()
	}
	if b.stack.TargetGroup(resourceID) != nil {
		return resourceID, true
	}
	tgPort := svcPort.Port
	if svcPort.TargetPort.IntVal != 0 {
		tgPort = svcPort.TargetPort.IntVal
	} else if svcPort.TargetPort.StrVal != "" {
		// A named target port can differ between pods; targets are
		// registered with their own port, so the group's is nominal.
		tgPort = 1
	}
	h := sha256.New()
	hashed := []string{b.opts.ClusterName, string(b.in.Gateway.UID), string(svc.UID), strconv.Itoa(int(*ref.Port)), strconv.Itoa(int(tgPort)), "ip", protocol, version}
	if settings.perRoute {
		hashed = append(hashed, k.String())
	}
	for _, s := range hashed {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	name := model.GeneratedName(ns, string(ref.Name), hex.EncodeToString(h.Sum(nil)))
	tg := model.TargetGroup{
		ResourceID:      resourceID,
		Name:            name,
		Protocol:        protocol,
		ProtocolVersion: version,
		Port:            tgPort,
		TargetType:      "ip",
		IPAddressType:   "ipv4",
		HealthCheck:     healthCheck(protocol, version),
		Tags:            b.tags(resourceID),
	}
	tgb := binding(name, ns, svc.Name, *ref.Port, resourceID, b.in.Gateway)
	b.applyTargetGroupSettings(settings, svc, svcPort, &tg, &tgb)
	b.stack.TargetGroups = append(b.stack.TargetGroups, tg)
	b.stack.TargetGroupBindings = append(b.stack.TargetGroupBindings, tgb)
	return resourceID, true
}

// appProtocolH2C is the Service port appProtocol of HTTP/2 over cleartext
// (KEP-3726); kubernetes.io/ws (WebSocket) needs nothing: an HTTP1 target
// group carries upgrades.
const appProtocolH2C = "kubernetes.io/h2c"

// healthCheck is the AWS Load Balancer Controller's default health check
// of a Gateway's target group: HTTP GET / expecting 200-399 (gRPC:
// /AWS.ALB/healthcheck expecting code 12), TCP for a network load
// balancer's; every 15 s, timeout 5 s, thresholds 3/3.
func healthCheck(protocol, version string) model.HealthCheck {
	hc := model.HealthCheck{Protocol: "TCP", Port: "traffic-port", IntervalSeconds: 15, TimeoutSeconds: 5, HealthyThreshold: 3, UnhealthyThreshold: 3}
	switch {
	case protocol != "HTTP" && protocol != "HTTPS":
	case version == "GRPC":
		hc.Protocol, hc.Path, hc.GRPCCode = protocol, "/AWS.ALB/healthcheck", "12"
	default:
		hc.Protocol, hc.Path, hc.HTTPCode = protocol, "/", "200-399"
	}
	return hc
}
