// Package health health-checks the targets of kelb's target groups and keeps
// the ELBv2 target health state machine for each of them.
//
// The Checker is given the whole configuration (a confview.View of an
// elb.State) with Update. From
// it, a pure function (desiredTargets) derives the set of targets to probe:
// every target that is not draining, of every target group that a listener's
// default actions or a rule's actions forward to. Target groups used by no
// load balancer are not probed; the service reports their targets unused.
//
// Run owns one probe goroutine per target. A new target is probed at once,
// then every HealthCheckIntervalSeconds, shifted by a small deterministic
// offset derived from the target's name so that targets registered together
// do not probe in lockstep. A probe is a TCP connect, or an HTTP(S) GET with
// ELB's User-Agent and no keep-alive; it never outlives its timeout. Changing
// a group's health check settings retunes the running probe and keeps the
// target's state; a target that is removed and registered again starts over
// in the initial state.
//
// Each result feeds the target's state machine (targetState): initial until
// HealthyThreshold consecutive successes make it healthy or
// UnhealthyThreshold consecutive failures make it unhealthy, with AWS's reason
// codes and descriptions. A probe that cannot run (a malformed address, say)
// counts as a failed health check: kelb never reports a target healthy that
// it could not check. Results are kept in memory only; after a restart every
// target starts over in the initial state, as on a new load balancer.
//
// Consumers read the verdicts with TargetHealth (the checker implements
// elb.HealthView) and learn about changes from Changed, a coalescing
// notification channel.
package health
