package fleet

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/elb"
)

func TestMerge(t *testing.T) {
	healthy := elb.TargetHealth{State: elb.HealthHealthy}
	initial := elb.TargetHealth{State: elb.HealthInitial, Reason: elb.ReasonRegistrationInProgress, Description: "Target registration is in progress"}
	timeout := elb.TargetHealth{State: elb.HealthUnhealthy, Reason: "Target.Timeout", Description: "Request timed out"}
	failed := elb.TargetHealth{State: elb.HealthUnhealthy, Reason: "Target.FailedHealthChecks", Description: "Health checks failed"}
	bare := elb.TargetHealth{State: elb.HealthUnhealthy, Reason: "Target.FailedHealthChecks"}
	unused := elb.TargetHealth{State: elb.HealthUnused, Reason: "Target.NotInUse", Description: "Target group is not configured to receive traffic from the load balancer"}
	for _, tc := range []struct {
		name     string
		verdicts []Verdict
		want     elb.TargetHealth
		wantOK   bool
	}{
		{name: "no verdict", verdicts: nil, wantOK: false},
		{name: "one healthy", verdicts: []Verdict{{"a", healthy}}, want: healthy, wantOK: true},
		{name: "all healthy", verdicts: []Verdict{{"a", healthy}, {"b", healthy}}, want: healthy, wantOK: true},
		{name: "initial beats healthy", verdicts: []Verdict{{"a", healthy}, {"b", initial}}, want: initial, wantOK: true},
		{name: "unhealthy beats initial and healthy",
			verdicts: []Verdict{{"a", initial}, {"b", timeout}, {"c", healthy}},
			want:     elb.TargetHealth{State: elb.HealthUnhealthy, Reason: "Target.Timeout", Description: "Request timed out (seen from node b)"}, wantOK: true},
		{name: "unhealthy names every failing node, reason of the first",
			verdicts: []Verdict{{"a", failed}, {"b", healthy}, {"c", timeout}},
			want:     elb.TargetHealth{State: elb.HealthUnhealthy, Reason: "Target.FailedHealthChecks", Description: "Health checks failed (seen from nodes a, c)"}, wantOK: true},
		{name: "unhealthy without description",
			verdicts: []Verdict{{"a", bare}},
			want:     elb.TargetHealth{State: elb.HealthUnhealthy, Reason: "Target.FailedHealthChecks", Description: "seen from node a"}, wantOK: true},
		{name: "configuration state beats healthy", verdicts: []Verdict{{"a", healthy}, {"b", unused}}, want: unused, wantOK: true},
		{name: "initial beats configuration state", verdicts: []Verdict{{"a", unused}, {"b", initial}}, want: initial, wantOK: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Merge(tc.verdicts)
			if ok != tc.wantOK {
				t.Fatalf("Merge ok = %v, want %v", ok, tc.wantOK)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Merge (-want +got):\n%s", diff)
			}
		})
	}
}
