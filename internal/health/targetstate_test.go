package health

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/elb"
)

var (
	ok       = result{outcome: outcomeSuccess, code: 200}
	timedOut = result{outcome: outcomeTimeout}
	refused  = result{outcome: outcomeFailed}
	code503  = result{outcome: outcomeCodeMismatch, code: 503}
	code404  = result{outcome: outcomeCodeMismatch, code: 404}

	registering = elb.TargetHealth{State: elb.HealthInitial, Reason: elb.ReasonRegistrationInProgress, Description: "Target registration is in progress"}
	checking    = elb.TargetHealth{State: elb.HealthInitial, Reason: elb.ReasonInitialHealthChecking, Description: "Initial health checks in progress"}
	healthy     = elb.TargetHealth{State: elb.HealthHealthy}
	failed      = elb.TargetHealth{State: elb.HealthUnhealthy, Reason: elb.ReasonFailedHealthChecks, Description: "Health checks failed"}
	timeout     = elb.TargetHealth{State: elb.HealthUnhealthy, Reason: elb.ReasonTimeout, Description: "Request timed out"}
	mismatch503 = elb.TargetHealth{State: elb.HealthUnhealthy, Reason: elb.ReasonResponseCodeMismatch, Description: "Health checks failed with these codes: [503]"}
	mismatch404 = elb.TargetHealth{State: elb.HealthUnhealthy, Reason: elb.ReasonResponseCodeMismatch, Description: "Health checks failed with these codes: [404]"}
	l4Mismatch  = elb.TargetHealth{State: elb.HealthUnhealthy, Reason: elb.ReasonFailedHealthChecks, Description: "Health checks failed with these codes: [503]"}
)

// TestTargetStateSequences feeds sequences of probe results to a new target
// and checks the health after each one, like a protocol trace.
func TestTargetStateSequences(t *testing.T) {
	alb := thresholds{healthy: 3, unhealthy: 2}
	nlb := thresholds{healthy: 3, unhealthy: 2, l4: true}
	tests := []struct {
		name    string
		th      thresholds
		results []result
		want    []elb.TargetHealth // health after each result
	}{
		{
			name:    "becomes healthy after the healthy threshold",
			th:      alb,
			results: []result{ok, ok, ok, ok},
			want:    []elb.TargetHealth{checking, checking, healthy, healthy},
		},
		{
			name:    "healthy threshold of one",
			th:      thresholds{healthy: 1, unhealthy: 1},
			results: []result{ok, refused, ok},
			want:    []elb.TargetHealth{healthy, failed, healthy},
		},
		{
			name:    "initial target becomes unhealthy after the unhealthy threshold",
			th:      alb,
			results: []result{refused, refused},
			want:    []elb.TargetHealth{checking, failed},
		},
		{
			name:    "only consecutive successes count",
			th:      alb,
			results: []result{ok, ok, refused, ok, ok, ok},
			want:    []elb.TargetHealth{checking, checking, checking, checking, checking, healthy},
		},
		{
			name:    "a healthy target survives failures below the threshold",
			th:      alb,
			results: []result{ok, ok, ok, refused, ok, refused, refused},
			want:    []elb.TargetHealth{checking, checking, healthy, healthy, healthy, healthy, failed},
		},
		{
			name:    "timeouts",
			th:      alb,
			results: []result{ok, ok, ok, timedOut, timedOut},
			want:    []elb.TargetHealth{checking, checking, healthy, healthy, timeout},
		},
		{
			name:    "response code mismatch names the code",
			th:      alb,
			results: []result{code503, code503},
			want:    []elb.TargetHealth{checking, mismatch503},
		},
		{
			name:    "the reason follows the latest failure",
			th:      alb,
			results: []result{code503, code503, code404, timedOut, refused},
			want:    []elb.TargetHealth{checking, mismatch503, mismatch404, timeout, failed},
		},
		{
			name:    "mixed failures count together",
			th:      alb,
			results: []result{timedOut, code503},
			want:    []elb.TargetHealth{checking, mismatch503},
		},
		{
			name:    "unhealthy target recovers after the healthy threshold",
			th:      alb,
			results: []result{refused, refused, ok, ok, refused, ok, ok, ok},
			want:    []elb.TargetHealth{checking, failed, failed, failed, failed, failed, failed, healthy},
		},
		{
			name:    "network load balancers report failed health checks",
			th:      nlb,
			results: []result{timedOut, timedOut, code503, code503},
			want:    []elb.TargetHealth{checking, failed, l4Mismatch, l4Mismatch},
		},
		{
			name:    "zero thresholds act as one",
			th:      thresholds{},
			results: []result{refused, ok},
			want:    []elb.TargetHealth{failed, healthy},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTargetState()
			if diff := cmp.Diff(registering, s.health); diff != "" {
				t.Fatalf("new target (-want +got):\n%s", diff)
			}
			var got []elb.TargetHealth
			for _, r := range tt.results {
				s.observe(r, tt.th)
				got = append(got, s.health)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("health after each result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTargetStateObserveReportsChanges(t *testing.T) {
	th := thresholds{healthy: 2, unhealthy: 2}
	s := newTargetState()
	var got []bool
	for _, r := range []result{ok, ok, ok, refused, refused, refused, code503} {
		got = append(got, s.observe(r, th))
	}
	// registering->checking, ->healthy, same, same, ->failed, same, ->503
	want := []bool{true, true, false, false, true, false, true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changed after each result (-want +got):\n%s", diff)
	}
}

func TestTargetStateThresholdChangeKeepsCounts(t *testing.T) {
	s := newTargetState()
	s.observe(ok, thresholds{healthy: 5, unhealthy: 2})
	s.observe(ok, thresholds{healthy: 5, unhealthy: 2})
	// The group's healthy threshold is lowered: the successes so far count.
	s.observe(ok, thresholds{healthy: 3, unhealthy: 2})
	if diff := cmp.Diff(healthy, s.health); diff != "" {
		t.Errorf("health (-want +got):\n%s", diff)
	}
}
