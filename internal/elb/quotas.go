package elb

import (
	"strings"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// AWS's default quotas, which kelb enforces with AWS's error codes and
// DescribeAccountLimits reports (limits.go). A request that would exceed one
// fails as a whole and changes nothing.
const (
	// MaxLoadBalancersPerType: application and network load balancers
	// each (TooManyLoadBalancers).
	MaxLoadBalancersPerType = 50
	// MaxTargetGroups: target groups of every type (TooManyTargetGroups).
	MaxTargetGroups = 3000
	// MaxTargetsPerTargetGroup: instances or IP addresses, draining ones
	// included (TooManyTargets).
	MaxTargetsPerTargetGroup = 1000
	// Targets of the target groups a load balancer forwards to
	// (TooManyTargets); an NLB's per zone counts targets of zone "all" in
	// every zone.
	MaxTargetsPerApplicationLoadBalancer    = 1000
	MaxTargetsPerNetworkLoadBalancer        = 3000
	MaxTargetsPerZonePerNetworkLoadBalancer = 500
	// MaxTargetGroupsPerApplicationLoadBalancer: distinct target groups its
	// listeners and rules forward to
	// (TooManyUniqueTargetGroupsPerLoadBalancer).
	MaxTargetGroupsPerApplicationLoadBalancer = 100
	// MaxRulesPerLoadBalancer: rules of all of an ALB's listeners, default
	// rules not counted (TooManyRules).
	MaxRulesPerLoadBalancer = 100
	// MaxCertificatesPerLoadBalancer: certificates of all of a load
	// balancer's listeners, default certificates not counted
	// (TooManyCertificates).
	MaxCertificatesPerLoadBalancer = 25
	// MaxConditionValuesPerRule and MaxConditionWildcardsPerRule bound the
	// values of all of a rule's conditions, and the '*' and '?' in them
	// (ValidationError).
	MaxConditionValuesPerRule    = 5
	MaxConditionWildcardsPerRule = 5
)

// checkLoadBalancerQuotas checks the load balancers lbARNs against the
// quotas that span their listeners and rules: certificates, targets (per
// load balancer, and per zone for an NLB) and distinct target groups. It reads tx after
// the operation's writes, so it sees the result the operation would commit.
func checkLoadBalancerQuotas(tx store.ReadTx, lbARNs ...string) error {
	w, err := loadWorld(tx)
	if err != nil {
		return err
	}
	return w.checkQuotas(lbARNs)
}

// checkTargetGroupQuotas checks the load balancers that forward to target
// group tg, as checkLoadBalancerQuotas does.
func checkTargetGroupQuotas(tx store.ReadTx, tg string) error {
	w, err := loadWorld(tx)
	if err != nil {
		return err
	}
	return w.checkQuotas(w.loadBalancersOf(tg))
}

func (w *world) checkQuotas(lbARNs []string) error {
	for _, arn := range lbARNs {
		lb, ok := w.lbs[arn]
		if !ok {
			continue
		}
		certs := 0
		for _, l := range w.listeners {
			if l.LoadBalancerARN == arn && len(l.Certificates) > 1 {
				certs += len(l.Certificates) - 1
			}
		}
		if certs > MaxCertificatesPerLoadBalancer {
			return errorf("TooManyCertificates", "Load balancer '%s' would have %d certificates besides its listeners' default ones; the limit is %d", arn, certs, MaxCertificatesPerLoadBalancer)
		}
		tgs := w.targetGroupsOf(arn)
		if lb.Type == TypeApplication && len(tgs) > MaxTargetGroupsPerApplicationLoadBalancer {
			return errorf("TooManyUniqueTargetGroupsPerLoadBalancer",
				"Load balancer '%s' would forward to %d target groups; the limit is %d", arn, len(tgs), MaxTargetGroupsPerApplicationLoadBalancer)
		}
		total, perZone := 0, map[string]int{}
		for _, tgARN := range tgs {
			tg, ok := w.tgs[tgARN]
			if !ok {
				continue
			}
			total += len(tg.Targets)
			for _, t := range tg.Targets {
				if t.AvailabilityZone == AvailabilityZoneAll {
					for _, z := range lb.Zones {
						perZone[z.Zone]++
					}
					continue
				}
				perZone[t.AvailabilityZone]++
			}
		}
		limit := MaxTargetsPerApplicationLoadBalancer
		if lb.Type == TypeNetwork {
			limit = MaxTargetsPerNetworkLoadBalancer
		}
		if total > limit {
			return errorf(CodeTooManyTargets, "Load balancer '%s' would have %d targets; the limit for a %s load balancer is %d", arn, total, lb.Type, limit)
		}
		if lb.Type == TypeNetwork {
			for zone, n := range perZone {
				if n > MaxTargetsPerZonePerNetworkLoadBalancer {
					return errorf(CodeTooManyTargets, "Load balancer '%s' would have %d targets in Availability Zone '%s'; the limit is %d", arn, n, zone, MaxTargetsPerZonePerNetworkLoadBalancer)
				}
			}
		}
	}
	return nil
}

// targetGroupsOf returns the distinct target groups the listeners and rules
// of load balancer lb forward to.
func (w *world) targetGroupsOf(lb string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(actions []Action) {
		for _, arn := range TargetGroupARNs(actions) {
			if !seen[arn] {
				seen[arn] = true
				out = append(out, arn)
			}
		}
	}
	for _, l := range w.listeners {
		if l.LoadBalancerARN == lb {
			add(l.DefaultActions)
		}
	}
	for _, r := range w.rules {
		if l, ok := w.listeners[r.ListenerARN]; ok && l.LoadBalancerARN == lb {
			add(r.Actions)
		}
	}
	return out
}

// checkConditionQuotas bounds the values of a rule's conditions and the
// wildcards in them.
func checkConditionQuotas(conds []RuleCondition) error {
	values, wildcards := 0, 0
	for _, c := range conds {
		values += len(c.Values) + len(c.QueryPairs) + len(c.RegexValues)
		for _, v := range c.Values {
			wildcards += strings.Count(v, "*") + strings.Count(v, "?")
		}
		for _, q := range c.QueryPairs {
			wildcards += strings.Count(q.Key, "*") + strings.Count(q.Key, "?") + strings.Count(q.Value, "*") + strings.Count(q.Value, "?")
		}
	}
	if values > MaxConditionValuesPerRule {
		return validationf("A rule can only have '%d' condition values, not %d", MaxConditionValuesPerRule, values)
	}
	if wildcards > MaxConditionWildcardsPerRule {
		return validationf("A rule can only have '%d' wildcards in its condition values, not %d", MaxConditionWildcardsPerRule, wildcards)
	}
	return nil
}
