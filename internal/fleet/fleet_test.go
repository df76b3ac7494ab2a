package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/elb/store/etcdtest"
)

// startNode runs a Fleet for node name on srv until the test ends or stop
// is called.
func startNode(t *testing.T, srv *etcdtest.Server, name string, zones ...string) (f *Fleet, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.OpenEtcd(ctx, store.EtcdConfig{Endpoints: []string{srv.Endpoint}, Prefix: "/fleet-test/", RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f, err = New(Config{Client: st.Client(), Prefix: st.Prefix(), Node: Node{Name: name, Zones: zones, API: name + ":9400"}, RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
			st.Close()
		}
	}
	t.Cleanup(stop)
	return f, stop
}

func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func names(nodes []Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	return out
}

func nodesAre(f *Fleet, want ...string) func() error {
	return func() error {
		if got := names(f.Nodes()); !slices.Equal(got, want) {
			return fmt.Errorf("%s sees nodes %v, want %v", f.Name(), got, want)
		}
		return nil
	}
}

// none is a node's own health view when it checks nothing.
type none struct{}

func (none) TargetHealth(string, elb.TargetKey) (elb.TargetHealth, bool) {
	return elb.TargetHealth{}, false
}

// healthOf is a node's own health view of tgARN's targets.
type healthOf map[elb.TargetKey]elb.TargetHealth

func (h healthOf) TargetHealth(tg string, k elb.TargetKey) (elb.TargetHealth, bool) {
	v, ok := h[k]
	return v, ok && tg == tgARN
}

func states(hs []elb.TargetHealth) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.State)
	}
	return out
}

const tgARN = "arn:aws:elasticloadbalancing:us-west-2:000000000000:targetgroup/web/1111111111111111"

// TestFleetOnEtcd runs two nodes on a real etcd: each sees the other and
// its health view; while etcd is down both keep their last view; when etcd
// is back they register with new leases; a node that stops is gone for the
// other at once.
func TestFleetOnEtcd(t *testing.T) {
	srv := etcdtest.Start(t, etcdtest.Options{})
	a, _ := startNode(t, srv, "a", "zone-a")
	b, stopB := startNode(t, srv, "b", "zone-b")
	waitFor(t, "a sees b", nodesAre(a, "a", "b"))
	waitFor(t, "b sees a", nodesAre(b, "a", "b"))
	if got := a.LiveZones(); !got["zone-a"] || !got["zone-b"] || len(got) != 2 {
		t.Errorf("live zones %v, want zone-a and zone-b", got)
	}

	target := elb.TargetKey{ID: "198.18.0.5", Port: 80}
	b.Publish(HealthReport{tgARN: {target: {State: elb.HealthUnhealthy, Reason: "Target.Timeout", Description: "Request timed out"}}})
	merged := a.Health(none{})
	waitFor(t, "a merges b's verdict", func() error {
		h, ok := merged.TargetHealth(tgARN, target)
		if want := (elb.TargetHealth{State: elb.HealthUnhealthy, Reason: "Target.Timeout", Description: "Request timed out (seen from node b)"}); !ok || h != want {
			return fmt.Errorf("a describes %+v (%v), want %+v", h, ok, want)
		}
		return nil
	})
	// By zone: zone-b's verdicts are b's alone; zone-a's are a's own, and
	// a zone no live node serves has every live node's.
	own := healthOf{target: {State: elb.HealthHealthy}}
	zones := a.ZoneHealth(own)
	for zone, want := range map[string][]string{
		"zone-a": {elb.HealthHealthy},
		"zone-b": {elb.HealthUnhealthy},
		"zone-x": {elb.HealthHealthy, elb.HealthUnhealthy},
	} {
		if got := states(zones.ZoneVerdicts(zone, tgARN, target)); !slices.Equal(got, want) {
			t.Errorf("%s's verdicts on the target as a sees them: %v, want %v", zone, got, want)
		}
	}
	b.SetState(StateDataPlaneFailing)
	waitFor(t, "a sees b's state", func() error {
		for _, n := range a.Nodes() {
			if n.Name == "b" && n.State == StateDataPlaneFailing {
				return nil
			}
		}
		return fmt.Errorf("nodes %+v", a.Nodes())
	})

	leaseA, ok := a.Lease()
	if !ok {
		t.Fatal("a is not registered")
	}
	session, err := a.Session(context.Background())
	if err != nil || session.Lease() != leaseA {
		t.Fatalf("a's session: %v, %v; want one on lease %x", session, err, leaseA)
	}
	srv.Stop()
	waitFor(t, "a notices etcd is gone", func() error {
		if _, ok := a.Lease(); ok {
			return fmt.Errorf("a still registered")
		}
		return nil
	})
	// Fail static: the last view stays.
	if err := nodesAre(a, "a", "b")(); err != nil {
		t.Errorf("without etcd: %v", err)
	}
	if h, ok := merged.TargetHealth(tgARN, target); !ok || h.State != elb.HealthUnhealthy {
		t.Errorf("without etcd a describes %+v (%v), want b's last verdict, unhealthy", h, ok)
	}
	select {
	case <-session.Done():
	case <-time.After(10 * time.Second):
		t.Errorf("a's session is not done after its registration ended")
	}
	srv.Restart(t)
	waitFor(t, "a registers anew", func() error {
		l, ok := a.Lease()
		if !ok || l == leaseA {
			return fmt.Errorf("lease %x (registered %v), old %x", l, ok, leaseA)
		}
		return nil
	})
	if s, err := a.Session(context.Background()); err != nil || s == session {
		t.Errorf("a's session after it registered anew: %v (the old one: %v), %v", s, s == session, err)
	}
	b.Publish(HealthReport{tgARN: {target: {State: elb.HealthHealthy}}})
	waitFor(t, "a converges on b's new verdict", func() error {
		if h, ok := merged.TargetHealth(tgARN, target); !ok || h.State != elb.HealthHealthy {
			return fmt.Errorf("a describes %+v (%v)", h, ok)
		}
		return nil
	})

	stopB()
	waitFor(t, "b is gone for a", nodesAre(a, "a"))
	if h, ok := merged.TargetHealth(tgARN, target); ok {
		t.Errorf("a still describes the verdict of b, which is gone: %+v", h)
	}
	if got := states(a.ZoneHealth(none{}).ZoneVerdicts("zone-b", tgARN, target)); len(got) != 0 {
		t.Errorf("zone-b's verdicts once b is gone: %v, want none", got)
	}
}

// TestFleetOfOne: with no etcd the fleet is the node itself and the
// health view its own.
func TestFleetOfOne(t *testing.T) {
	f, err := New(Config{Node: Node{Name: "solo", Zones: []string{"zone-a"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(f.Nodes()); !slices.Equal(got, []string{"solo"}) {
		t.Errorf("nodes %v, want [solo]", got)
	}
	if _, ok := f.Health(none{}).(none); !ok {
		t.Errorf("health view of a fleet of one is not the node's own")
	}
	target := elb.TargetKey{ID: "198.18.0.5", Port: 80}
	zones := f.ZoneHealth(healthOf{target: {State: elb.HealthUnhealthy}})
	for _, zone := range []string{"zone-a", "zone-b"} {
		if got := states(zones.ZoneVerdicts(zone, tgARN, target)); !slices.Equal(got, []string{elb.HealthUnhealthy}) {
			t.Errorf("%s's verdicts in a fleet of one: %v, want the node's own", zone, got)
		}
	}
	if _, err := New(Config{Node: Node{Name: "a/b"}}); err == nil {
		t.Errorf("New accepted the node name a/b")
	}
}

// TestFleetNodeName: a second live node with a node's name is refused
// with ErrNameInUse; a node started again after it was killed (its key
// left behind under a lease nobody renews) registers once that lease has
// run out.
func TestFleetNodeName(t *testing.T) {
	srv := etcdtest.Start(t, etcdtest.Options{})
	a, _ := startNode(t, srv, "a", "zone-a")
	waitFor(t, "a registers", func() error {
		if _, ok := a.Lease(); !ok {
			return fmt.Errorf("not registered")
		}
		return nil
	})

	st, err := store.OpenEtcd(context.Background(), store.EtcdConfig{Endpoints: []string{srv.Endpoint}, Prefix: "/fleet-test/", RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	twin, err := New(Config{Client: st.Client(), Prefix: st.Prefix(), Node: Node{Name: "a"}, RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := twin.Run(ctx); !errors.Is(err, ErrNameInUse) {
		t.Fatalf("a second node named a: Run = %v, want ErrNameInUse", err)
	}

	// Kill k: its client goes away without revoking its lease.
	kst, err := store.OpenEtcd(context.Background(), store.EtcdConfig{Endpoints: []string{srv.Endpoint}, Prefix: "/fleet-test/", RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	k, err := New(Config{Client: kst.Client(), Prefix: kst.Prefix(), Node: Node{Name: "k"}, RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	kctx, kcancel := context.WithCancel(context.Background())
	kdone := make(chan struct{})
	go func() { defer close(kdone); _ = k.Run(kctx) }()
	waitFor(t, "a sees k", nodesAre(a, "a", "k"))
	kst.Close()
	kcancel()
	<-kdone
	if err := nodesAre(a, "a", "k")(); err != nil {
		t.Fatalf("right after k was killed: %v (its key should stay until its lease runs out)", err)
	}
	again, _ := startNode(t, srv, "k")
	waitFor(t, "k registers again", func() error {
		if _, ok := again.Lease(); !ok {
			return fmt.Errorf("not registered")
		}
		return nil
	})
	waitFor(t, "a sees k", nodesAre(a, "a", "k"))
}
