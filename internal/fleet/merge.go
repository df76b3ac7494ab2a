package fleet

import (
	"strings"

	"github.com/kelb-io/kelb/internal/elb"
)

// Verdict is one node's verdict on a target.
type Verdict struct {
	Node   string
	Health elb.TargetHealth
}

// severity orders states for Merge: the larger wins. States that come from
// the configuration (draining, unused, unavailable) are the same on every
// node and sit between healthy and initial.
func severity(state string) int {
	switch state {
	case elb.HealthHealthy:
		return 0
	case elb.HealthInitial:
		return 2
	case elb.HealthUnhealthy:
		return 3
	}
	return 1
}

// Merge is a target's health in the fleet from the verdicts of the live
// nodes that check it, in node name order: the worst state wins (unhealthy
// over initial over healthy), with the reason and description of the first
// node in that state; an unhealthy target's description then names every
// node that sees it fail. No verdict at all is false: no node has checked
// the target yet.
func Merge(verdicts []Verdict) (elb.TargetHealth, bool) {
	if len(verdicts) == 0 {
		return elb.TargetHealth{}, false
	}
	worst := verdicts[0]
	for _, v := range verdicts[1:] {
		if severity(v.Health.State) > severity(worst.Health.State) {
			worst = v
		}
	}
	h := worst.Health
	if h.State != elb.HealthUnhealthy {
		return h, true
	}
	var failing []string
	for _, v := range verdicts {
		if v.Health.State == elb.HealthUnhealthy {
			failing = append(failing, v.Node)
		}
	}
	word := "node"
	if len(failing) > 1 {
		word = "nodes"
	}
	seen := "seen from " + word + " " + strings.Join(failing, ", ")
	if h.Description == "" {
		h.Description = seen
	} else {
		h.Description += " (" + seen + ")"
	}
	return h, true
}
