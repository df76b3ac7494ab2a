package dataplane

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/confview"
	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/secgroup"
)

const (
	testLBARN = "arn:aws:elasticloadbalancing:us-west-2:000000000000:loadbalancer/net/web/0123456789abcdef"
	testLSARN = "arn:aws:elasticloadbalancing:us-west-2:000000000000:listener/net/web/0123456789abcdef/1111111111111111"
	testTGARN = "arn:aws:elasticloadbalancing:us-west-2:000000000000:targetgroup/web-tg/fedcba9876543210"
	testLB    = "net/web/0123456789abcdef"
	testTG    = "targetgroup/web-tg/fedcba9876543210"
)

// healthMap is the health view of a test: target group ARN and target to
// state. Targets not in it have no verdict.
type healthMap map[string]map[elb.TargetKey]string

// The cross-zone attribute of load balancers and target groups, and the
// target group value that defers to the load balancer (confview.CrossZone
// reads them).
const (
	attrCrossZone            = "load_balancing.cross_zone.enabled"
	crossZoneUseLoadBalancer = "use_load_balancer_configuration"
)

func (h healthMap) TargetHealth(tg string, k elb.TargetKey) (elb.TargetHealth, bool) {
	s, ok := h[tg][k]
	return elb.TargetHealth{State: s}, ok
}

type stateOpts struct {
	lbAttrs, tgAttrs, lsAttrs map[string]string
	protocol                  string
	tgProtocol                string
	targetType                string
	targets                   []elb.Target
}

// withGroups gives the load balancer of st the security groups ids, and st
// the groups.
func withGroups(st elb.State, ids []string, groups ...secgroup.SecurityGroup) elb.State {
	st.LoadBalancers[0].SecurityGroups = ids
	st.SecurityGroups = groups
	return st
}

// testState is one network load balancer in zones a (198.19.1.10) and b
// (198.19.2.10) with one listener on port 80 forwarding to one target group.
func testState(o stateOpts) elb.State {
	if o.protocol == "" {
		o.protocol = "TCP"
	}
	if o.targetType == "" {
		o.targetType = "ip"
	}
	if o.tgProtocol == "" {
		o.tgProtocol = "TCP"
	}
	return elb.State{
		LoadBalancers: []elb.LoadBalancer{{
			ARN: testLBARN, Name: "web", Type: elb.TypeNetwork, State: elb.StateActive,
			Zones: []elb.ZoneAddress{
				{Zone: "zone-b", Address: netip.MustParseAddr("198.19.2.10")},
				{Zone: "zone-a", Address: netip.MustParseAddr("198.19.1.10")},
			},
			Attributes: o.lbAttrs,
		}, {
			ARN: "arn:aws:elasticloadbalancing:us-west-2:000000000000:loadbalancer/app/alb/1", Type: elb.TypeApplication,
			Zones: []elb.ZoneAddress{{Zone: "zone-a", Address: netip.MustParseAddr("198.19.1.11")}},
		}},
		Listeners: []elb.Listener{{
			ARN: testLSARN, LoadBalancerARN: testLBARN, Protocol: o.protocol, Port: 80,
			DefaultActions: []elb.Action{{Type: "forward", TargetGroupARN: testTGARN}},
			Attributes:     o.lsAttrs,
		}, {
			ARN: "alb-listener", LoadBalancerARN: "arn:aws:elasticloadbalancing:us-west-2:000000000000:loadbalancer/app/alb/1",
			Protocol: "HTTP", Port: 80, DefaultActions: []elb.Action{{Type: "forward", TargetGroupARN: testTGARN}},
		}},
		TargetGroups: []elb.TargetGroup{{
			ARN: testTGARN, Name: "web-tg", Protocol: o.tgProtocol, Port: 8080, TargetType: o.targetType,
			Attributes: o.tgAttrs, Targets: o.targets,
		}},
	}
}

var (
	targetA1 = elb.Target{ID: "198.18.1.5", Port: 8080, AvailabilityZone: "zone-a"}
	targetA2 = elb.Target{ID: "198.18.1.6", Port: 8080, AvailabilityZone: "zone-a"}
	targetB1 = elb.Target{ID: "198.18.2.5", Port: 8080, AvailabilityZone: "zone-b"}
	drainB2  = elb.Target{ID: "198.18.2.6", Port: 8080, AvailabilityZone: "zone-b", DeregisteredAt: time.Unix(1000, 0)}
)

func health(states map[elb.Target]string) healthMap {
	h := healthMap{testTGARN: {}}
	for t, s := range states {
		h[testTGARN][elb.TargetKey{ID: t.ID, Port: t.Port}] = s
	}
	return h
}

// tcpPair is the expected pair of listeners (zone a, zone b) of the test
// load balancer's TCP listener.
func tcpPair(routingA string, targetsA []string, routingB string, targetsB []string) []Listener {
	l := Listener{
		ListenerARN: testLSARN, LoadBalancer: testLB, Protocol: ProtocolTCP,
		TargetGroupARN: testTGARN, TargetGroup: testTG, IdleTimeout: 350 * time.Second,
	}
	a, b := l, l
	a.Zone, a.Address, a.Routing, a.Targets = "zone-a", "198.19.1.10:80", routingA, targetsA
	b.Zone, b.Address, b.Routing, b.Targets = "zone-b", "198.19.2.10:80", routingB, targetsB
	return []Listener{a, b}
}

func TestBuild(t *testing.T) {
	allTargets := []elb.Target{targetA1, targetA2, targetB1, drainB2}
	allHealthy := health(map[elb.Target]string{targetA1: "healthy", targetA2: "healthy", targetB1: "healthy", drainB2: "draining"})
	groupWith := func(states ...TargetState) []TargetGroup {
		return []TargetGroup{{ARN: testTGARN, Targets: states}}
	}
	ts := func(t elb.Target, health string) TargetState {
		return TargetState{Address: t.ID + ":8080", Zone: t.AvailabilityZone, Health: health}
	}
	a1, a2, b1 := "198.18.1.5:8080", "198.18.1.6:8080", "198.18.2.5:8080"

	tests := []struct {
		name   string
		state  elb.State
		health elb.HealthView
		want   Config
	}{
		{
			name:   "zone-local when cross-zone is off",
			state:  testState(stateOpts{targets: allTargets}),
			health: allHealthy,
			want: Config{
				Listeners: tcpPair(RoutingZonal, []string{a1, a2}, RoutingZonal, []string{b1}),
				TargetGroups: groupWith(ts(targetA1, "healthy"), ts(targetA2, "healthy"),
					ts(targetB1, "healthy"), ts(drainB2, "draining")),
			},
		},
		{
			name:   "cross-zone from the load balancer",
			state:  testState(stateOpts{targets: allTargets, lbAttrs: map[string]string{attrCrossZone: "true"}}),
			health: allHealthy,
			want: Config{
				Listeners: tcpPair(RoutingCrossZone, []string{a1, a2, b1}, RoutingCrossZone, []string{a1, a2, b1}),
				TargetGroups: groupWith(ts(targetA1, "healthy"), ts(targetA2, "healthy"),
					ts(targetB1, "healthy"), ts(drainB2, "draining")),
			},
		},
		{
			name: "target group turns cross-zone off over the load balancer",
			state: testState(stateOpts{targets: []elb.Target{targetA1, targetB1},
				lbAttrs: map[string]string{attrCrossZone: "true"},
				tgAttrs: map[string]string{attrCrossZone: "false"}}),
			health: allHealthy,
			want: Config{
				Listeners:    tcpPair(RoutingZonal, []string{a1}, RoutingZonal, []string{b1}),
				TargetGroups: groupWith(ts(targetA1, "healthy"), ts(targetB1, "healthy")),
			},
		},
		{
			name: "target group follows the load balancer",
			state: testState(stateOpts{targets: []elb.Target{targetA1, targetB1},
				lbAttrs: map[string]string{attrCrossZone: "true"},
				tgAttrs: map[string]string{attrCrossZone: crossZoneUseLoadBalancer}}),
			health: allHealthy,
			want: Config{
				Listeners:    tcpPair(RoutingCrossZone, []string{a1, b1}, RoutingCrossZone, []string{a1, b1}),
				TargetGroups: groupWith(ts(targetA1, "healthy"), ts(targetB1, "healthy")),
			},
		},
		{
			name:   "zone without healthy targets fails over to the other zone",
			state:  testState(stateOpts{targets: []elb.Target{targetA1, targetB1}}),
			health: health(map[elb.Target]string{targetA1: "healthy", targetB1: "unhealthy"}),
			want: Config{
				Listeners: tcpPair(RoutingZonal, []string{a1}, RoutingFailover, []string{a1}),
				TargetGroups: groupWith(ts(targetA1, "healthy"),
					TargetState{Address: b1, Zone: "zone-b", Health: "unhealthy", CloseConnections: true}),
			},
		},
		{
			name:   "unhealthy and initial targets get no flows",
			state:  testState(stateOpts{targets: []elb.Target{targetA1, targetA2, targetB1}}),
			health: health(map[elb.Target]string{targetA1: "unhealthy", targetA2: "healthy"}),
			want: Config{
				Listeners: tcpPair(RoutingZonal, []string{a2}, RoutingFailover, []string{a2}),
				TargetGroups: groupWith(
					TargetState{Address: a1, Zone: "zone-a", Health: "unhealthy", CloseConnections: true},
					ts(targetA2, "healthy"), ts(targetB1, "initial")),
			},
		},
		{
			name: "unhealthy connections kept when termination is off",
			state: testState(stateOpts{targets: []elb.Target{targetA1, targetA2},
				tgAttrs: map[string]string{attrTerminateOnUnhealthy: "false", attrTerminateOnDeregister: "true"}}),
			health: health(map[elb.Target]string{targetA1: "unhealthy", targetA2: "healthy"}),
			want: Config{
				Listeners: tcpPair(RoutingZonal, []string{a2}, RoutingFailover, []string{a2}),
				TargetGroups: []TargetGroup{{ARN: testTGARN, TerminateOnDeregistration: true, Targets: []TargetState{
					ts(targetA1, "unhealthy"), ts(targetA2, "healthy")}}},
			},
		},
		{
			name: "unhealthy draining interval keeps connections while unhealthy.draining, then closes",
			state: testState(stateOpts{targets: []elb.Target{targetA1, targetA2, targetB1},
				tgAttrs: map[string]string{attrTerminateOnUnhealthy: "false", attrUnhealthyDrainingInterval: "60"}}),
			health: health(map[elb.Target]string{targetA1: "unhealthy.draining", targetA2: "healthy", targetB1: "unhealthy"}),
			want: Config{
				Listeners: tcpPair(RoutingZonal, []string{a2}, RoutingFailover, []string{a2}),
				TargetGroups: groupWith(ts(targetA1, "unhealthy.draining"), ts(targetA2, "healthy"),
					TargetState{Address: b1, Zone: "zone-b", Health: "unhealthy", CloseConnections: true}),
			},
		},
		{
			name: "below the routing minimum healthy count the group fails open",
			state: testState(stateOpts{targets: []elb.Target{targetA1, targetA2, targetB1},
				lbAttrs: map[string]string{attrCrossZone: "true"},
				tgAttrs: map[string]string{attrRoutingMinHealthyCount: "2", attrRoutingMinHealthyPercent: "off"}}),
			health: health(map[elb.Target]string{targetA1: "healthy", targetA2: "unhealthy", targetB1: "unhealthy"}),
			want: Config{
				Listeners:    tcpPair(RoutingFailOpen, []string{a1, a2, b1}, RoutingFailOpen, []string{a1, a2, b1}),
				TargetGroups: groupWith(ts(targetA1, "healthy"), ts(targetA2, "unhealthy"), ts(targetB1, "unhealthy")),
			},
		},
		{
			name: "below the routing minimum healthy percentage a zone fails open",
			state: testState(stateOpts{targets: []elb.Target{targetA1, targetA2, targetB1},
				tgAttrs: map[string]string{attrRoutingMinHealthyPercent: "60"}}),
			health: health(map[elb.Target]string{targetA1: "healthy", targetA2: "unhealthy", targetB1: "healthy"}),
			want: Config{
				Listeners:    tcpPair(RoutingFailOpen, []string{a1, a2}, RoutingZonal, []string{b1}),
				TargetGroups: groupWith(ts(targetA1, "healthy"), ts(targetA2, "unhealthy"), ts(targetB1, "healthy")),
			},
		},
		{
			name:   "no healthy target fails open to every non-draining target of the zone",
			state:  testState(stateOpts{targets: allTargets}),
			health: health(map[elb.Target]string{targetA1: "unhealthy", drainB2: "draining"}),
			want: Config{
				Listeners: tcpPair(RoutingFailOpen, []string{a1, a2}, RoutingFailOpen, []string{b1}),
				TargetGroups: groupWith(ts(targetA1, "unhealthy"), ts(targetA2, "initial"),
					ts(targetB1, "initial"), ts(drainB2, "draining")),
			},
		},
		{
			name:   "fail open across zones when a zone has only draining targets",
			state:  testState(stateOpts{targets: []elb.Target{targetA1, drainB2}}),
			health: nil,
			want: Config{
				Listeners:    tcpPair(RoutingFailOpen, []string{a1}, RoutingFailOpen, []string{a1}),
				TargetGroups: groupWith(ts(targetA1, "initial"), ts(drainB2, "draining")),
			},
		},
		{
			name:   "only draining targets: nothing to forward to",
			state:  testState(stateOpts{targets: []elb.Target{drainB2}}),
			health: allHealthy,
			want: Config{
				Listeners:    tcpPair(RoutingNoTargets, nil, RoutingNoTargets, nil),
				TargetGroups: groupWith(ts(drainB2, "draining")),
			},
		},
		{
			name: "listener and target group attributes",
			state: testState(stateOpts{targets: []elb.Target{targetA1}, targetType: "instance",
				lsAttrs: map[string]string{attrIdleTimeout: "60"},
				tgAttrs: map[string]string{attrProxyProtocolV2: "true", attrStickinessEnabled: "true", attrStickinessType: "source_ip"}}),
			health: allHealthy,
			want: Config{
				Listeners: func() []Listener {
					ls := tcpPair(RoutingZonal, []string{a1}, RoutingFailover, []string{a1})
					for i := range ls {
						ls[i].IdleTimeout = time.Minute
						ls[i].ProxyProtocolV2 = true
						ls[i].PreserveClientIP = true // the default of instance targets
						ls[i].SourceIPAffinity = true
					}
					return ls
				}(),
				TargetGroups: groupWith(ts(targetA1, "healthy")),
			},
		},
		{
			name:   "TCP_UDP listens on both protocols",
			state:  testState(stateOpts{protocol: "TCP_UDP", targets: []elb.Target{targetA1}}),
			health: allHealthy,
			want: Config{
				Listeners: func() []Listener {
					ls := tcpPair(RoutingZonal, []string{a1}, RoutingFailover, []string{a1})
					for _, l := range tcpPair(RoutingZonal, []string{a1}, RoutingFailover, []string{a1}) {
						l.Protocol, l.IdleTimeout = ProtocolUDP, 0
						ls = append(ls, l)
					}
					return ls
				}(),
				TargetGroups: groupWith(ts(targetA1, "healthy")),
			},
		},
		{
			name:   "UDP ip target groups preserve client IPs by default",
			state:  testState(stateOpts{protocol: "UDP", tgProtocol: "UDP", targets: []elb.Target{targetA1}}),
			health: allHealthy,
			want: Config{
				Listeners: func() []Listener {
					ls := tcpPair(RoutingZonal, []string{a1}, RoutingFailover, []string{a1})
					for i := range ls {
						ls[i].Protocol, ls[i].IdleTimeout, ls[i].PreserveClientIP = ProtocolUDP, 0, true
					}
					return ls
				}(),
				TargetGroups: groupWith(ts(targetA1, "healthy")),
			},
		},
		{
			name: "source ranges",
			state: testState(stateOpts{targets: []elb.Target{targetA1},
				lsAttrs: map[string]string{elb.AttrSourceRanges: "10.1.2.3/8, 198.18.0.7/32"}}),
			health: allHealthy,
			want: Config{
				Listeners: func() []Listener {
					ls := tcpPair(RoutingZonal, []string{a1}, RoutingFailover, []string{a1})
					for i := range ls {
						ls[i].SourceRanges = []string{"10.0.0.0/8", "198.18.0.7/32"}
						ls[i].SourcesLimited = true
					}
					return ls
				}(),
				TargetGroups: groupWith(ts(targetA1, "healthy")),
			},
		},
		{
			name: "security groups: the ingress rules for the listener's protocol and port",
			state: withGroups(testState(stateOpts{protocol: "TCP_UDP", targets: []elb.Target{targetA1}}), []string{"sg-1", "sg-2", "sg-unknown"},
				secgroup.SecurityGroup{ID: "sg-1", Ingress: []secgroup.Rule{
					{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDR: "10.0.0.0/8"},
					{Protocol: "tcp", FromPort: 81, ToPort: 90, CIDR: "10.9.0.0/16"},     // other ports
					{Protocol: "udp", FromPort: 0, ToPort: 65535, CIDR: "172.16.0.0/12"}, // UDP only
					{Protocol: "tcp", FromPort: 80, ToPort: 80, GroupID: "sg-2"},         // no address
				}},
				secgroup.SecurityGroup{ID: "sg-2", Ingress: []secgroup.Rule{
					{Protocol: "-1", CIDR: "198.18.0.7/32"},
					{Protocol: "tcp", FromPort: 1, ToPort: 100, CIDR: "10.1.0.0/16"}, // inside 10.0.0.0/8
				}},
				secgroup.SecurityGroup{ID: "sg-other", Ingress: []secgroup.Rule{{Protocol: "-1", CIDR: "0.0.0.0/0"}}}),
			health: allHealthy,
			want: Config{
				Listeners: func() []Listener {
					var ls []Listener
					for _, p := range []string{ProtocolTCP, ProtocolUDP} {
						for _, l := range tcpPair(RoutingZonal, []string{a1}, RoutingFailover, []string{a1}) {
							l.Protocol = p
							l.SourcesLimited = true
							l.SourceRanges = []string{"10.0.0.0/8", "198.18.0.7/32"}
							if p == ProtocolUDP {
								l.IdleTimeout = 0
								l.SourceRanges = []string{"172.16.0.0/12", "198.18.0.7/32"}
							}
							ls = append(ls, l)
						}
					}
					return ls
				}(),
				TargetGroups: groupWith(ts(targetA1, "healthy")),
			},
		},
		{
			name: "security groups and source ranges: clients both admit",
			state: withGroups(testState(stateOpts{targets: []elb.Target{targetA1},
				lsAttrs: map[string]string{elb.AttrSourceRanges: "10.1.0.0/16,192.168.0.0/16"}}), []string{"sg-1"},
				secgroup.SecurityGroup{ID: "sg-1", Ingress: []secgroup.Rule{
					{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDR: "10.0.0.0/8"},
					{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDR: "192.168.7.0/24"},
				}}),
			health: allHealthy,
			want: Config{
				Listeners: func() []Listener {
					ls := tcpPair(RoutingZonal, []string{a1}, RoutingFailover, []string{a1})
					for i := range ls {
						ls[i].SourceRanges = []string{"10.1.0.0/16", "192.168.7.0/24"}
						ls[i].SourcesLimited = true
					}
					return ls
				}(),
				TargetGroups: groupWith(ts(targetA1, "healthy")),
			},
		},
		{
			name: "security groups that admit nobody to the port",
			state: withGroups(testState(stateOpts{targets: []elb.Target{targetA1}}), []string{"sg-1"},
				secgroup.SecurityGroup{ID: "sg-1", Ingress: []secgroup.Rule{{Protocol: "tcp", FromPort: 443, ToPort: 443, CIDR: "0.0.0.0/0"}}}),
			health: allHealthy,
			want: Config{
				Listeners: func() []Listener {
					ls := tcpPair(RoutingZonal, []string{a1}, RoutingFailover, []string{a1})
					for i := range ls {
						ls[i].SourcesLimited = true
					}
					return ls
				}(),
				TargetGroups: groupWith(ts(targetA1, "healthy")),
			},
		},
		{
			name:   "security groups kelb does not hold are not enforced",
			state:  withGroups(testState(stateOpts{targets: []elb.Target{targetA1}}), []string{"sg-unknown"}),
			health: allHealthy,
			want: Config{
				Listeners:    tcpPair(RoutingZonal, []string{a1}, RoutingFailover, []string{a1}),
				TargetGroups: groupWith(ts(targetA1, "healthy")),
			},
		},
		{
			name: "a TLS listener terminates with its certificates, default first, and its policies",
			state: func() elb.State {
				st := testState(stateOpts{protocol: "TLS", tgProtocol: "TLS", targets: []elb.Target{targetA1},
					tgAttrs: map[string]string{"proxy_protocol_v2.enabled": "true"}, lsAttrs: map[string]string{"tcp.idle_timeout.seconds": "60"}})
				st.Listeners[0].Certificates = []elb.Certificate{{ARN: "arn:extra"}, {ARN: "arn:default", IsDefault: true}}
				st.Listeners[0].SslPolicy = "ELBSecurityPolicy-TLS13-1-3-2021-06"
				st.Listeners[0].AlpnPolicy = []string{"HTTP2Preferred"}
				return st
			}(),
			health: allHealthy,
			want: Config{
				Listeners: func() []Listener {
					ls := tcpPair(RoutingZonal, []string{a1}, RoutingFailover, []string{a1})
					for i := range ls {
						ls[i].Protocol, ls[i].ProxyProtocolV2, ls[i].IdleTimeout = ProtocolTLS, true, time.Minute
						ls[i].TLS = &TLSSettings{Certificates: []string{"arn:default", "arn:extra"},
							SSLPolicy: "ELBSecurityPolicy-TLS13-1-3-2021-06", ALPNPolicy: "HTTP2Preferred", TargetTLS: true}
					}
					return ls
				}(),
				TargetGroups: groupWith(ts(targetA1, "healthy")),
			},
		},
		{
			name: "a TLS listener forwards plain TCP to a TCP target group",
			state: func() elb.State {
				st := testState(stateOpts{protocol: "TLS", targets: []elb.Target{targetA1}})
				st.Listeners[0].Certificates = []elb.Certificate{{ARN: "arn:default", IsDefault: true}}
				st.Listeners[0].SslPolicy = elb.DefaultSSLPolicy
				return st
			}(),
			health: allHealthy,
			want: Config{
				Listeners: func() []Listener {
					ls := tcpPair(RoutingZonal, []string{a1}, RoutingFailover, []string{a1})
					for i := range ls {
						ls[i].Protocol = ProtocolTLS
						ls[i].TLS = &TLSSettings{Certificates: []string{"arn:default"}, SSLPolicy: elb.DefaultSSLPolicy}
					}
					return ls
				}(),
				TargetGroups: groupWith(ts(targetA1, "healthy")),
			},
		},
		{
			name: "targets without a port use the group's, without a zone serve every zone",
			state: testState(stateOpts{targets: []elb.Target{
				{ID: "198.18.9.9", AvailabilityZone: "all"}, {ID: "not-an-ip"}}}),
			health: healthMap{testTGARN: {{ID: "198.18.9.9"}: "healthy"}},
			want: Config{
				Listeners:    tcpPair(RoutingZonal, []string{"198.18.9.9:8080"}, RoutingZonal, []string{"198.18.9.9:8080"}),
				TargetGroups: groupWith(TargetState{Address: "198.18.9.9:8080", Zone: "all", Health: "healthy"}),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Build(confview.New(tt.state), tt.health)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Build (-want +got):\n%s", diff)
			}
		})
	}
}
