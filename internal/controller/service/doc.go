// Package service turns Kubernetes Services into network load balancers of
// kelb server, as the AWS Load Balancer Controller does for NLB.
//
// The work is split in two, as in that controller:
//
//   - Selection.Manages decides which Services are the controller's (load
//     balancer class, aws-load-balancer-type annotations, and kelb's two
//     extra rules for clusters without AWS).
//   - Build, a pure function, turns one Service into its desired Stack: the
//     load balancer, one listener per Service port number (TCP, UDP, or
//     TCP_UDP when a port number is listed for both), one target group per
//     listener and one TargetGroupBinding per target group. The stack
//     serialises to JSON, which the golden tests in testdata compare.
//
// Annotations have the AWS Load Balancer Controller's names, value formats
// and defaults. A malformed annotation makes Build fail with an
// *AnnotationError naming it and its value, and nothing is deployed, so the
// existing load balancer stays as it was. Annotations that configure
// AWS-only resources, and aws-load-balancer- annotations kelb does not
// implement, are accepted and listed in Stack.Warnings (the reconciler
// turns each into a Warning event): none is dropped silently. The
// per-listener target group attributes take the AWS Load Balancer
// Controller's .<port> suffix, with kelb's .<PROTOCOL>-<port> as an alias.
//
// TLS listeners are chosen as that controller chooses them: a TCP port
// (not UDP nor TCP_UDP) that aws-load-balancer-ssl-ports selects by number
// or name (every TCP port without it, or with "*"), when the Service names
// a certificate: aws-load-balancer-ssl-cert ARNs, then the TLS Secrets of
// its namespace that kelb-ssl-cert-secrets names, the first of all being
// the default certificate. Their security policy is
// aws-load-balancer-ssl-negotiation-policy (BuildOptions.DefaultSSLPolicy,
// else ELBSecurityPolicy-2016-08), their ALPN policy
// aws-load-balancer-alpn-policy, and their target groups are TLS with
// aws-load-balancer-backend-protocol "ssl". An ssl-ports item that names
// no port, a certificate that is not an ARN, and (with a TLS listener) an
// unknown backend protocol, ALPN or policy name fail the build; without a
// TLS listener those annotations are reported as ignored. Deploy imports
// the Secrets into kelb's certificate store (package certificates) before
// it plans, so a Secret that cannot be imported changes nothing.
//
// Security groups (securitygroups.go): the aws-load-balancer-security-groups
// annotation names the load balancer's groups; without it, the stack has
// the AWS Load Balancer Controller's managed frontend group (name
// k8s-<namespace>-<name>-<hash>, its description and tags), whose ingress
// rules admit spec.loadBalancerSourceRanges (else the source-ranges
// annotation, else every source: 0.0.0.0/0, and ::/0 when dualstack) to
// each listener port; kelb server enforces them on the listeners. Deploy
// makes the group before the load balancer, keeps its rules as the stack
// says, and deletes it after the load balancer lets go of it. A network
// load balancer made without groups (ELBv2 adds none later) keeps them:
// the source ranges are then written in the kelb.source_ranges.cidrs
// listener attribute, kelb server's own form of them, and named groups are
// reported in a Warning event; otherwise deploy removes that attribute. An
// IPv6 range on a load balancer that is not dualstack fails the build, as
// in the AWS Load Balancer Controller.
//
// IPv6 source NAT (sourcenat.go): aws-load-balancer-enable-prefix-for-ipv6-source-nat
// ("on" or "off", "on" for dualstack only) and
// aws-load-balancer-source-nat-ipv6-prefixes (with it "on", one /80 or
// auto_assigned per subnet of aws-load-balancer-subnets, in their order)
// are checked as that controller checks them and fail the build
// otherwise; deploy gives them to a new load balancer, and to an existing
// one through SetSubnets. "on" is what a UDP listener forwarding to IPv6
// targets needs; kelb server refuses a prefix outside its subnet's IPv6
// network or a change of a zone's prefix, failing the deploy with its
// error.
package service
