package fleet

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/kelb-io/kelb/internal/elb"
)

// HealthReport is a node's view of the targets it checks: by target group
// ARN, each target's verdict.
type HealthReport map[string]map[elb.TargetKey]elb.TargetHealth

// groupHealth is the value of <prefix>health/<node>/<target-group-id>.
type groupHealth struct {
	TargetGroup string         `json:"targetGroup"`
	Targets     []targetHealth `json:"targets"`
}

type targetHealth struct {
	ID          string `json:"id"`
	Port        int32  `json:"port"`
	State       string `json:"state"`
	Reason      string `json:"reason,omitempty"`
	Description string `json:"description,omitempty"`
}

// groupID is the last part of a target group ARN (its id), which names
// the group's health key.
func groupID(arn string) string {
	return arn[strings.LastIndex(arn, "/")+1:]
}

// encodeReport turns r into the values of its keys, by target group id,
// in a stable form, so that an unchanged view is an unchanged value.
func encodeReport(r HealthReport) map[string][]byte {
	out := make(map[string][]byte, len(r))
	for arn, targets := range r {
		g := groupHealth{TargetGroup: arn}
		for k, h := range targets {
			g.Targets = append(g.Targets, targetHealth{ID: k.ID, Port: k.Port, State: h.State, Reason: h.Reason, Description: h.Description})
		}
		slices.SortFunc(g.Targets, func(a, b targetHealth) int {
			return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.Port, b.Port))
		})
		v, err := json.Marshal(g)
		if err != nil {
			panic(err) // strings and numbers only
		}
		out[groupID(arn)] = v
	}
	return out
}

func decodeGroupHealth(key string, value []byte) (groupHealth, error) {
	var g groupHealth
	if err := json.Unmarshal(value, &g); err != nil {
		return groupHealth{}, fmt.Errorf("health key %s: %w", key, err)
	}
	return g, nil
}

// healthIndex is the verdicts of the live peers, by target group and
// target, each list in node name order. It is immutable once built.
type healthIndex map[string]map[elb.TargetKey][]Verdict

// buildIndex indexes the health views of the live nodes among views.
func buildIndex(views map[string]map[string]groupHealth, live map[string]Node) healthIndex {
	idx := healthIndex{}
	names := make([]string, 0, len(views))
	for n := range views {
		if _, ok := live[n]; ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		for _, g := range views[n] {
			byTarget := idx[g.TargetGroup]
			if byTarget == nil {
				byTarget = map[elb.TargetKey][]Verdict{}
				idx[g.TargetGroup] = byTarget
			}
			for _, t := range g.Targets {
				k := elb.TargetKey{ID: t.ID, Port: t.Port}
				byTarget[k] = append(byTarget[k], Verdict{Node: n, Health: elb.TargetHealth{State: t.State, Reason: t.Reason, Description: t.Description}})
			}
		}
	}
	return idx
}

// mergedView is the fleet's health view: a node's own verdicts merged with
// those of the live peers.
type mergedView struct {
	f   *Fleet
	own elb.HealthView
}

func (m mergedView) TargetHealth(tg string, k elb.TargetKey) (elb.TargetHealth, bool) {
	var peers []Verdict
	if idx := m.f.index.Load(); idx != nil {
		peers = (*idx)[tg][k]
	}
	h, ok := m.own.TargetHealth(tg, k)
	if len(peers) == 0 {
		if !ok {
			return elb.TargetHealth{}, false
		}
		return Merge([]Verdict{{Node: m.f.name, Health: h}})
	}
	vs := make([]Verdict, 0, len(peers)+1)
	vs = append(vs, peers...)
	if ok {
		i, _ := slices.BinarySearchFunc(vs, m.f.name, func(v Verdict, name string) int { return cmp.Compare(v.Node, name) })
		vs = slices.Insert(vs, i, Verdict{Node: m.f.name, Health: h})
	}
	return Merge(vs)
}
