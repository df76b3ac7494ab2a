package health

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kelb-io/kelb/internal/confview"
	"github.com/kelb-io/kelb/internal/elb"
)

// Options configure a Checker. The zero value is usable.
type Options struct {
	// Logger receives target health transitions. Nil discards them.
	Logger *slog.Logger
	// Registerer, when set, gets the checker's metrics.
	Registerer prometheus.Registerer
	// Now is the clock probes are timed with. Nil means time.Now.
	Now func() time.Time
}

// Checker probes targets and keeps their health. Create it with NewChecker,
// start Run once, and feed it configurations with Update.
type Checker struct {
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	changed chan struct{}
	wake    chan struct{}

	mu      sync.Mutex
	users   map[string][]lbUse // latest plan's users of each target group
	targets map[targetRef]*target
}

// target is one probed target. spec and state are guarded by Checker.mu;
// a target removed from Checker.targets is dead, and its late results are
// dropped.
type target struct {
	ref   targetRef
	spec  probeSpec
	state targetState
	// retune wakes the probe loop when spec's interval changed.
	retune chan struct{}
}

var _ elb.HealthView = (*Checker)(nil)

// NewChecker returns a checker with nothing to probe yet.
func NewChecker(o Options) *Checker {
	c := &Checker{
		log:     o.Logger,
		now:     o.Now,
		changed: make(chan struct{}, 1),
		wake:    make(chan struct{}, 1),
		users:   map[string][]lbUse{},
		targets: map[targetRef]*target{},
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.metrics = newMetrics(c)
	if o.Registerer != nil {
		if err := c.metrics.register(o.Registerer); err != nil {
			c.log.Error("register health check metrics", "err", err)
		}
	}
	return c
}

// Changed receives (at least once) after any target's health changed since
// the last receive. Notifications coalesce: read the current health with
// TargetHealth after each one.
func (c *Checker) Changed() <-chan struct{} { return c.changed }

// TargetHealth returns the health of target k of target group tg, and false
// when the checker does not check it: its group is used by no load
// balancer, it is draining, or it is not registered.
func (c *Checker) TargetHealth(tg string, k elb.TargetKey) (elb.TargetHealth, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.targets[targetRef{tg: tg, target: k}]
	if !ok {
		return elb.TargetHealth{}, false
	}
	return t.state.health, true
}

// Update makes v the configuration to check. New targets start in the
// initial state and are probed as soon as Run sees them; removed targets
// stop being probed; targets whose settings changed keep their state and
// are probed with the new settings. Update does not block on probes.
func (c *Checker) Update(v *confview.View) {
	p := desiredTargets(v)
	changed := false
	c.mu.Lock()
	for ref, t := range c.targets {
		if spec, ok := p.targets[ref]; !ok || spec.idle != t.spec.idle {
			delete(c.targets, ref)
			changed = true
		}
	}
	for ref, spec := range p.targets {
		t, ok := c.targets[ref]
		if !ok {
			t = &target{ref: ref, spec: spec, state: newTargetState(), retune: make(chan struct{}, 1)}
			if spec.idle != "" {
				t.state = idleTargetState(spec.idle)
			}
			c.targets[ref] = t
			changed = true
			continue
		}
		if t.spec != spec {
			intervalChanged := t.spec.interval != spec.interval
			t.spec = spec
			if intervalChanged {
				notify(t.retune)
			}
		}
	}
	c.users = p.users
	c.mu.Unlock()
	notify(c.wake)
	if changed {
		notify(c.changed)
	}
}

// Run probes targets until ctx ends, then stops every probe and returns
// once they all have. Call it once.
func (c *Checker) Run(ctx context.Context) {
	var wg sync.WaitGroup
	running := map[*target]context.CancelFunc{}
	defer func() {
		for _, cancel := range running {
			cancel()
		}
		wg.Wait()
	}()
	for {
		c.mu.Lock()
		for t, cancel := range running {
			if c.targets[t.ref] != t {
				cancel()
				delete(running, t)
			}
		}
		for _, t := range c.targets {
			if _, ok := running[t]; ok || t.spec.idle != "" {
				continue
			}
			tctx, cancel := context.WithCancel(ctx)
			running[t] = cancel
			wg.Go(func() { c.probeLoop(tctx, t) })
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
	}
}

// probeLoop probes t at once, then every interval (the second probe also
// waits t's phase offset), until ctx ends. Probes of one target never
// overlap: when a probe takes longer than the interval, the next one
// starts as soon as it ends.
func (c *Checker) probeLoop(ctx context.Context, t *target) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastStart time.Time
	first := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.retune:
			if lastStart.IsZero() {
				continue // the first probe is still due at once
			}
			timer.Stop()
			timer.Reset(c.nextDelay(t, lastStart, false))
			continue
		case <-timer.C:
		}
		c.mu.Lock()
		spec := t.spec
		c.mu.Unlock()
		lastStart = c.now()
		r := probe(ctx, spec)
		if ctx.Err() != nil {
			return // stopped, not a verdict on the target
		}
		c.record(t, spec, r, c.now().Sub(lastStart))
		timer.Reset(c.nextDelay(t, lastStart, first))
		first = false
	}
}

// initialConfirmInterval is the probe interval of a new target that passes
// its checks. AWS probes a new target at the group's interval, so it takes
// HealthyThreshold intervals (a minute or more) to get its first flow; kelb
// confirms a passing new target every second instead, so it turns healthy
// within HealthyThreshold-1 seconds of its first successful probe. A
// failing new target is probed at the group's interval, so a target that
// starts slowly is not marked unhealthy any sooner than on AWS.
const initialConfirmInterval = time.Second

// nextDelay is how long after now the probe following the one started at
// lastStart is due.
func (c *Checker) nextDelay(t *target, lastStart time.Time, first bool) time.Duration {
	c.mu.Lock()
	interval := t.spec.interval
	confirming := t.state.confirming()
	c.mu.Unlock()
	if confirming && interval > initialConfirmInterval {
		return max(lastStart.Add(initialConfirmInterval).Sub(c.now()), 0)
	}
	due := lastStart.Add(interval)
	if first {
		due = due.Add(phaseOffset(t.ref, interval))
	}
	return max(due.Sub(c.now()), 0)
}

// record applies a probe result to t's state.
func (c *Checker) record(t *target, spec probeSpec, r result, took time.Duration) {
	c.metrics.observeProbe(t.ref.tg, spec.protocol, r.outcome, took)
	c.mu.Lock()
	if c.targets[t.ref] != t {
		c.mu.Unlock()
		return
	}
	before := t.state.health
	changed := t.state.observe(r, t.spec.thresholds)
	after := t.state.health
	c.mu.Unlock()
	if !changed {
		return
	}
	attrs := []any{
		"target_group", t.ref.tg, "target", spec.address,
		"from", before.State, "to", after.State, "reason", after.Reason,
	}
	if r.err != nil {
		attrs = append(attrs, "err", r.err)
	}
	if after.State == elb.HealthUnhealthy {
		c.log.Warn("target health changed", attrs...)
	} else {
		c.log.Info("target health changed", attrs...)
	}
	notify(c.changed)
}

// notify sends on a channel buffered 1 without blocking: a pending
// notification already says everything.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
