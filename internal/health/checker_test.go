package health

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kelb-io/kelb/internal/confview"
	"github.com/kelb-io/kelb/internal/elb"
)

// waitTimeout bounds every wait for a probe-driven state; probes run every
// second in these tests.
const waitTimeout = 30 * time.Second

// startChecker runs a checker until the test ends.
func startChecker(t *testing.T, o Options) *Checker {
	t.Helper()
	c := NewChecker(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitTimeout):
			t.Error("Run did not return after its context ended")
		}
	})
	return c
}

// stateWith is a configuration with one network load balancer in zone-a
// and zone-b whose listener forwards to tg.
func stateWith(tgs ...elb.TargetGroup) elb.State {
	st := elb.State{
		LoadBalancers: []elb.LoadBalancer{{ARN: nlbARN, Type: elb.TypeNetwork,
			Zones: []elb.ZoneAddress{{Zone: "zone-a"}, {Zone: "zone-b"}}}},
		Listeners: []elb.Listener{{ARN: "l", LoadBalancerARN: nlbARN, Port: 80,
			DefaultActions: []elb.Action{{Type: "forward", TargetGroupARN: tgs[0].ARN}}}},
		TargetGroups: tgs,
	}
	return st
}

// group is a target group with a one-second health check and thresholds
// of two.
func group(arn, protocol string, targets ...elb.Target) elb.TargetGroup {
	return elb.TargetGroup{
		ARN: arn, Protocol: protocol, Port: 80, Targets: targets,
		HealthCheck: elb.HealthCheck{Enabled: true, Protocol: protocol, Port: "traffic-port", Path: "/",
			IntervalSeconds: 1, TimeoutSeconds: 1, HealthyThreshold: 2, UnhealthyThreshold: 2,
			Matcher: elb.Matcher{HTTPCode: "200"}},
	}
}

// targetAt is a target in zone-a at a host:port address.
func targetAt(t *testing.T, address string) elb.Target {
	t.Helper()
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return elb.Target{ID: host, Port: int32(p), AvailabilityZone: "zone-a"}
}

func key(tg elb.Target) elb.TargetKey { return elb.TargetKey{ID: tg.ID, Port: tg.Port} }

// waitHealth polls until target k of tg has health want.
func waitHealth(t *testing.T, c *Checker, tg string, k elb.TargetKey, want elb.TargetHealth) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		got, ok := c.TargetHealth(tg, k)
		if ok && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("target %v of %s: health %+v (known %v), want %+v", k, tg, got, ok, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// codeServer is an HTTP target whose status code can change, counting the
// requests per path.
type codeServer struct {
	*httptest.Server
	code atomic.Int32
	mu   sync.Mutex
	hits map[string]int
}

func newCodeServer(t *testing.T, code int) *codeServer {
	t.Helper()
	s := &codeServer{hits: map[string]int{}}
	s.code.Store(int32(code))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		s.mu.Unlock()
		w.WriteHeader(int(s.code.Load()))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *codeServer) hitsOn(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func TestCheckerTCPTargetGoesDown(t *testing.T) {
	t.Parallel()
	// A loopback address of its own, so the target is not the checker's
	// own address.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 on this machine: %v", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })

	c := startChecker(t, Options{})
	target := targetAt(t, ln.Addr().String())
	c.Update(confview.New(stateWith(group(tgWeb, "TCP", target))))
	waitHealth(t, c, tgWeb, key(target), healthy)

	ln.Close()
	wg.Wait()
	waitHealth(t, c, tgWeb, key(target), failed)
}

func TestCheckerHTTPTargetFailsAndRecovers(t *testing.T) {
	t.Parallel()
	s := newCodeServer(t, 200)
	c := startChecker(t, Options{})
	target := targetAt(t, serverAddress(t, s.Server))
	c.Update(confview.New(stateWith(group(tgShop, "HTTP", target))))

	waitHealth(t, c, tgShop, key(target), healthy)
	s.code.Store(503)
	waitHealth(t, c, tgShop, key(target), mismatch503)
	s.code.Store(200)
	waitHealth(t, c, tgShop, key(target), healthy)
}

func TestCheckerTimeout(t *testing.T) {
	t.Parallel()
	c := startChecker(t, Options{})
	target := targetAt(t, hangingServer(t))
	c.Update(confview.New(stateWith(group(tgShop, "HTTP", target))))
	waitHealth(t, c, tgShop, key(target), timeout)
}

func TestCheckerUpdateRetunesWithoutReset(t *testing.T) {
	t.Parallel()
	s := newCodeServer(t, 200)
	c := startChecker(t, Options{})
	target := targetAt(t, serverAddress(t, s.Server))
	tg := group(tgShop, "HTTP", target)
	tg.HealthCheck.Path = "/one"
	c.Update(confview.New(stateWith(tg)))
	waitHealth(t, c, tgShop, key(target), healthy)

	// New path and thresholds: the target stays healthy, and the new path
	// is probed from now on.
	tg.HealthCheck.Path = "/two"
	tg.HealthCheck.HealthyThreshold = 5
	tg.HealthCheck.UnhealthyThreshold = 3
	c.Update(confview.New(stateWith(tg)))
	if got, _ := c.TargetHealth(tgShop, key(target)); got != healthy {
		t.Fatalf("after a settings change: health %+v, want it kept at %+v", got, healthy)
	}
	deadline := time.Now().Add(waitTimeout)
	for s.hitsOn("/two") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the new path got %d probes, want 3", s.hitsOn("/two"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, _ := c.TargetHealth(tgShop, key(target)); got != healthy {
		t.Errorf("probed on the new path: health %+v, want %+v", got, healthy)
	}
	before := s.hitsOn("/one")
	time.Sleep(1500 * time.Millisecond) // more than an interval
	if after := s.hitsOn("/one"); after != before {
		t.Errorf("the old path was still probed: %d probes, then %d", before, after)
	}
}

func TestCheckerRemovedTargetStartsOver(t *testing.T) {
	t.Parallel()
	s := newCodeServer(t, 200)
	c := startChecker(t, Options{})
	target := targetAt(t, serverAddress(t, s.Server))
	tg := group(tgShop, "HTTP", target)
	c.Update(confview.New(stateWith(tg)))
	waitHealth(t, c, tgShop, key(target), healthy)

	empty := group(tgShop, "HTTP")
	c.Update(confview.New(stateWith(empty)))
	if h, ok := c.TargetHealth(tgShop, key(target)); ok {
		t.Fatalf("removed target: health %+v, want none", h)
	}
	// Registered again with a higher threshold: initial until three
	// probes, which take at least two intervals.
	tg.HealthCheck.HealthyThreshold = 3
	c.Update(confview.New(stateWith(tg)))
	if h, ok := c.TargetHealth(tgShop, key(target)); !ok || h.State != elb.HealthInitial {
		t.Fatalf("registered again: health %+v (known %v), want initial", h, ok)
	}
	waitHealth(t, c, tgShop, key(target), healthy)
}

func TestCheckerChangedNotifies(t *testing.T) {
	t.Parallel()
	s := newCodeServer(t, 200)
	c := NewChecker(Options{})
	target := targetAt(t, serverAddress(t, s.Server))
	// Before Run: the new target is registering, and that is a change.
	c.Update(confview.New(stateWith(group(tgShop, "HTTP", target))))
	select {
	case <-c.Changed():
	default:
		t.Fatal("no change notified for a new target")
	}
	if h, ok := c.TargetHealth(tgShop, key(target)); !ok || h != registering {
		t.Fatalf("before any probe: health %+v (known %v), want %+v", h, ok, registering)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	var seen []elb.TargetHealth
	deadline := time.After(waitTimeout)
	for len(seen) == 0 || seen[len(seen)-1] != healthy {
		select {
		case <-c.Changed():
			h, _ := c.TargetHealth(tgShop, key(target))
			if len(seen) == 0 || seen[len(seen)-1] != h {
				seen = append(seen, h)
			}
		case <-deadline:
			t.Fatalf("healths seen through Changed: %+v, never healthy", seen)
		}
	}
	if diff := cmp.Diff([]elb.TargetHealth{checking, healthy}, seen); diff != "" {
		t.Errorf("healths seen through Changed (-want +got):\n%s", diff)
	}
}

func TestCheckerProbesOnlyTargetsInUse(t *testing.T) {
	t.Parallel()
	used := newCodeServer(t, 200)
	unused := newCodeServer(t, 200)
	draining := newCodeServer(t, 200)
	disabled := newCodeServer(t, 200)

	usedTarget := targetAt(t, serverAddress(t, used.Server))
	drainingTarget := targetAt(t, serverAddress(t, draining.Server))
	drainingTarget.DeregisteredAt = time.Now()
	unusedTarget := targetAt(t, serverAddress(t, unused.Server))
	disabledTarget := targetAt(t, serverAddress(t, disabled.Server))

	st := stateWith(
		group(tgShop, "HTTP", usedTarget, drainingTarget),
		group(tgIdle, "HTTP", unusedTarget),
		group(tgCart, "HTTP", disabledTarget),
	)
	st.TargetGroups[2].HealthCheck.Enabled = false
	st.Listeners = append(st.Listeners, elb.Listener{ARN: "l2", LoadBalancerARN: nlbARN, Port: 81,
		DefaultActions: []elb.Action{{Type: "forward", TargetGroupARN: tgCart}}})

	c := startChecker(t, Options{})
	c.Update(confview.New(st))
	waitHealth(t, c, tgShop, key(usedTarget), healthy)

	unavailable := elb.TargetHealth{State: elb.HealthUnavailable, Reason: elb.ReasonHealthCheckDisabled, Description: "Health checks disabled"}
	if h, ok := c.TargetHealth(tgCart, key(disabledTarget)); !ok || h != unavailable {
		t.Errorf("disabled health check: %+v (known %v), want %+v", h, ok, unavailable)
	}
	for _, tc := range []struct {
		name string
		tg   string
		tgt  elb.Target
		srv  *codeServer
	}{
		{"draining", tgShop, drainingTarget, draining},
		{"unused group", tgIdle, unusedTarget, unused},
		{"disabled", tgCart, disabledTarget, disabled},
	} {
		if n := tc.srv.hitsOn("/"); n != 0 {
			t.Errorf("%s target got %d probes, want none", tc.name, n)
		}
		if h, ok := c.TargetHealth(tc.tg, key(tc.tgt)); ok && tc.name != "disabled" {
			t.Errorf("%s target: health %+v, want none", tc.name, h)
		}
	}
}

func TestCheckerMetrics(t *testing.T) {
	t.Parallel()
	up := newCodeServer(t, 200)
	down := newCodeServer(t, 503)
	reg := prometheus.NewRegistry()
	c := startChecker(t, Options{Registerer: reg})
	upTarget, downTarget := targetAt(t, serverAddress(t, up.Server)), targetAt(t, serverAddress(t, down.Server))
	downTarget.AvailabilityZone = "zone-b"
	c.Update(confview.New(stateWith(group(tgShop, "HTTP", upTarget, downTarget))))
	waitHealth(t, c, tgShop, key(upTarget), healthy)
	waitHealth(t, c, tgShop, key(downTarget), mismatch503)

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	var probes float64
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch f.GetName() {
			case "kelb_target_group_healthy_hosts", "kelb_target_group_unhealthy_hosts":
				got[fmt.Sprintf("%s{%s,%s,%s}", f.GetName(), labels["target_group"], labels["load_balancer"], labels["availability_zone"])] = m.GetGauge().GetValue()
			case "kelb_health_probes_total":
				probes += m.GetCounter().GetValue()
			}
		}
	}
	want := map[string]float64{
		"kelb_target_group_healthy_hosts{targetgroup/shop/3333333333333333,net/web/0123456789abcdef,zone-a}":   1,
		"kelb_target_group_unhealthy_hosts{targetgroup/shop/3333333333333333,net/web/0123456789abcdef,zone-a}": 0,
		"kelb_target_group_healthy_hosts{targetgroup/shop/3333333333333333,net/web/0123456789abcdef,zone-b}":   0,
		"kelb_target_group_unhealthy_hosts{targetgroup/shop/3333333333333333,net/web/0123456789abcdef,zone-b}": 1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("host gauges (-want +got):\n%s", diff)
	}
	if probes < 4 {
		t.Errorf("kelb_health_probes_total sums to %v, want at least 4", probes)
	}
}

// TestCheckerConfirmsPassingNewTargetsFast registers a passing target in a
// group probed every 30 s with a healthy threshold of 3: probed at the
// group's interval it would need a minute; kelb confirms it every second.
// A failing new target keeps the group's pace: after the first failure it
// waits the interval, so it stays initial.
func TestCheckerConfirmsPassingNewTargetsFast(t *testing.T) {
	t.Parallel()
	up := newCodeServer(t, 200)
	down := newCodeServer(t, 503)
	c := startChecker(t, Options{})
	upTarget, downTarget := targetAt(t, serverAddress(t, up.Server)), targetAt(t, serverAddress(t, down.Server))
	tg := group(tgShop, "HTTP", upTarget, downTarget)
	tg.HealthCheck.IntervalSeconds, tg.HealthCheck.TimeoutSeconds, tg.HealthCheck.HealthyThreshold = 30, 5, 3
	c.Update(confview.New(stateWith(tg)))
	waitHealth(t, c, tgShop, key(upTarget), healthy)
	if n := up.hitsOn("/"); n != 3 {
		t.Errorf("the passing target was probed %d times before it turned healthy, want 3 (the threshold)", n)
	}
	if h, _ := c.TargetHealth(tgShop, key(downTarget)); h.State != elb.HealthInitial || down.hitsOn("/") != 1 {
		t.Errorf("failing new target: %+v after %d probes, want initial after 1", h, down.hitsOn("/"))
	}
}
