package health

import (
	"fmt"

	"github.com/kelb-io/kelb/internal/elb"
)

// Descriptions that ELBv2 reports with each reason code.
const (
	descRegistrationInProgress = "Target registration is in progress"
	descInitialHealthChecking  = "Initial health checks in progress"
	descFailedHealthChecks     = "Health checks failed"
	descTimeout                = "Request timed out"
	descHealthCheckDisabled    = "Health checks disabled"
	descZoneNotEnabled         = "Target is in an Availability Zone that is not enabled for the load balancer"
)

// outcome is what one probe found.
type outcome int

const (
	// outcomeSuccess: connected (TCP) or got a matching code (HTTP).
	outcomeSuccess outcome = iota
	// outcomeTimeout: no connection or no response within the timeout.
	outcomeTimeout
	// outcomeCodeMismatch: an HTTP response whose code the matcher rejects.
	outcomeCodeMismatch
	// outcomeFailed: refused, reset, malformed response, or any other error.
	outcomeFailed
)

func (o outcome) String() string {
	switch o {
	case outcomeSuccess:
		return "success"
	case outcomeTimeout:
		return "timeout"
	case outcomeCodeMismatch:
		return "response_code_mismatch"
	default:
		return "failed"
	}
}

// result is one probe's result.
type result struct {
	outcome outcome
	// code is the HTTP status code, when there was a response.
	code int
	// err says what went wrong, for logs.
	err error
}

// thresholds are the parts of a health check the state machine needs.
type thresholds struct {
	healthy   int
	unhealthy int
	// l4 is set for network load balancer target groups (TCP, UDP,
	// TCP_UDP, TLS). ELBv2 documents Target.Timeout and
	// Target.ResponseCodeMismatch for application load balancers only; a
	// network load balancer reports every failure as
	// Target.FailedHealthChecks.
	l4 bool
}

// targetState is the ELBv2 health state machine of one target.
//
//	initial (Elb.RegistrationInProgress)  --any result-->  initial (Elb.InitialHealthChecking)
//	initial | unhealthy  --healthy consecutive successes-->  healthy
//	initial | healthy    --unhealthy consecutive failures-->  unhealthy (reason of the last failure)
//
// A success clears the failure count and a failure the success count, so
// only consecutive results count.
type targetState struct {
	health    elb.TargetHealth
	successes int
	failures  int
}

// newTargetState is a target that was just registered and not yet probed.
func newTargetState() targetState {
	return targetState{health: elb.TargetHealth{
		State:       elb.HealthInitial,
		Reason:      elb.ReasonRegistrationInProgress,
		Description: descRegistrationInProgress,
	}}
}

// idleTargetState is the fixed health of a target that is not probed.
func idleTargetState(why idleReason) targetState {
	if why == idleZoneNotEnabled {
		return targetState{health: elb.TargetHealth{
			State:       elb.HealthUnused,
			Reason:      elb.ReasonNotInUse,
			Description: descZoneNotEnabled,
		}}
	}
	return targetState{health: elb.TargetHealth{
		State:       elb.HealthUnavailable,
		Reason:      elb.ReasonHealthCheckDisabled,
		Description: descHealthCheckDisabled,
	}}
}

// observe applies one probe result and reports whether the target's health
// (state, reason or description) changed.
func (s *targetState) observe(r result, th thresholds) bool {
	before := s.health
	healthyAt, unhealthyAt := max(th.healthy, 1), max(th.unhealthy, 1)
	if r.outcome == outcomeSuccess {
		s.successes++
		s.failures = 0
		switch {
		case s.health.State != elb.HealthHealthy && s.successes >= healthyAt:
			s.health = elb.TargetHealth{State: elb.HealthHealthy}
		case s.health.State == elb.HealthInitial:
			s.health = initialHealthChecking()
		}
	} else {
		s.failures++
		s.successes = 0
		switch {
		case s.failures >= unhealthyAt:
			s.health = unhealthy(r, th.l4)
		case s.health.State == elb.HealthInitial:
			s.health = initialHealthChecking()
		}
	}
	return s.health != before
}

// confirming reports whether the target is initial and passing: its next
// probes only confirm what the last one found, and may come sooner than
// the interval (see initialConfirmInterval).
func (s *targetState) confirming() bool {
	return s.health.State == elb.HealthInitial && s.successes > 0
}

func initialHealthChecking() elb.TargetHealth {
	return elb.TargetHealth{
		State:       elb.HealthInitial,
		Reason:      elb.ReasonInitialHealthChecking,
		Description: descInitialHealthChecking,
	}
}

// unhealthy is the health reported after a failure that crossed the
// unhealthy threshold.
func unhealthy(r result, l4 bool) elb.TargetHealth {
	h := elb.TargetHealth{State: elb.HealthUnhealthy}
	switch {
	case r.outcome == outcomeCodeMismatch:
		h.Reason = elb.ReasonResponseCodeMismatch
		h.Description = fmt.Sprintf("Health checks failed with these codes: [%d]", r.code)
	case r.outcome == outcomeTimeout && !l4:
		h.Reason = elb.ReasonTimeout
		h.Description = descTimeout
	default:
		h.Reason = elb.ReasonFailedHealthChecks
		h.Description = descFailedHealthChecks
	}
	if l4 {
		// Network load balancers name no finer reason than this.
		h.Reason = elb.ReasonFailedHealthChecks
	}
	return h
}
