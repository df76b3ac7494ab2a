package confview

import "github.com/kelb-io/kelb/internal/elb"

// attrCrossZone is the cross-zone attribute of load balancers and of
// target groups; a target group's "use_load_balancer_configuration" (its
// default) defers to its load balancer's.
const attrCrossZone = "load_balancing.cross_zone.enabled"

// CrossZone reports whether load balancer lb sends the flows for target
// group tg (nil: none) to targets in every zone: always for application
// load balancers; for network load balancers, the target group's
// attribute when it is "true" or "false", else (use_load_balancer_configuration)
// the load balancer's, which is off by default.
func CrossZone(lb *elb.LoadBalancer, tg *elb.TargetGroup) bool {
	if lb.Type == elb.TypeApplication {
		return true
	}
	if tg != nil {
		switch tg.Attributes[attrCrossZone] {
		case "true":
			return true
		case "false":
			return false
		}
	}
	return elb.AttrBool(lb.Attributes, attrCrossZone, false)
}
