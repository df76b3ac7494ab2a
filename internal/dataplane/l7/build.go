package l7

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/kelb-io/kelb/internal/confview"
	"github.com/kelb-io/kelb/internal/elb"
)

// Attribute keys Build reads.
const (
	attrIdleTimeout        = "idle_timeout.timeout_seconds"
	attrHTTP2              = "routing.http2.enabled"
	attrXFFMode            = "routing.http.xff_header_processing.mode"
	attrAlgorithm          = "load_balancing.algorithm.type"
	attrStickinessEnabled  = "stickiness.enabled"
	attrStickinessType     = "stickiness.type"
	attrLBCookieDuration   = "stickiness.lb_cookie.duration_seconds"
	attrAppCookieName      = "stickiness.app_cookie.cookie_name"
	attrAppCookieDuration  = "stickiness.app_cookie.duration_seconds"
	attrSlowStart          = "slow_start.duration_seconds"
	defaultIdleTimeout     = 60 * time.Second
	defaultStickiness      = 86400 * time.Second
	algorithmRoundRobin    = "round_robin"
	algorithmLeastRequests = "least_outstanding_requests"
	stickinessLBCookie     = "lb_cookie"
	stickinessAppCookie    = "app_cookie"
	xffAppend              = "append"
)

// Build derives the L7 configuration from a snapshot of the store's state
// (conf indexes it) and the targets' health. It is a pure function; health may be nil (every target
// initial).
//
// Every HTTP and HTTPS listener of every application load balancer that has
// not failed gets one Listener per zone address. Every target group its
// default actions and rules forward to gets one TargetGroup whose Targets
// are its healthy targets; when none is healthy, every registered target
// that is neither draining nor unused (fail open). Cross-zone load
// balancing is always on for application load balancers, so a target's
// zone does not matter.
func Build(conf *confview.View, health elb.HealthView) Config {
	state := conf.State()
	served := func(lb *elb.LoadBalancer) bool {
		return lb != nil && lb.Type == elb.TypeApplication && lb.State != elb.StateFailed
	}
	admission := elb.NewAdmission(state)
	var cfg Config
	for _, ls := range state.Listeners {
		lb := conf.LoadBalancer(ls.LoadBalancerARN)
		if !served(lb) || (ls.Protocol != ProtocolHTTP && ls.Protocol != ProtocolHTTPS) {
			continue
		}
		var lr []elb.Rule
		for _, r := range conf.RulesOf(ls.ARN) {
			lr = append(lr, *r)
		}
		var certs []string
		for _, c := range ls.Certificates {
			if c.IsDefault {
				certs = append([]string{c.ARN}, certs...)
			} else {
				certs = append(certs, c.ARN)
			}
		}
		prefixes, limited := admission.Sources(lb, &ls, "TCP")
		var sources []string
		for _, p := range prefixes {
			sources = append(sources, p.String())
		}
		respHeaders, noServer := responseHeaders(ls.Attributes)
		tlsVersion, tlsCipher := tlsHeaderNames(lb.Attributes, ls.Attributes, ls.Protocol)
		for _, z := range lb.Zones {
			for _, addr := range z.Addresses() {
				cfg.Listeners = append(cfg.Listeners, Listener{
					ResponseHeaders:  respHeaders,
					NoServerHeader:   noServer,
					TLSVersionHeader: tlsVersion,
					TLSCipherHeader:  tlsCipher,
					SourceRanges:     sources,
					SourcesLimited:   limited,
					ListenerARN:      ls.ARN,
					LoadBalancer:     arnLabel(lb.ARN, ":loadbalancer/", len(":loadbalancer/")),
					LoadBalancerARN:  lb.ARN,
					Zone:             z.Zone,
					Protocol:         ls.Protocol,
					Address:          netip.AddrPortFrom(addr, uint16(ls.Port)).String(),
					Certificates:     certs,
					SSLPolicy:        ls.SslPolicy,
					HTTP2:            elb.AttrBool(lb.Attributes, attrHTTP2, true),
					IdleTimeout:      idleTimeout(lb),
					XFFMode:          cmp.Or(lb.Attributes[attrXFFMode], xffAppend),
					Rules:            lr,
					DefaultActions:   ls.DefaultActions,
					MutualAuth:       buildMutualAuth(ls, state.TrustStores),
					MTLSHeaderNames:  mtlsHeaderNames(ls.Attributes),
				})
			}
		}
	}
	slices.SortFunc(cfg.Listeners, func(a, b Listener) int { return compareAddrPort(a.Address, b.Address) })

	for i := range state.TargetGroups {
		tg := &state.TargetGroups[i]
		// A target group serves one load balancer; should a hand-built
		// State give it several, the last by ARN sets its timeouts.
		var lb *elb.LoadBalancer
		for _, user := range conf.LoadBalancersOf(tg.ARN) {
			if served(user) {
				lb = user
			}
		}
		if lb != nil {
			cfg.TargetGroups = append(cfg.TargetGroups, buildGroup(tg, lb, health))
		}
	}
	slices.SortFunc(cfg.TargetGroups, func(a, b TargetGroup) int { return cmp.Compare(a.ARN, b.ARN) })
	return cfg
}

func buildGroup(tg *elb.TargetGroup, lb *elb.LoadBalancer, health elb.HealthView) TargetGroup {
	g := TargetGroup{
		ARN:             tg.ARN,
		Label:           arnLabel(tg.ARN, ":targetgroup/", 1),
		Protocol:        cmp.Or(tg.Protocol, ProtocolHTTP),
		ProtocolVersion: cmp.Or(tg.ProtocolVersion, "HTTP1"),
		Algorithm:       algorithmRoundRobin,
		ResponseTimeout: idleTimeout(lb),
		XFFMode:         cmp.Or(lb.Attributes[attrXFFMode], xffAppend),
		SlowStart:       time.Duration(elb.AttrInt(tg.Attributes, attrSlowStart, 0)) * time.Second,
	}
	if tg.Attributes[attrAlgorithm] == algorithmLeastRequests {
		g.Algorithm = algorithmLeastRequests
	}
	if elb.AttrBool(tg.Attributes, attrStickinessEnabled, false) {
		switch tg.Attributes[attrStickinessType] {
		case stickinessAppCookie:
			g.Stickiness = stickinessAppCookie
			g.AppCookieName = tg.Attributes[attrAppCookieName]
			g.StickinessDuration = seconds(tg.Attributes, attrAppCookieDuration, defaultStickiness)
		case stickinessLBCookie, "":
			g.Stickiness = stickinessLBCookie
			g.StickinessDuration = seconds(tg.Attributes, attrLBCookieDuration, defaultStickiness)
		}
	}
	var healthy, eligible []string
	for _, t := range tg.Targets {
		addr, err := netip.ParseAddr(t.ID)
		if err != nil {
			continue
		}
		port := t.Port
		if port == 0 {
			port = tg.Port
		}
		ap := netip.AddrPortFrom(addr, uint16(port)).String()
		state := elb.HealthInitial
		if health != nil {
			if h, ok := health.TargetHealth(tg.ARN, elb.TargetKey{ID: t.ID, Port: t.Port}); ok && h.State != "" {
				state = h.State
			}
		}
		if t.Draining() {
			continue
		}
		switch state {
		case elb.HealthHealthy:
			healthy = append(healthy, ap)
			eligible = append(eligible, ap)
		case elb.HealthDraining, elb.HealthUnhealthyDraining, elb.HealthUnused:
		default:
			eligible = append(eligible, ap)
		}
	}
	sortAddrs := func(s []string) []string {
		slices.SortFunc(s, compareAddrPort)
		return slices.Compact(s)
	}
	switch {
	case len(healthy) > 0:
		g.Routing, g.Targets = RoutingHealthy, sortAddrs(healthy)
	case len(eligible) > 0:
		g.Routing, g.Targets = RoutingFailOpen, sortAddrs(eligible)
	default:
		g.Routing = RoutingNoTargets
	}
	return g
}

func idleTimeout(lb *elb.LoadBalancer) time.Duration {
	return seconds(lb.Attributes, attrIdleTimeout, defaultIdleTimeout)
}

func seconds(attrs map[string]string, key string, def time.Duration) time.Duration {
	if n := elb.AttrInt(attrs, key, 0); n > 0 {
		return time.Duration(n) * time.Second
	}
	return def
}

// arnLabel returns the part of arn from skip bytes into marker on, or arn
// itself when marker is absent.
func arnLabel(arn, marker string, skip int) string {
	if i := strings.Index(arn, marker); i >= 0 {
		return arn[i+skip:]
	}
	return arn
}

func compareAddrPort(a, b string) int {
	pa, errA := netip.ParseAddrPort(a)
	pb, errB := netip.ParseAddrPort(b)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	return pa.Compare(pb)
}
