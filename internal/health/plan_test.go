package health

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/confview"
	"github.com/kelb-io/kelb/internal/elb"
)

const (
	nlbARN = "arn:aws:elasticloadbalancing:us-west-2:000000000000:loadbalancer/net/web/0123456789abcdef"
	albARN = "arn:aws:elasticloadbalancing:us-west-2:000000000000:loadbalancer/app/shop/fedcba9876543210"
	tgWeb  = "arn:aws:elasticloadbalancing:us-west-2:000000000000:targetgroup/web/1111111111111111"
	tgCart = "arn:aws:elasticloadbalancing:us-west-2:000000000000:targetgroup/cart/2222222222222222"
	tgShop = "arn:aws:elasticloadbalancing:us-west-2:000000000000:targetgroup/shop/3333333333333333"
	tgIdle = "arn:aws:elasticloadbalancing:us-west-2:000000000000:targetgroup/idle/4444444444444444"
)

func planState() elb.State {
	tcpCheck := elb.HealthCheck{Enabled: true, Protocol: "TCP", Port: "traffic-port",
		IntervalSeconds: 10, TimeoutSeconds: 6, HealthyThreshold: 3, UnhealthyThreshold: 3}
	httpCheck := elb.HealthCheck{Enabled: true, Protocol: "HTTP", Port: "8081", Path: "/healthz",
		IntervalSeconds: 15, TimeoutSeconds: 5, HealthyThreshold: 5, UnhealthyThreshold: 2,
		Matcher: elb.Matcher{HTTPCode: "200-399"}}
	zone := func(name, addr string) elb.ZoneAddress {
		return elb.ZoneAddress{Zone: name, Address: netip.MustParseAddr(addr)}
	}
	return elb.State{
		LoadBalancers: []elb.LoadBalancer{
			{ARN: nlbARN, Type: elb.TypeNetwork, Zones: []elb.ZoneAddress{zone("zone-a", "198.19.1.1"), zone("zone-b", "198.19.2.1")}},
			{ARN: albARN, Type: elb.TypeApplication, Zones: []elb.ZoneAddress{zone("zone-a", "198.19.1.2")}},
		},
		Listeners: []elb.Listener{
			{ARN: "l-web", LoadBalancerARN: nlbARN, Protocol: "TCP", Port: 80,
				DefaultActions: []elb.Action{{Type: "forward", TargetGroupARN: tgWeb}}},
			{ARN: "l-shop", LoadBalancerARN: albARN, Protocol: "HTTP", Port: 80,
				DefaultActions: []elb.Action{{Type: "forward", Forward: &elb.ForwardConfig{
					TargetGroups: []elb.WeightedTargetGroup{{TargetGroupARN: tgShop, Weight: 1}}}}}},
		},
		Rules: []elb.Rule{
			{ARN: "r-cart", ListenerARN: "l-shop", Priority: "10",
				Actions: []elb.Action{{Type: "forward", TargetGroupARN: tgCart}}},
			{ARN: "r-orphan", ListenerARN: "l-gone", Priority: "11",
				Actions: []elb.Action{{Type: "forward", TargetGroupARN: tgIdle}}},
		},
		TargetGroups: []elb.TargetGroup{
			{ARN: tgWeb, Protocol: "TCP", Port: 80, HealthCheck: tcpCheck, Targets: []elb.Target{
				{ID: "198.18.1.5", Port: 8080, AvailabilityZone: "zone-a"},
				{ID: "198.18.2.5", AvailabilityZone: "zone-b"}, // the group's port
				{ID: "198.18.2.6", Port: 8080, AvailabilityZone: "zone-b", DeregisteredAt: time.Unix(1, 0)},
				{ID: "198.18.3.5", Port: 8080, AvailabilityZone: "zone-c"}, // not a zone of the load balancer
				{ID: "203.0.113.5", Port: 8080, AvailabilityZone: "all"},
			}},
			{ARN: tgShop, Protocol: "HTTP", Port: 80, HealthCheck: httpCheck, Targets: []elb.Target{
				{ID: "198.18.1.7", Port: 80, AvailabilityZone: "zone-a"},
				{ID: "fd00::7", Port: 80, AvailabilityZone: "zone-a"},
			}},
			{ARN: tgCart, Protocol: "HTTPS", Port: 443, HealthCheck: elb.HealthCheck{Enabled: false}, Targets: []elb.Target{
				{ID: "198.18.1.8", Port: 443, AvailabilityZone: "zone-a"},
			}},
			{ARN: tgIdle, Protocol: "TCP", Port: 80, HealthCheck: tcpCheck, Targets: []elb.Target{
				{ID: "198.18.1.9", Port: 80},
			}},
		},
	}
}

func TestDesiredTargets(t *testing.T) {
	ref := func(tg, id string, port int32) targetRef {
		return targetRef{tg: tg, target: elb.TargetKey{ID: id, Port: port}}
	}
	tcp := probeSpec{protocol: "TCP", interval: 10 * time.Second, timeout: 6 * time.Second,
		thresholds: thresholds{healthy: 3, unhealthy: 3, l4: true}}
	http := probeSpec{protocol: "HTTP", path: "/healthz", matcher: "200-399",
		interval: 15 * time.Second, timeout: 5 * time.Second,
		thresholds: thresholds{healthy: 5, unhealthy: 2}}
	with := func(s probeSpec, address, zone string) probeSpec {
		s.address, s.zone = address, zone
		return s
	}
	idle := func(s probeSpec, why idleReason) probeSpec {
		s.idle = why
		return s
	}
	want := plan{
		targets: map[targetRef]probeSpec{
			ref(tgWeb, "198.18.1.5", 8080):  with(tcp, "198.18.1.5:8080", "zone-a"),
			ref(tgWeb, "198.18.2.5", 0):     with(tcp, "198.18.2.5:80", "zone-b"),
			ref(tgWeb, "198.18.3.5", 8080):  idle(with(tcp, "198.18.3.5:8080", "zone-c"), idleZoneNotEnabled),
			ref(tgWeb, "203.0.113.5", 8080): with(tcp, "203.0.113.5:8080", "all"),
			ref(tgShop, "198.18.1.7", 80):   with(http, "198.18.1.7:8081", "zone-a"),
			ref(tgShop, "fd00::7", 80):      with(http, "[fd00::7]:8081", "zone-a"),
			ref(tgCart, "198.18.1.8", 443): {protocol: "HTTPS", path: "/", matcher: "200",
				address: "198.18.1.8:443", zone: "zone-a", idle: idleHealthCheckDisabled,
				interval: defaultInterval, timeout: defaultTimeout,
				thresholds: thresholds{healthy: defaultHealthyThreshold, unhealthy: defaultUnhealthyThreshold}},
		},
		users: map[string][]lbUse{
			tgWeb:  {{arn: nlbARN, zones: []string{"zone-a", "zone-b"}}},
			tgShop: {{arn: albARN, zones: []string{"zone-a"}}},
			tgCart: {{arn: albARN, zones: []string{"zone-a"}}},
		},
	}
	got := desiredTargets(confview.New(planState()))
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(plan{}, probeSpec{}, thresholds{}, lbUse{})); diff != "" {
		t.Errorf("desiredTargets (-want +got):\n%s", diff)
	}
}

func TestProbeSpecDefaults(t *testing.T) {
	tests := []struct {
		name string
		tg   elb.TargetGroup
		want probeSpec
	}{
		{
			name: "HTTP group without a health check protocol checks HTTP",
			tg:   elb.TargetGroup{Protocol: "HTTP", Port: 80, HealthCheck: elb.HealthCheck{Enabled: true}},
			want: probeSpec{protocol: "HTTP", address: "10.0.0.1:80", path: "/", matcher: "200"},
		},
		{
			name: "TCP group checked over HTTP accepts 200-399",
			tg:   elb.TargetGroup{Protocol: "TCP", Port: 80, HealthCheck: elb.HealthCheck{Enabled: true, Protocol: "HTTP"}},
			want: probeSpec{protocol: "HTTP", address: "10.0.0.1:80", path: "/", matcher: "200-399",
				thresholds: thresholds{l4: true}},
		},
		{
			name: "UDP group checks TCP on the traffic port",
			tg:   elb.TargetGroup{Protocol: "UDP", Port: 53, HealthCheck: elb.HealthCheck{Enabled: true, Port: "traffic-port"}},
			want: probeSpec{protocol: "TCP", address: "10.0.0.1:53", thresholds: thresholds{l4: true}},
		},
		{
			name: "an explicit port wins",
			tg:   elb.TargetGroup{Protocol: "TCP", Port: 53, HealthCheck: elb.HealthCheck{Enabled: true, Port: "10256"}},
			want: probeSpec{protocol: "TCP", address: "10.0.0.1:10256", thresholds: thresholds{l4: true}},
		},
		{
			name: "a one-second interval is kept",
			tg:   elb.TargetGroup{Protocol: "TCP", Port: 53, HealthCheck: elb.HealthCheck{Enabled: true, IntervalSeconds: 1}},
			want: probeSpec{protocol: "TCP", address: "10.0.0.1:53", interval: time.Second, thresholds: thresholds{l4: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := probeSpecFor(tt.tg, elb.Target{ID: "10.0.0.1"})
			// Only the fields under test; the other defaults are covered above.
			if got.interval == defaultInterval {
				got.interval = 0
			}
			got.timeout, got.thresholds.healthy, got.thresholds.unhealthy = 0, 0, 0
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(probeSpec{}, thresholds{})); diff != "" {
				t.Errorf("probeSpecFor (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPhaseOffset(t *testing.T) {
	interval := 10 * time.Second
	seen := map[time.Duration]bool{}
	for i := range 50 {
		ref := targetRef{tg: tgWeb, target: elb.TargetKey{ID: netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}).String(), Port: 80}}
		d := phaseOffset(ref, interval)
		if d < 0 || d >= interval/5 {
			t.Fatalf("phaseOffset(%v) = %v, want within [0, %v)", ref, d, interval/5)
		}
		if again := phaseOffset(ref, interval); again != d {
			t.Fatalf("phaseOffset(%v) = %v then %v, want the same", ref, d, again)
		}
		seen[d] = true
	}
	// Fifty targets registered together must not probe in lockstep.
	if len(seen) < 40 {
		t.Errorf("50 targets got %d distinct offsets, want at least 40", len(seen))
	}
}
