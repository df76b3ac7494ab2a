package health

import (
	"testing"

	"github.com/kelb-io/kelb/internal/elb"
)

// FuzzTargetState checks the state machine's invariants over arbitrary
// result sequences: the byte values pick the outcomes, the first two bytes
// the thresholds.
func FuzzTargetState(f *testing.F) {
	f.Add([]byte{3, 2, 0, 0, 0, 1, 1, 0, 2, 3, 0, 0, 0})
	f.Add([]byte{1, 1, 1, 0, 1, 0})
	f.Add([]byte{10, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 2 {
			return
		}
		th := thresholds{healthy: int(in[0]%10) + 1, unhealthy: int(in[1]%10) + 1}
		s := newTargetState()
		var history []outcome
		everDecided := false
		for _, b := range in[2:] {
			r := result{outcome: outcome(b % 4), code: 500}
			s.observe(r, th)
			history = append(history, r.outcome)

			successes, failures := trailing(history)
			if successes >= th.healthy || failures >= th.unhealthy {
				everDecided = true
			}
			switch s.health.State {
			case elb.HealthInitial:
				if everDecided {
					t.Fatalf("%v: still initial after a threshold was reached (thresholds %+v)", history, th)
				}
				if s.health.Reason != elb.ReasonInitialHealthChecking {
					t.Fatalf("%v: initial with reason %q after a result", history, s.health.Reason)
				}
			case elb.HealthHealthy:
				if failures >= th.unhealthy {
					t.Fatalf("%v: healthy after %d failures (thresholds %+v)", history, failures, th)
				}
				if s.health.Reason != "" || s.health.Description != "" {
					t.Fatalf("%v: healthy with reason %+v", history, s.health)
				}
			case elb.HealthUnhealthy:
				if successes >= th.healthy {
					t.Fatalf("%v: unhealthy after %d successes (thresholds %+v)", history, successes, th)
				}
				if s.health.Reason == "" || s.health.Description == "" {
					t.Fatalf("%v: unhealthy without a reason: %+v", history, s.health)
				}
			default:
				t.Fatalf("%v: state %q", history, s.health.State)
			}
			if successes >= th.healthy && s.health.State != elb.HealthHealthy {
				t.Fatalf("%v: %d successes but %+v (thresholds %+v)", history, successes, s.health, th)
			}
			if failures >= th.unhealthy && s.health.State != elb.HealthUnhealthy {
				t.Fatalf("%v: %d failures but %+v (thresholds %+v)", history, failures, s.health, th)
			}
		}
	})
}

// trailing counts the consecutive successes and failures that end history.
func trailing(history []outcome) (successes, failures int) {
	for i := len(history) - 1; i >= 0; i-- {
		if (history[i] == outcomeSuccess) != (history[len(history)-1] == outcomeSuccess) {
			break
		}
		if history[i] == outcomeSuccess {
			successes++
		} else {
			failures++
		}
	}
	return successes, failures
}

func FuzzParseMatcher(f *testing.F) {
	for _, s := range []string{"200", "200,202", "200-399", "200, 300-302,404", "", "-", "1-2-3", ",,"} {
		f.Add(s, 302)
	}
	f.Fuzz(func(t *testing.T, s string, code int) {
		m, err := parseMatcher(s)
		if err != nil {
			if m != nil {
				t.Fatalf("parseMatcher(%q) returned a matcher with error %v", s, err)
			}
			return
		}
		in := false
		for _, r := range m {
			if r.lo < 100 || r.hi > 599 || r.lo > r.hi {
				t.Fatalf("parseMatcher(%q) accepted range %+v", s, r)
			}
			in = in || (code >= r.lo && code <= r.hi)
		}
		if m.matches(code) != in {
			t.Fatalf("parseMatcher(%q).matches(%d) = %v, want %v", s, code, !in, in)
		}
	})
}
