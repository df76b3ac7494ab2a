package server

import (
	"maps"
	"sync"
	"sync/atomic"

	"github.com/kelb-io/kelb/internal/elb"
)

// healthKey is a target of a target group.
type healthKey struct {
	tg     string
	target elb.TargetKey
}

// verdict is a health view's answer for one target.
type verdict struct {
	health elb.TargetHealth
	ok     bool
}

// passHealth is the health view of one pass: each target's verdict is read
// from the checker once, so the L4 and L7 planes and DNS act on the same
// verdicts even when the checker changes its mind during the pass.
type passHealth struct {
	live elb.HealthView
	mu   sync.Mutex
	seen map[healthKey]verdict
}

func (p *passHealth) TargetHealth(tg string, k elb.TargetKey) (elb.TargetHealth, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := healthKey{tg, k}
	if v, ok := p.seen[key]; ok {
		return v.health, v.ok
	}
	h, ok := p.live.TargetHealth(tg, k)
	p.seen[key] = verdict{h, ok}
	return h, ok
}

// appliedHealth is the health view the API describes: the verdicts of the
// last pass that reached the data planes and DNS, so that
// DescribeTargetHealth never shows a verdict the data planes do not act on
// yet (a target it shows unhealthy gets no new flow, one it shows healthy
// gets flows). A target the last pass did not look at (in no load
// balancer's listener yet) shows the checker's verdict.
type appliedHealth struct {
	live    elb.HealthView
	applied atomic.Pointer[map[healthKey]verdict]
}

func newAppliedHealth(live elb.HealthView) *appliedHealth {
	return &appliedHealth{live: live}
}

// pass starts the health view of a pass.
func (a *appliedHealth) pass() *passHealth {
	return &passHealth{live: a.live, seen: map[healthKey]verdict{}}
}

// publish makes p's verdicts the ones the API describes; call it once the
// pass has been applied. It publishes a copy: the pass goes on reading
// verdicts after (the fleet's health report reads every target), and the
// API's readers must not share a map it writes.
func (a *appliedHealth) publish(p *passHealth) {
	p.mu.Lock()
	seen := maps.Clone(p.seen)
	p.mu.Unlock()
	a.applied.Store(&seen)
}

func (a *appliedHealth) TargetHealth(tg string, k elb.TargetKey) (elb.TargetHealth, bool) {
	if m := a.applied.Load(); m != nil {
		if v, ok := (*m)[healthKey{tg, k}]; ok {
			return v.health, v.ok
		}
	}
	return a.live.TargetHealth(tg, k)
}
