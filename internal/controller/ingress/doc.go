// Package ingress turns Kubernetes Ingresses into application load
// balancers of kelb server, as the AWS Load Balancer Controller does for
// ALB.
//
// The work is split as in that controller:
//
//   - Classes.Of decides which Ingresses are ours: spec.ingressClassName
//     naming an IngressClass of controller ingress.k8s.aws/alb (with its
//     IngressClassParams), the legacy kubernetes.io/ingress.class: alb
//     annotation, or the default IngressClass when it is ours.
//   - Ingresses are gathered into IngressGroups: group.name (or the class
//     parameters' group) makes an explicit group shared by many Ingresses;
//     an Ingress without one is alone in its implicit group. A group is one
//     load balancer.
//   - Build, a pure function, turns a group into its desired Stack: the
//     load balancer, one listener per listen port, one rule per Ingress
//     path (priorities numbered from 1 in group.order, namespace/name, rule
//     and path order, so they are stable across reconciles), one target
//     group and TargetGroupBinding per backend Service port of each
//     Ingress. The stack serialises to JSON; the golden tests in testdata
//     compare it.
//   - internal/controller/deploy's Deployer, with Frontend, makes kelb
//     server hold a stack through the ELBv2 API, as it does for Services.
//     It is stateless: what exists is found from the load balancer's name
//     and the elbv2.k8s.aws/cluster and ingress.k8s.aws/stack tags. It
//     changes in place whatever ELBv2 can change in place, and replaces
//     the load balancer only when its name, scheme or type change. Rules
//     are matched to existing ones by priority, then by content, so a
//     reordered group costs one SetRulePriorities call rather than new
//     rules.
//   - HTTPS listener certificates are chosen per member as the AWS Load
//     Balancer Controller chooses them (certificates.go): certificate-arn
//     (or IngressClassParams certificateArn) and kelb's spec.tls Secrets;
//     with neither, a certificate requested for all the member's hosts
//     when create-acm-cert is true (tagged with the stack's tags and the
//     resource ID amazon_issued/<domain>-<hash>, reused across deploys,
//     replaced when the hosts change, deleted once its Ingress no longer
//     asks for it); else certificate discovery: every ISSUED certificate
//     in kelb's store covering one of the member's rule and spec.tls hosts
//     (a wildcard covers one label), the controller's own requested ones
//     left out. Deploy resolves them before it changes anything
//     (deploycerts.go), so a host no certificate covers fails the deploy
//     with "no certificate found for host: <host>" in a Warning event and
//     leaves what serves as it was.
//   - Reconciler reconciles one group per request: finalizers, build,
//     certificate import for spec.tls Secrets, deploy, TargetGroupBindings
//     and status; then the certificates of Secrets no Ingress names
//     anymore leave kelb's certificate store.
//
// Failure behaviour: a malformed annotation, or an exclusive setting that
// members of a group set differently, fails the whole group's build; every
// member gets a Warning event naming the Ingress, annotation and value, and
// the existing load balancer is left as it was. Attribute values in the
// load-balancer-attributes and target-group-attributes annotations are
// checked against the forms ELBv2 documents for the keys it knows, so a
// malformed value is such a build failure rather than an API error half
// way through a deploy. So are the listener-attributes.<PROTOCOL>-<port>
// annotations (only the routing.http.* keys of ALB listeners; "\," is a
// comma in a value; a key removed goes back to its default), the
// transforms.<name> annotations (host-header-rewrite and url-rewrite, one
// of each, one rewrite each) and the regexValues of conditions.<name>
// (exactly one of values and regexValues; with use-regex-path-match
// "true" an ImplementationSpecific path "/<regex>" is a regex): a regular
// expression RE2 cannot compile, which kelb server would refuse, fails the
// build. A forward action's targetGroupName is resolved with
// DescribeTargetGroups before the deploy writes anything; a name no
// target group has fails that deploy. A deploy error leaves the
// work done so far in place and is retried; the next deploy continues from
// what exists. The security-groups annotation's groups (IDs, or names by
// Name tag then group name) are resolved through kelb server's EC2 API
// before the deploy writes anything; a group that does not exist fails
// that deploy. Without the annotation the group gets the AWS Load Balancer
// Controller's managed frontend security group (securitygroups.go), whose
// ingress rules admit each listener port's inbound-cidrs (IngressClassParams
// inboundCIDRs first; every source by default); deploy makes it before the
// load balancer, keeps its rules, and deletes it after the load balancer
// lets go of it. Without an EC2 API client the rules go in the listeners'
// kelb.source_ranges.cidrs attribute instead. IngressClassParams' loadBalancerName, certificateArn,
// sslRedirectPort, targetType and listeners win over the annotations of
// the class's Ingresses (classparams.go). Annotations that configure
// AWS-only resources, IngressClassParams fields kelb cannot give, and
// per-backend annotations nothing reads (unused.go) are accepted and
// reported in an IgnoredAnnotation event. Authentication (auth.go):
// auth-type oidc or cognito with auth-idp-oidc or auth-idp-cognito and the
// auth-scope, auth-session-cookie, auth-session-timeout and
// auth-on-unauthenticated-request settings, or jwt-validation, read from
// the backend Service over the Ingress as the AWS Load Balancer Controller
// reads them, put an authenticate action before the rule's action on
// HTTPS listeners; the OIDC client id and secret are read from the
// Secret named by secretName (keys clientID and clientSecret) when the
// stack deploys, never kept in the model. A backend that asks for
// authentication on a plain HTTP listener that does not redirect to HTTPS
// fails the build rather than be served open there (the AWS Load
// Balancer Controller leaves it open). Annotations that ask for
// protection kelb does not implement yet fail closed (refused.go): an
// actions.* annotation of an authenticate or jwt-validation type fails the
// group's build like a malformed annotation (an *AnnotationError marked
// Unimplemented), so the paths are never served without the protection
// asked for. The mutual-authentication annotation (mtls.go) gives HTTPS
// listeners its mutual TLS, trust stores named by name resolved with
// DescribeTrustStores; a bad value fails the build like any malformed
// annotation, and an unknown trust store fails the deploy of that
// listener, which keeps what it had.
package ingress
