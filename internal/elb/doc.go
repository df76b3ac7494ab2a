// Package elb implements the Elastic Load Balancing (v2) operations of kelb
// server: load balancers, listeners, target groups, targets and tags, as
// plain Go methods on Service with typed inputs and outputs. It does no
// network I/O; the Query-protocol layer (package elbapi) decodes requests
// into these inputs and encodes the outputs.
//
// Every mutating operation reads what it needs and validates the whole
// request inside one store transaction, then writes all of its changes in
// that same transaction: an operation either applies completely or not at
// all, and concurrent operations are serialised by the store. Failures are
// returned as *Error values carrying the ELBv2 error code of the API model
// (LoadBalancerNotFound, DuplicateListener, ValidationError, ...), which the
// API layer sends to clients unchanged.
//
// The describe operations share one decoded copy of the load balancers,
// listeners, rules and target groups per store revision (worldcache.go)
// instead of decoding them all on every call; what they return is decoded
// afresh from the stored bytes, so a caller that changes it changes nothing
// shared. Every committed write, of this server or of another one sharing
// an etcd store, advances the revision, so a describe never answers from a
// configuration older than its own read; a read that fails leaves the
// shared copy as it was.
//
// Resources are stored as JSON under their ARN, one store kind per resource
// type. Identifiers are 16 random hex digits, as AWS uses them:
//
//	arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/net/<name>/<id>
//	arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>
//	arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>
//	arn:aws:elasticloadbalancing:<region>:<account>:listener/net/<lb-name>/<lb-id>/<id>
//	arn:aws:elasticloadbalancing:<region>:<account>:listener-rule/app/<lb-name>/<lb-id>/<listener-id>/<id>
//	arn:aws:elasticloadbalancing:<region>:<account>:truststore/<name>/<id>
//
// Trust stores (truststores.go) read their CA bundles and revocation lists
// from kelb's S3 objects (package s3store) in the transaction that stores
// them; HTTPS listeners refer to them in their MutualAuthentication
// (listener_mtls.go), and a trust store a listener uses cannot be deleted.
//
// Regular expressions of rule conditions (RegexValues) and transforms
// (RuleTransform) are compiled with Go's RE2 when the rule is written
// (CompileRegex): what RE2 cannot compile, or what ALB does not support
// (Unicode classes), is a ValidationError, so the data plane never meets
// an expression it cannot run or would run with another meaning. The
// routing.http.* attributes of HTTP and HTTPS listeners
// (listener_attributes.go) are validated in the same way as the others.
//
// Load balancer addresses come from the configured zones' pools: one address
// per selected zone, the lowest free one, never the pool's network or
// broadcast address; they are released when the load balancer is deleted.
//
// Time-driven transitions (a deregistered target leaves its group once the
// group's deregistration delay has passed; a load balancer leaves
// provisioning) are applied by Reconcile, which Run calls periodically.
// Target health is read from a HealthView at describe time and never stored.
package elb
