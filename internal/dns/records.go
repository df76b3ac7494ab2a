package dns

import (
	"net/netip"
	"strings"

	mdns "github.com/miekg/dns"

	"github.com/kelb-io/kelb/internal/confview"
	"github.com/kelb-io/kelb/internal/elb"
)

// answer is what one name resolves to.
type answer struct {
	a    []netip.Addr
	aaaa []netip.Addr
}

// records are the names kelb answers, keyed by lower-case fully qualified
// name.
type records map[string]answer

// Dualstack load balancers' names.
const (
	ipAddressTypeDualstack = "dualstack"
	dualstackNamePrefix    = "dualstack."
)

// LiveZones are the zones that have a live kelb server node (package
// fleet); nil means every zone.
type LiveZones map[string]bool

// ZoneHealth is how the live kelb server nodes of each zone see the targets
// (package fleet keeps every node's published verdicts).
type ZoneHealth interface {
	// ZoneVerdicts returns the verdicts on target k of target group tg of
	// the live nodes that serve zone, or of every live node when none
	// serves it; none when no such node has checked the target.
	ZoneVerdicts(zone, tg string, k elb.TargetKey) []elb.TargetHealth
}

// buildRecords computes the records of every load balancer in v. health
// may be nil, in which case every zone is answered.
func buildRecords(v *confview.View, health ZoneHealth, live LiveZones) records {
	recs := records{}
	for _, lb := range v.State().LoadBalancers {
		if lb.DNSName == "" {
			continue
		}
		serve := servedZones(lb, v.TargetGroupsOf(lb.ARN), health, live)
		var ans answer
		dualstack := strings.HasPrefix(lb.IPAddressType, ipAddressTypeDualstack)
		for _, z := range lb.Zones {
			if !serve[z.Zone] {
				continue
			}
			for _, a := range z.Addresses() {
				switch {
				case a.Is4() || a.Is4In6():
					ans.a = append(ans.a, a.Unmap())
				case dualstack:
					ans.aaaa = append(ans.aaaa, a)
				}
			}
		}
		name := strings.ToLower(mdns.Fqdn(lb.DNSName))
		recs[name] = ans
		if dualstack {
			recs[dualstackNamePrefix+name] = ans
		}
	}
	return recs
}

// servedZones decides which of lb's zones DNS answers: those that have a
// live kelb node and a healthy target to send to, as that zone's nodes see
// it: a zone is in when some live node serving it sees healthy a target it
// would forward the zone's flows to (the zone's own targets, every zone's
// with cross-zone load balancing). One zone's nodes failing to reach a
// target does not take another zone, whose nodes reach it, out. When no
// zone has a live node, every zone is a candidate; when no candidate has a
// healthy target, every candidate is answered (fail open).
func servedZones(lb elb.LoadBalancer, tgs []*elb.TargetGroup, health ZoneHealth, live LiveZones) map[string]bool {
	serve := map[string]bool{}
	anyLive := false
	for _, z := range lb.Zones {
		anyLive = anyLive || live == nil || live[z.Zone]
	}
	candidate := func(zone string) bool { return !anyLive || live == nil || live[zone] }
	for _, z := range lb.Zones {
		if candidate(z.Zone) {
			serve[z.Zone] = health == nil
		}
	}
	if health == nil {
		return serve
	}
	anyHealthy := false
	for z := range serve {
		serve[z] = zoneHasHealthyTarget(lb, tgs, health, z)
		anyHealthy = anyHealthy || serve[z]
	}
	if !anyHealthy {
		for z := range serve {
			serve[z] = true
		}
	}
	return serve
}

// zoneHasHealthyTarget reports whether a live node serving zone sees
// healthy a target that is not draining and that lb forwards zone's flows
// to.
func zoneHasHealthyTarget(lb elb.LoadBalancer, tgs []*elb.TargetGroup, health ZoneHealth, zone string) bool {
	for _, tg := range tgs {
		crossZone := confview.CrossZone(&lb, tg)
		for _, t := range tg.Targets {
			if t.Draining() || !crossZone && t.AvailabilityZone != zone {
				continue
			}
			for _, h := range health.ZoneVerdicts(zone, tg.ARN, elb.TargetKey{ID: t.ID, Port: t.Port}) {
				if h.State == elb.HealthHealthy {
					return true
				}
			}
		}
	}
	return false
}
