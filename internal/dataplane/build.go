package dataplane

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kelb-io/kelb/internal/confview"
	"github.com/kelb-io/kelb/internal/elb"
)

// Attribute keys the data plane reads, and their defaults when absent.
const (
	attrIdleTimeout               = "tcp.idle_timeout.seconds"
	attrProxyProtocolV2           = "proxy_protocol_v2.enabled"
	attrPreserveClientIP          = "preserve_client_ip.enabled"
	attrStickinessEnabled         = "stickiness.enabled"
	attrStickinessType            = "stickiness.type"
	attrTerminateOnDeregister     = "deregistration_delay.connection_termination.enabled"
	attrTerminateOnUnhealthy      = "target_health_state.unhealthy.connection_termination.enabled"
	attrUnhealthyDrainingInterval = "target_health_state.unhealthy.draining_interval_seconds"
	attrRoutingMinHealthyCount    = "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count"
	attrRoutingMinHealthyPercent  = "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage"
	stickinessSourceIP            = "source_ip"
	defaultIdleTimeout            = 350 * time.Second
	zoneAll                       = "all"
	targetTypeInstance            = "instance"
	protocolTCPUDP                = "TCP_UDP"
	loadBalancerARNMarker         = ":loadbalancer/"
	targetGroupARNMarker          = ":targetgroup/"
)

// Build derives the data plane's configuration from a snapshot of the
// store's state (conf indexes it) and the targets' health. It is a pure function: the same inputs give the same
// Config. health may be nil (no verdicts yet: every target is initial).
//
// Only network load balancers and their TCP, UDP, TCP_UDP and TLS
// listeners are taken; each listener gets one socket per load balancer zone
// address (two for TCP_UDP). For each socket the targets of new flows are, in order of
// preference: the healthy targets of its zone (or of every zone with
// cross-zone load balancing on); else the healthy targets of the other zones;
// else every registered target that is neither draining nor unused, in the
// zone if it has any, else everywhere (fail open). A zone (with cross-zone
// load balancing on: the group) whose healthy targets fall below the target
// group's unhealthy state routing thresholds
// (target_group_health.unhealthy_state_routing.minimum_healthy_targets.*)
// also fails open, to all its eligible targets.
func Build(conf *confview.View, health elb.HealthView) Config {
	state := conf.State()
	admission := elb.NewAdmission(state)
	var cfg Config
	views := map[string]groupView{}
	for _, ls := range state.Listeners {
		lb := conf.LoadBalancer(ls.LoadBalancerARN)
		if lb == nil || lb.Type != elb.TypeNetwork || lb.State == elb.StateFailed {
			continue
		}
		var protocols []string
		switch ls.Protocol {
		case ProtocolTCP, ProtocolUDP, ProtocolTLS:
			protocols = []string{ls.Protocol}
		case protocolTCPUDP:
			protocols = []string{ProtocolTCP, ProtocolUDP}
		default:
			continue // HTTP(S) belongs to application load balancers.
		}
		tgARN := forwardTarget(ls.DefaultActions)
		tg := conf.TargetGroup(tgARN)
		view, ok := views[tgARN]
		if !ok && tg != nil {
			view = newGroupView(tg, health)
			views[tgARN] = view
		}
		crossZone := confview.CrossZone(lb, tg)
		affinity := false
		proxyV2, preserve := false, false
		if tg != nil {
			affinity = elb.AttrBool(tg.Attributes, attrStickinessEnabled, false) && tg.Attributes[attrStickinessType] == stickinessSourceIP
			proxyV2 = elb.AttrBool(tg.Attributes, attrProxyProtocolV2, false)
			// AWS's defaults: on for instance targets and for UDP and
			// TCP_UDP groups, off for ip targets over TCP and TLS.
			preserve = elb.AttrBool(tg.Attributes, attrPreserveClientIP,
				tg.TargetType == targetTypeInstance || tg.Protocol == ProtocolUDP || tg.Protocol == protocolTCPUDP)
		}
		sourceRanges := map[string][]string{}
		sourcesLimited := false
		for _, p := range protocols {
			prefixes, limited := admission.Sources(lb, &ls, p)
			sourcesLimited = limited
			for _, pfx := range prefixes {
				sourceRanges[p] = append(sourceRanges[p], pfx.String())
			}
		}
		var tlsSettings *TLSSettings
		if ls.Protocol == ProtocolTLS {
			tlsSettings = &TLSSettings{SSLPolicy: ls.SslPolicy, TargetTLS: tg != nil && tg.Protocol == ProtocolTLS}
			for _, c := range ls.Certificates {
				if c.IsDefault {
					tlsSettings.Certificates = append([]string{c.ARN}, tlsSettings.Certificates...)
				} else {
					tlsSettings.Certificates = append(tlsSettings.Certificates, c.ARN)
				}
			}
			if len(ls.AlpnPolicy) > 0 {
				tlsSettings.ALPNPolicy = ls.AlpnPolicy[0]
			}
		}
		idle := defaultIdleTimeout
		if s, err := strconv.Atoi(ls.Attributes[attrIdleTimeout]); err == nil && s > 0 {
			idle = time.Duration(s) * time.Second
		}
		for _, z := range lb.Zones {
			for _, addr := range z.Addresses() {
				routing, targets := view.targetsFor(z.Zone, crossZone)
				for _, p := range protocols {
					l := Listener{
						ListenerARN:      ls.ARN,
						LoadBalancer:     arnLabel(lb.ARN, loadBalancerARNMarker, len(loadBalancerARNMarker)),
						Zone:             z.Zone,
						Protocol:         p,
						Address:          netip.AddrPortFrom(addr, uint16(ls.Port)).String(),
						TargetGroupARN:   tgARN,
						Routing:          routing,
						Targets:          targets,
						SourceIPAffinity: affinity,
						PreserveClientIP: preserve,
						SourceRanges:     sourceRanges[p],
						SourcesLimited:   sourcesLimited,
					}
					if tgARN != "" {
						l.TargetGroup = arnLabel(tgARN, targetGroupARNMarker, 1)
					}
					if p == ProtocolTCP || p == ProtocolTLS {
						l.IdleTimeout = idle
						l.ProxyProtocolV2 = proxyV2
						l.TLS = tlsSettings
					}
					cfg.Listeners = append(cfg.Listeners, l)
				}
			}
		}
	}
	slices.SortFunc(cfg.Listeners, func(a, b Listener) int {
		return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), compareAddrPort(a.Address, b.Address))
	})
	failOpen := map[string]map[string]bool{}
	for _, l := range cfg.Listeners {
		if l.Routing != RoutingFailOpen {
			continue
		}
		if failOpen[l.TargetGroupARN] == nil {
			failOpen[l.TargetGroupARN] = map[string]bool{}
		}
		for _, t := range l.Targets {
			failOpen[l.TargetGroupARN][t] = true
		}
	}
	for arn, v := range views {
		v.setCloseConnections(failOpen[arn])
		cfg.TargetGroups = append(cfg.TargetGroups, v.group)
	}
	slices.SortFunc(cfg.TargetGroups, func(a, b TargetGroup) int { return cmp.Compare(a.ARN, b.ARN) })
	return cfg
}

// groupView is one target group's targets classified by health.
type groupView struct {
	group TargetGroup
	// healthy and eligible (for fail open) hold indexes into group.Targets.
	healthy, eligible []int
	// minHealthyCount and minHealthyPercent (0: off) are the unhealthy
	// state routing thresholds: below either, flows go to every eligible
	// target of the zone (or group, with cross-zone on), as if none were
	// healthy.
	minHealthyCount, minHealthyPercent int
	// closeUnhealthy says whether unhealthy targets lose their connections
	// (when no listener fails open onto them).
	closeUnhealthy bool
}

func newGroupView(tg *elb.TargetGroup, health elb.HealthView) groupView {
	v := groupView{group: TargetGroup{
		ARN:                       tg.ARN,
		TerminateOnDeregistration: elb.AttrBool(tg.Attributes, attrTerminateOnDeregister, false),
	}}
	for _, t := range tg.Targets {
		addr, err := netip.ParseAddr(t.ID)
		if err != nil {
			continue // an instance id or garbage: not an address kelb can reach
		}
		port := t.Port
		if port == 0 {
			port = tg.Port
		}
		st := TargetState{
			Address: netip.AddrPortFrom(addr, uint16(port)).String(),
			Zone:    t.AvailabilityZone,
			Health:  elb.HealthInitial,
		}
		if health != nil {
			if h, ok := health.TargetHealth(tg.ARN, elb.TargetKey{ID: t.ID, Port: t.Port}); ok && h.State != "" {
				st.Health = h.State
			}
		}
		if t.Draining() && st.Health != elb.HealthUnhealthyDraining {
			st.Health = elb.HealthDraining
		}
		v.group.Targets = append(v.group.Targets, st)
	}
	slices.SortFunc(v.group.Targets, func(a, b TargetState) int { return compareAddrPort(a.Address, b.Address) })
	v.group.Targets = slices.CompactFunc(v.group.Targets, func(a, b TargetState) bool { return a.Address == b.Address })
	for i, t := range v.group.Targets {
		switch t.Health {
		case elb.HealthHealthy:
			v.healthy = append(v.healthy, i)
			v.eligible = append(v.eligible, i)
		case elb.HealthDraining, elb.HealthUnhealthyDraining, elb.HealthUnused:
		default: // initial, unhealthy, unavailable
			v.eligible = append(v.eligible, i)
		}
	}
	// An unhealthy target's connections are closed at once when
	// connection termination is on. When it is off they are kept, except
	// with an unhealthy draining interval: the target is unhealthy.draining
	// (connections kept) for the interval, then unhealthy (closed).
	v.closeUnhealthy = elb.AttrBool(tg.Attributes, attrTerminateOnUnhealthy, true) ||
		elb.AttrInt(tg.Attributes, attrUnhealthyDrainingInterval, 0) > 0
	v.minHealthyCount = max(elb.AttrInt(tg.Attributes, attrRoutingMinHealthyCount, 0), 1)
	v.minHealthyPercent = elb.AttrInt(tg.Attributes, attrRoutingMinHealthyPercent, 0) // "off" parses as 0
	return v
}

// belowThreshold reports whether healthy of eligible targets is below the
// group's unhealthy state routing thresholds.
func (v groupView) belowThreshold(healthy, eligible int) bool {
	return healthy < v.minHealthyCount || healthy*100 < v.minHealthyPercent*eligible
}

// setCloseConnections marks the unhealthy targets whose connections Apply
// closes: never one that a listener fails open onto, since it then carries
// traffic again.
func (v groupView) setCloseConnections(failOpen map[string]bool) {
	for i := range v.group.Targets {
		t := &v.group.Targets[i]
		t.CloseConnections = v.closeUnhealthy && t.Health == elb.HealthUnhealthy && !failOpen[t.Address]
	}
}

// targetsFor returns the routing mode and the targets of new flows arriving
// in zone.
func (v groupView) targetsFor(zone string, crossZone bool) (string, []string) {
	inZone := func(i int) bool {
		z := v.group.Targets[i].Zone
		return z == zone || z == zoneAll || z == ""
	}
	pick := func(idx []int, keep func(int) bool) []string {
		var out []string
		for _, i := range idx {
			if keep == nil || keep(i) {
				out = append(out, v.group.Targets[i].Address)
			}
		}
		return out
	}
	if crossZone {
		if t := pick(v.healthy, nil); len(t) > 0 {
			if v.belowThreshold(len(t), len(v.eligible)) {
				return RoutingFailOpen, pick(v.eligible, nil)
			}
			return RoutingCrossZone, t
		}
	} else {
		if t := pick(v.healthy, inZone); len(t) > 0 {
			if zoneEligible := pick(v.eligible, inZone); v.belowThreshold(len(t), len(zoneEligible)) {
				return RoutingFailOpen, zoneEligible
			}
			return RoutingZonal, t
		}
		if t := pick(v.healthy, nil); len(t) > 0 {
			return RoutingFailover, t
		}
		if t := pick(v.eligible, inZone); len(t) > 0 {
			return RoutingFailOpen, t
		}
	}
	if t := pick(v.eligible, nil); len(t) > 0 {
		return RoutingFailOpen, t
	}
	return RoutingNoTargets, nil
}

// forwardTarget returns the target group of the first forward action.
func forwardTarget(actions []elb.Action) string {
	sorted := slices.Clone(actions)
	slices.SortStableFunc(sorted, func(a, b elb.Action) int { return cmp.Compare(a.Order, b.Order) })
	for _, a := range sorted {
		if tgs := a.ForwardTargetGroups(); len(tgs) > 0 {
			return tgs[0].TargetGroupARN
		}
	}
	return ""
}

// arnLabel returns the part of arn from skip bytes into marker on
// ("net/name/id", "targetgroup/name/id"), or arn itself when marker is
// absent.
func arnLabel(arn, marker string, skip int) string {
	if i := strings.Index(arn, marker); i >= 0 {
		return arn[i+skip:]
	}
	return arn
}

// compareAddrPort orders "ip:port" strings numerically, falling back to
// string order for anything unparsable.
func compareAddrPort(a, b string) int {
	pa, errA := netip.ParseAddrPort(a)
	pb, errB := netip.ParseAddrPort(b)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	return pa.Compare(pb)
}
