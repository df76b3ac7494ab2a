package health

import (
	"hash/fnv"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/kelb-io/kelb/internal/confview"
	"github.com/kelb-io/kelb/internal/elb"
)

// targetRef names one probed target: a target of a target group. The same
// address registered in two groups is probed once per group, with each
// group's settings, as ELB does.
type targetRef struct {
	tg     string
	target elb.TargetKey
}

// probeSpec is everything a probe of one target needs. It is comparable, so
// a settings change is a plain inequality.
type probeSpec struct {
	protocol   string // TCP, HTTP or HTTPS
	address    string // host:port of the health check
	path       string // HTTP(S) only
	matcher    string // HTTP(S) only: "200", "200,202", "200-399"
	interval   time.Duration
	timeout    time.Duration
	thresholds thresholds
	// idle, when set, says why the target is not probed: its health is
	// fixed (idleTargetState) until the configuration changes.
	idle idleReason
	zone string
}

// idleReason is why a target is not probed.
type idleReason string

const (
	// idleHealthCheckDisabled: the group's health check is disabled.
	idleHealthCheckDisabled idleReason = "health-check-disabled"
	// idleZoneNotEnabled: the target's zone is enabled for none of the
	// load balancers that forward to its group, so none sends it traffic.
	idleZoneNotEnabled idleReason = "zone-not-enabled"
)

// lbUse is a load balancer that forwards to a target group.
type lbUse struct {
	arn   string
	zones []string
}

// plan is what the checker should be doing for one configuration.
type plan struct {
	targets map[targetRef]probeSpec
	// users lists, per target group ARN, the load balancers that forward to
	// it, in ARN order.
	users map[string][]lbUse
}

// Settings that apply when a target group leaves them unset (zero). The
// ELBv2 service fills in its own defaults; these only keep a hand-built
// State probe-able.
const (
	defaultInterval           = 30 * time.Second
	defaultTimeout            = 5 * time.Second
	defaultHealthyThreshold   = 5
	defaultUnhealthyThreshold = 2
)

// desiredTargets derives what to probe from a configuration: every target
// that is not draining, of every target group that some listener's default
// actions or some rule's actions forward to.
func desiredTargets(v *confview.View) plan {
	p := plan{targets: map[targetRef]probeSpec{}, users: map[string][]lbUse{}}
	for _, tg := range v.State().TargetGroups {
		lbs := v.LoadBalancersOf(tg.ARN)
		if len(lbs) == 0 {
			continue
		}
		for _, lb := range lbs {
			u := lbUse{arn: lb.ARN}
			for _, z := range lb.Zones {
				if !slices.Contains(u.zones, z.Zone) {
					u.zones = append(u.zones, z.Zone)
				}
			}
			p.users[tg.ARN] = append(p.users[tg.ARN], u)
		}
		for _, t := range tg.Targets {
			if t.Draining() {
				continue
			}
			ref := targetRef{tg: tg.ARN, target: elb.TargetKey{ID: t.ID, Port: t.Port}}
			spec := probeSpecFor(tg, t)
			if !zoneEnabled(p.users[tg.ARN], t.AvailabilityZone) {
				spec.idle = idleZoneNotEnabled
			}
			p.targets[ref] = spec
		}
	}
	return p
}

// zoneEnabled reports whether a target in zone gets traffic from one of
// users: its zone is one of theirs, or it was registered in zone "all" (or
// none, in a hand-built State).
func zoneEnabled(users []lbUse, zone string) bool {
	if zone == "" || zone == "all" {
		return true
	}
	for _, u := range users {
		if slices.Contains(u.zones, zone) {
			return true
		}
	}
	return false
}

// probeSpecFor is how target t of group tg is probed.
func probeSpecFor(tg elb.TargetGroup, t elb.Target) probeSpec {
	hc := tg.HealthCheck
	l4 := isL4(tg.Protocol)
	s := probeSpec{
		protocol: hc.Protocol,
		path:     hc.Path,
		matcher:  hc.Matcher.HTTPCode,
		interval: seconds(hc.IntervalSeconds, defaultInterval),
		timeout:  seconds(hc.TimeoutSeconds, defaultTimeout),
		thresholds: thresholds{
			healthy:   intOr(hc.HealthyThreshold, defaultHealthyThreshold),
			unhealthy: intOr(hc.UnhealthyThreshold, defaultUnhealthyThreshold),
			l4:        l4,
		},
		zone: t.AvailabilityZone,
	}
	if !hc.Enabled {
		s.idle = idleHealthCheckDisabled
	}
	if s.protocol == "" {
		s.protocol = "TCP"
		if tg.Protocol == "HTTP" || tg.Protocol == "HTTPS" {
			s.protocol = tg.Protocol
		}
	}
	if s.protocol == "TCP" {
		s.path, s.matcher = "", ""
	} else {
		if s.path == "" {
			s.path = "/"
		}
		if s.matcher == "" {
			s.matcher = "200"
			if l4 {
				s.matcher = "200-399"
			}
		}
	}
	s.address = net.JoinHostPort(t.ID, strconv.Itoa(int(healthCheckPort(hc.Port, t.Port, tg.Port))))
	return s
}

// healthCheckPort resolves a health check's Port setting: "traffic-port"
// (or unset) is the port traffic goes to, the target's own port or else the
// group's.
func healthCheckPort(setting string, targetPort, groupPort int32) int32 {
	if n, err := strconv.ParseInt(setting, 10, 32); err == nil && n > 0 && n < 65536 {
		return int32(n)
	}
	if targetPort != 0 {
		return targetPort
	}
	return groupPort
}

func isL4(protocol string) bool {
	switch protocol {
	case "TCP", "UDP", "TCP_UDP", "TLS":
		return true
	}
	return false
}

func seconds(n int32, def time.Duration) time.Duration {
	if n <= 0 {
		return def
	}
	return time.Duration(n) * time.Second
}

func intOr(n int32, def int) int {
	if n <= 0 {
		return def
	}
	return int(n)
}

// phaseOffset is how much later than one interval after its first probe a
// target's second probe fires: a deterministic fraction (below a fifth) of
// the interval, from a hash of the target's name, so that targets
// registered together spread their probes without any randomness.
func phaseOffset(ref targetRef, interval time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(ref.tg))
	h.Write([]byte{0})
	h.Write([]byte(ref.target.ID))
	h.Write([]byte{0, byte(ref.target.Port >> 8), byte(ref.target.Port)})
	span := uint64(interval / 5)
	if span == 0 {
		return 0
	}
	return time.Duration(h.Sum64() % span)
}
