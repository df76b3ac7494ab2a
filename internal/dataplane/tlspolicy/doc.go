// Package tlspolicy turns what an ELB listener says about TLS into a Go
// *tls.Config: the TLS versions and cipher suites of its security policy
// (an ELBSecurityPolicy-* name, as elb.SSLPolicies lists them), its
// certificates and the application protocols it offers. Both
// TLS-terminating listeners use it: HTTPS on application load balancers
// (dataplane/l7) and TLS on network load balancers (dataplane).
//
// Failure behaviour: an unknown policy name or a listener without a
// certificate is an error, and the caller keeps serving what it served
// before; nothing here falls back to a weaker policy.
package tlspolicy
