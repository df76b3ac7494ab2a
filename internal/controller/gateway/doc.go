// Package gateway is kelb controller's Gateway API front-end, as the AWS
// Load Balancer Controller v3 serves it: a Gateway of a GatewayClass whose
// controllerName is gateway.k8s.aws/alb becomes an application load
// balancer whose listeners carry the rules of its HTTPRoutes and
// GRPCRoutes; one of gateway.k8s.aws/nlb becomes a network load balancer
// whose listeners forward the connections of its TCPRoutes, UDPRoutes and
// TLSRoutes. Backends are Services, their pods registered as ip targets
// through TargetGroupBindings.
//
// Deciding is pure: Build turns one Gateway, its class, the routes naming
// it, their Services, ReferenceGrants and namespaces into a model.Stack and
// the status of the Gateway, its listeners and every route's parent entry
// for it (attach.go, refgrant.go, rules.go, build.go, l4.go). The
// reconciler (reconciler.go) loads those objects, deploys the stack through
// internal/controller/deploy and writes the statuses.
//
// ListenerSets (listenerset.go) add listeners to the Gateway their
// parentRef names when its spec.allowedListeners admits their namespace:
// their listeners follow the Gateway's on its load balancer, in the
// specification's precedence (the Gateway, then the sets oldest first,
// then by namespace/name), and routes attach to them by a parentRef of
// kind ListenerSet. A listener on a port an earlier listener uses with
// another protocol, or with the same protocol and hostname, is Conflicted
// and not served; the earlier one keeps serving. A set not admitted is
// Accepted False (NotAllowed), one left without a valid listener
// ListenersNotValid; the Gateway's status.attachedListenerSets counts the
// accepted ones.
//
// A RequestHeaderModifier filter, which no ALB transform can express
// beyond the Host header, becomes kelb's own request header transforms
// (kelb:request-header-set, -add, -remove; internal/elb).
//
// Failure behaviour: a route that asks for something kelb cannot serve (a
// filter an ALB has no equivalent for, a 307 redirect, a regular
// expression on a query parameter) gets Accepted False with reason
// UnsupportedValue and the field named, and contributes nothing: the
// Gateway's other routes keep serving. Routes attach to a listener whose
// certificate does not resolve (they are counted in its attachedRoutes)
// but are served only once it does; a Gateway with no valid listener has
// no load balancer. A backendRef to a missing Service
// or port gets ResolvedRefs False (BackendNotFound) and its share of
// traffic answers 500, as the specification asks; one into another
// namespace without a ReferenceGrant gets RefNotPermitted. A Gateway whose
// load balancer kelb server refuses keeps its previous load balancer and
// gets Programmed False with kelb server's message, and a Warning event.
// The AWS Load Balancer Controller's configuration resources apply as it
// documents them (config.go, tgconfig.go, ruleconfig.go): the
// LoadBalancerConfigurations of the GatewayClass (spec.parametersRef) and
// the Gateway (spec.infrastructure.parametersRef), merged by the class's
// mergingMode; the TargetGroupConfiguration whose targetReference names a
// backend Service, over the default one the LoadBalancerConfigurations
// name; the ListenerRuleConfiguration a route rule's ExtensionRef filter
// names. A Gateway without security groups gets a managed frontend group
// admitting its sourceRanges (every source by default) to its listeners.
// A Load Balancer or TargetGroup configuration value kelb cannot apply
// leaves the Gateway's load balancer as it is, with Programmed False (and
// Accepted False, InvalidParameters, for a LoadBalancerConfiguration)
// naming the field, and a Warning event; a ListenerRuleConfiguration kelb
// cannot apply refuses the route rule's route as above. Values kelb has no
// equivalent for (WAF, Shield, address allocations) are Warning events.
// When the Gateway API CRDs are not installed the controllers are not
// started, and kelb controller logs that it serves Services and Ingresses
// only.
package gateway
