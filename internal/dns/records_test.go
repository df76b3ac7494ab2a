package dns

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
	tgShop = "arn:aws:elasticloadbalancing:us-west-2:000000000000:targetgroup/shop/3333333333333333"

	nlbName = "web-0123456789abcdef.elb.us-west-2.kelb.local"
	albName = "shop-fedcba9876543210.elb.us-west-2.kelb.local"
)

// healthMap is a ZoneHealth backed by a map of target IDs to states: the
// verdicts of the nodes of every zone, as one node serving every zone
// (the bbolt store's fleet of one) gives.
type healthMap map[string]string

func (h healthMap) ZoneVerdicts(_, _ string, k elb.TargetKey) []elb.TargetHealth {
	if s, ok := h[k.ID]; ok {
		return []elb.TargetHealth{{State: s}}
	}
	return nil
}

// zoneNodes is a ZoneHealth of a fleet whose nodes serve one zone each:
// by zone, the verdicts of each of the zone's nodes.
type zoneNodes map[string][]healthMap

func (z zoneNodes) ZoneVerdicts(zone, tg string, k elb.TargetKey) []elb.TargetHealth {
	var out []elb.TargetHealth
	for _, node := range z[zone] {
		out = append(out, node.ZoneVerdicts(zone, tg, k)...)
	}
	return out
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// threeZones is a network load balancer in three zones forwarding to tgWeb,
// which has one target per zone, and an application load balancer in two
// zones forwarding (through a rule) to tgShop.
func threeZones() elb.State {
	zone := func(name, addr string) elb.ZoneAddress {
		return elb.ZoneAddress{Zone: name, Address: netip.MustParseAddr(addr)}
	}
	target := func(id, zone string) elb.Target { return elb.Target{ID: id, Port: 80, AvailabilityZone: zone} }
	return elb.State{
		Revision: 7,
		LoadBalancers: []elb.LoadBalancer{
			{ARN: nlbARN, Type: elb.TypeNetwork, DNSName: nlbName, IPAddressType: "ipv4", Zones: []elb.ZoneAddress{
				zone("zone-a", "198.19.1.1"), zone("zone-b", "198.19.2.1"), zone("zone-c", "198.19.3.1")}},
			{ARN: albARN, Type: elb.TypeApplication, DNSName: "Shop-FEDCBA9876543210.elb.us-west-2.kelb.local.", IPAddressType: "dualstack",
				Zones: []elb.ZoneAddress{
					{Zone: "zone-a", Address: netip.MustParseAddr("198.19.1.2"), IPv6Address: netip.MustParseAddr("fd00:19:1::2")},
					zone("zone-b", "198.19.2.2")}},
		},
		Listeners: []elb.Listener{
			{ARN: "l-web", LoadBalancerARN: nlbARN, DefaultActions: []elb.Action{{Type: "forward", TargetGroupARN: tgWeb}}},
			{ARN: "l-shop", LoadBalancerARN: albARN, DefaultActions: []elb.Action{{Type: "fixed-response"}}},
		},
		Rules: []elb.Rule{{ARN: "r", ListenerARN: "l-shop", Actions: []elb.Action{{Type: "forward",
			Forward: &elb.ForwardConfig{TargetGroups: []elb.WeightedTargetGroup{{TargetGroupARN: tgShop}}}}}}},
		TargetGroups: []elb.TargetGroup{
			{ARN: tgWeb, Targets: []elb.Target{
				target("198.18.1.5", "zone-a"), target("198.18.2.5", "zone-b"), target("198.18.3.5", "zone-c"),
				{ID: "198.18.3.6", Port: 80, AvailabilityZone: "zone-c", DeregisteredAt: time.Unix(1, 0)},
			}},
			{ARN: tgShop, Targets: []elb.Target{target("198.18.1.7", "zone-a")}},
		},
	}
}

func TestBuildRecords(t *testing.T) {
	const healthy, unhealthy = elb.HealthHealthy, elb.HealthUnhealthy
	albAnswer := answer{a: addrs("198.19.1.2", "198.19.2.2"), aaaa: addrs("fd00:19:1::2")}
	tests := []struct {
		name   string
		modify func(*elb.State)
		health ZoneHealth
		live   LiveZones // nil: every zone has a live node
		want   answer    // of the network load balancer
	}{
		{
			name:   "all zones healthy",
			health: healthMap{"198.18.1.5": healthy, "198.18.2.5": healthy, "198.18.3.5": healthy},
			want:   answer{a: addrs("198.19.1.1", "198.19.2.1", "198.19.3.1")},
		},
		{
			name:   "a zone without healthy targets is taken out",
			health: healthMap{"198.18.1.5": healthy, "198.18.2.5": unhealthy, "198.18.3.5": healthy},
			want:   answer{a: addrs("198.19.1.1", "198.19.3.1")},
		},
		{
			name:   "a zone whose targets are still initial is out",
			health: healthMap{"198.18.1.5": healthy, "198.18.2.5": elb.HealthInitial},
			want:   answer{a: addrs("198.19.1.1")},
		},
		{
			name:   "a healthy draining target keeps no zone in",
			health: healthMap{"198.18.1.5": healthy, "198.18.3.6": healthy},
			want:   answer{a: addrs("198.19.1.1")},
		},
		{
			name:   "no healthy target: fail open",
			health: healthMap{"198.18.1.5": unhealthy, "198.18.2.5": unhealthy, "198.18.3.5": unhealthy},
			want:   answer{a: addrs("198.19.1.1", "198.19.2.1", "198.19.3.1")},
		},
		{
			name:   "no health view: every zone",
			health: nil,
			want:   answer{a: addrs("198.19.1.1", "198.19.2.1", "198.19.3.1")},
		},
		{
			name: "cross-zone load balancing keeps every zone while one target is healthy",
			modify: func(st *elb.State) {
				st.LoadBalancers[0].Attributes = map[string]string{"load_balancing.cross_zone.enabled": "true"}
			},
			health: healthMap{"198.18.2.5": healthy},
			want:   answer{a: addrs("198.19.1.1", "198.19.2.1", "198.19.3.1")},
		},
		{
			name: "the target group can turn cross-zone off",
			modify: func(st *elb.State) {
				st.LoadBalancers[0].Attributes = map[string]string{"load_balancing.cross_zone.enabled": "true"}
				st.TargetGroups[0].Attributes = map[string]string{"load_balancing.cross_zone.enabled": "false"}
			},
			health: healthMap{"198.18.2.5": healthy},
			want:   answer{a: addrs("198.19.2.1")},
		},
		{
			name: "the target group can turn cross-zone on",
			modify: func(st *elb.State) {
				st.TargetGroups[0].Attributes = map[string]string{"load_balancing.cross_zone.enabled": "true"}
			},
			health: healthMap{"198.18.2.5": healthy},
			want:   answer{a: addrs("198.19.1.1", "198.19.2.1", "198.19.3.1")},
		},
		{
			name:   "a zone with no live node is out",
			health: healthMap{"198.18.1.5": healthy, "198.18.2.5": healthy, "198.18.3.5": healthy},
			live:   LiveZones{"zone-a": true, "zone-c": true},
			want:   answer{a: addrs("198.19.1.1", "198.19.3.1")},
		},
		{
			name:   "a live zone without healthy targets is out",
			health: healthMap{"198.18.1.5": healthy, "198.18.2.5": healthy, "198.18.3.5": unhealthy},
			live:   LiveZones{"zone-a": true, "zone-c": true},
			want:   answer{a: addrs("198.19.1.1")},
		},
		{
			name:   "the only zone with healthy targets has no live node: fail open among live zones",
			health: healthMap{"198.18.1.5": unhealthy, "198.18.2.5": healthy, "198.18.3.5": unhealthy},
			live:   LiveZones{"zone-a": true, "zone-c": true},
			want:   answer{a: addrs("198.19.1.1", "198.19.3.1")},
		},
		{
			name: "cross-zone: a zone with no live node stays out",
			modify: func(st *elb.State) {
				st.LoadBalancers[0].Attributes = map[string]string{"load_balancing.cross_zone.enabled": "true"}
			},
			health: healthMap{"198.18.2.5": healthy},
			live:   LiveZones{"zone-a": true, "zone-b": true},
			want:   answer{a: addrs("198.19.1.1", "198.19.2.1")},
		},
		{
			name:   "no zone of the load balancer has a live node: every zone, as without a fleet",
			health: healthMap{"198.18.1.5": healthy, "198.18.2.5": unhealthy, "198.18.3.5": healthy},
			live:   LiveZones{"zone-x": true},
			want:   answer{a: addrs("198.19.1.1", "198.19.3.1")},
		},
		{
			name:   "no health view: every live zone",
			health: nil,
			live:   LiveZones{"zone-b": true},
			want:   answer{a: addrs("198.19.2.1")},
		},
		{
			name: "zone b's node fails zone a's target, zone a's node sees it healthy: zone a is answered",
			health: zoneNodes{
				"zone-a": {{"198.18.1.5": healthy, "198.18.2.5": unhealthy, "198.18.3.5": healthy}},
				"zone-b": {{"198.18.1.5": unhealthy, "198.18.2.5": healthy, "198.18.3.5": healthy}},
				"zone-c": {{"198.18.1.5": healthy, "198.18.2.5": healthy, "198.18.3.5": healthy}},
			},
			want: answer{a: addrs("198.19.1.1", "198.19.2.1", "198.19.3.1")},
		},
		{
			name: "zone a's own nodes fail its target: zone a is out",
			health: zoneNodes{
				"zone-a": {{"198.18.1.5": unhealthy}, {"198.18.1.5": unhealthy}},
				"zone-b": {{"198.18.1.5": healthy, "198.18.2.5": healthy}},
				"zone-c": {{"198.18.1.5": healthy, "198.18.3.5": healthy}},
			},
			want: answer{a: addrs("198.19.2.1", "198.19.3.1")},
		},
		{
			name: "one of zone a's nodes sees its target healthy: zone a is answered",
			health: zoneNodes{
				"zone-a": {{"198.18.1.5": unhealthy}, {"198.18.1.5": healthy}},
				"zone-b": {{"198.18.2.5": healthy}},
			},
			live: LiveZones{"zone-a": true, "zone-b": true},
			want: answer{a: addrs("198.19.1.1", "198.19.2.1")},
		},
		{
			name: "zone a's node sees only zone b's target healthy: zone a is out without cross-zone",
			health: zoneNodes{
				"zone-a": {{"198.18.1.5": unhealthy, "198.18.2.5": healthy}},
				"zone-b": {{"198.18.1.5": healthy, "198.18.2.5": healthy}},
			},
			live: LiveZones{"zone-a": true, "zone-b": true},
			want: answer{a: addrs("198.19.2.1")},
		},
		{
			name: "cross-zone: zone a is in when its node sees zone b's target healthy",
			modify: func(st *elb.State) {
				st.LoadBalancers[0].Attributes = map[string]string{"load_balancing.cross_zone.enabled": "true"}
			},
			health: zoneNodes{
				"zone-a": {{"198.18.1.5": unhealthy, "198.18.2.5": healthy}},
				"zone-b": {{"198.18.1.5": unhealthy, "198.18.2.5": unhealthy}},
			},
			live: LiveZones{"zone-a": true, "zone-b": true},
			want: answer{a: addrs("198.19.1.1")},
		},
		{
			name: "no live zone's node sees a healthy target: fail open among live zones",
			health: zoneNodes{
				"zone-a": {{"198.18.1.5": unhealthy}},
				"zone-b": {{"198.18.2.5": unhealthy}},
				"zone-c": {{"198.18.3.5": healthy}},
			},
			live: LiveZones{"zone-a": true, "zone-b": true},
			want: answer{a: addrs("198.19.1.1", "198.19.2.1")},
		},
		{
			name: "an IPv6 zone address of an ipv4 load balancer is not answered",
			modify: func(st *elb.State) {
				st.LoadBalancers[0].Zones = append(st.LoadBalancers[0].Zones,
					elb.ZoneAddress{Zone: "zone-a", Address: netip.MustParseAddr("fd00::1")})
			},
			want: answer{a: addrs("198.19.1.1", "198.19.2.1", "198.19.3.1")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := threeZones()
			if tt.modify != nil {
				tt.modify(&st)
			}
			got := buildRecords(confview.New(st), tt.health, tt.live)
			want := records{
				nlbName + ".":                tt.want,
				albName + ".":                albAnswer,
				"dualstack." + albName + ".": albAnswer,
			}
			if tt.live != nil {
				// The cases with live zones are about the network load
				// balancer only.
				for _, name := range []string{albName + ".", "dualstack." + albName + "."} {
					delete(want, name)
					delete(got, name)
				}
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(answer{}), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("buildRecords (-want +got):\n%s", diff)
			}
		})
	}
}
