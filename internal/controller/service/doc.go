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
// Controller's .<port> suffix, with kelb's .<PROTOCOL>-<port> as an alias. A Service
// whose aws-load-balancer-ssl-cert (and ssl-ports) would make a TLS
// listener fails closed in the same way (an *AnnotationError marked
// Unimplemented, refused.go): kelb controller does not make TLS listeners
// yet, and a plain TCP listener in its place would hand the clients' TLS to
// targets that expect plaintext.
package service
