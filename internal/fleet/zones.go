package fleet

import (
	"github.com/kelb-io/kelb/internal/elb"
)

// ZoneView is the targets' health by zone, as the live nodes serving each
// zone see it: what DNS decides a zone's address on (package dns,
// ZoneHealth). It is a snapshot of the live nodes and their views taken
// by ZoneHealth.
type ZoneView struct {
	self string
	own  elb.HealthView
	// judges are the live nodes serving each zone, by zone; all are every
	// live node, for a zone no live node serves.
	judges map[string]map[string]bool
	all    map[string]bool
	idx    healthIndex
}

// ZoneHealth returns the live nodes' verdicts by the zones they serve, over
// own, this node's verdicts. With no etcd the fleet is this node, and
// every zone's verdicts are its own.
func (f *Fleet) ZoneHealth(own elb.HealthView) ZoneView {
	v := ZoneView{self: f.name, own: own, judges: map[string]map[string]bool{}, all: map[string]bool{}}
	if idx := f.index.Load(); idx != nil {
		v.idx = *idx
	}
	for _, n := range f.Nodes() {
		v.all[n.Name] = true
		for _, z := range n.Zones {
			if v.judges[z] == nil {
				v.judges[z] = map[string]bool{}
			}
			v.judges[z][n.Name] = true
		}
	}
	return v
}

// ZoneVerdicts returns the verdicts on target k of target group tg of the
// live nodes that serve zone (of every live node when none serves it),
// this node's first; none when no such node has checked the target.
func (v ZoneView) ZoneVerdicts(zone, tg string, k elb.TargetKey) []elb.TargetHealth {
	judges := v.judges[zone]
	if len(judges) == 0 {
		judges = v.all
	}
	var out []elb.TargetHealth
	if judges[v.self] && v.own != nil {
		if h, ok := v.own.TargetHealth(tg, k); ok {
			out = append(out, h)
		}
	}
	for _, p := range v.idx[tg][k] {
		if judges[p.Node] {
			out = append(out, p.Health)
		}
	}
	return out
}
