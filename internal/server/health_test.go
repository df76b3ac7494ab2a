package server

import (
	"testing"

	"github.com/kelb-io/kelb/internal/elb"
)

// healthMap is a health view of fixed verdicts.
type healthMap map[healthKey]elb.TargetHealth

func (m healthMap) TargetHealth(tg string, k elb.TargetKey) (elb.TargetHealth, bool) {
	h, ok := m[healthKey{tg, k}]
	return h, ok
}

// TestAppliedHealth: the API describes the verdicts of the last applied
// pass, not the checker's newer ones; targets no pass looked at show the
// checker's.
func TestAppliedHealth(t *testing.T) {
	a := elb.TargetKey{ID: "10.0.0.1", Port: 80}
	b := elb.TargetKey{ID: "10.0.0.2", Port: 80}
	healthy := elb.TargetHealth{State: elb.HealthHealthy}
	unhealthy := elb.TargetHealth{State: elb.HealthUnhealthy}
	live := healthMap{{"tg", a}: healthy, {"tg", b}: healthy}
	view := newAppliedHealth(live)

	p := view.pass()
	if h, _ := p.TargetHealth("tg", a); h.State != elb.HealthHealthy {
		t.Fatalf("pass reads %v", h)
	}
	live[healthKey{"tg", a}] = unhealthy
	if h, _ := p.TargetHealth("tg", a); h.State != elb.HealthHealthy {
		t.Errorf("a pass changed its verdict for a target: %v", h)
	}
	view.publish(p)
	if h, _ := view.TargetHealth("tg", a); h.State != elb.HealthHealthy {
		t.Errorf("API shows %v before a pass applied it", h.State)
	}
	if h, _ := view.TargetHealth("tg", b); h.State != elb.HealthHealthy {
		t.Errorf("target no pass looked at: %v, want the checker's", h.State)
	}
	live[healthKey{"tg", b}] = unhealthy
	if h, _ := view.TargetHealth("tg", b); h.State != elb.HealthUnhealthy {
		t.Errorf("target no pass looked at: %v, want the checker's", h.State)
	}

	p = view.pass()
	p.TargetHealth("tg", a)
	view.publish(p)
	if h, _ := view.TargetHealth("tg", a); h.State != elb.HealthUnhealthy {
		t.Errorf("API shows %v after a pass applied unhealthy", h.State)
	}
	if _, ok := view.TargetHealth("tg", elb.TargetKey{ID: "10.0.0.3", Port: 80}); ok {
		t.Errorf("a target without a verdict has one")
	}
}

// TestAppliedHealthAfterPublish: what a pass reads after it was published
// (the fleet's health report reads every target, also those no data plane
// looked at) is not published, so the API's readers never share a map the
// pass still writes.
func TestAppliedHealthAfterPublish(t *testing.T) {
	a := elb.TargetKey{ID: "10.0.0.1", Port: 80}
	c := elb.TargetKey{ID: "10.0.0.3", Port: 80}
	live := healthMap{{"tg", a}: {State: elb.HealthHealthy}, {"tg", c}: {State: elb.HealthHealthy}}
	view := newAppliedHealth(live)
	p := view.pass()
	p.TargetHealth("tg", a)
	view.publish(p)

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 1000 {
			p.TargetHealth("tg", elb.TargetKey{ID: "10.0.1.1", Port: int32(i + 1)})
		}
	}()
	for i := range 1000 {
		view.TargetHealth("tg", elb.TargetKey{ID: "10.0.1.1", Port: int32(i + 1)})
	}
	<-done

	p.TargetHealth("tg", c)
	live[healthKey{"tg", c}] = elb.TargetHealth{State: elb.HealthUnhealthy}
	if h, _ := view.TargetHealth("tg", c); h.State != elb.HealthUnhealthy {
		t.Errorf("API shows %v, a verdict the pass read after it was published; want the checker's", h.State)
	}
}
