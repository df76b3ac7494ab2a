package ingress

import (
	"fmt"
	"slices"
	"strconv"
)

// attributeFormat is the form ELBv2 documents for one attribute's value.
// The load-balancer-attributes and target-group-attributes annotations are
// checked against it while the stack is built, so a malformed value fails
// the build with a Warning naming the annotation, and nothing is deployed.
// Otherwise kelb server would reject the value half way through a deploy
// that may already have changed other parts of the load balancer. Keys
// not listed here pass to kelb server, which judges them.
type attributeFormat struct {
	// lo and hi bound an integer value; enum lists the other values
	// allowed (an integer attribute may allow "off").
	integer bool
	lo, hi  int
	enum    []string
}

func (f attributeFormat) check(v string) error {
	if slices.Contains(f.enum, v) {
		return nil
	}
	if f.integer {
		if n, err := strconv.Atoi(v); err == nil && n >= f.lo && n <= f.hi {
			return nil
		}
		if len(f.enum) > 0 {
			return fmt.Errorf("must be %q or an integer from %d to %d", f.enum, f.lo, f.hi)
		}
		return fmt.Errorf("must be an integer from %d to %d", f.lo, f.hi)
	}
	return fmt.Errorf("must be one of %q", f.enum)
}

var (
	boolFormat = attributeFormat{enum: []string{"true", "false"}}
	// offOrCount is a minimum healthy target count, or off.
	offOrCount   = attributeFormat{integer: true, lo: 1, hi: 1 << 30, enum: []string{"off"}}
	offOrPercent = attributeFormat{integer: true, lo: 1, hi: 100, enum: []string{"off"}}
)

// loadBalancerAttributes are the value formats of an application load
// balancer's attributes.
var loadBalancerAttributes = map[string]attributeFormat{
	"deletion_protection.enabled":                              boolFormat,
	"load_balancing.cross_zone.enabled":                        boolFormat,
	"access_logs.s3.enabled":                                   boolFormat,
	"connection_logs.s3.enabled":                               boolFormat,
	"ipv6.deny_all_igw_traffic":                                boolFormat,
	"idle_timeout.timeout_seconds":                             {integer: true, lo: 1, hi: 4000},
	"client_keep_alive.seconds":                                {integer: true, lo: 60, hi: 604800},
	"routing.http.desync_mitigation_mode":                      {enum: []string{"monitor", "defensive", "strictest"}},
	"routing.http.drop_invalid_header_fields.enabled":          boolFormat,
	"routing.http.preserve_host_header.enabled":                boolFormat,
	"routing.http.x_amzn_tls_version_and_cipher_suite.enabled": boolFormat,
	"routing.http.xff_client_port.enabled":                     boolFormat,
	"routing.http.xff_header_processing.mode":                  {enum: []string{"append", "preserve", "remove"}},
	"routing.http2.enabled":                                    boolFormat,
	"waf.fail_open.enabled":                                    boolFormat,
	"zonal_shift.config.enabled":                               boolFormat,
}

// targetGroupAttributes are the value formats of the attributes of an
// application load balancer's target group.
var targetGroupAttributes = map[string]attributeFormat{
	"deregistration_delay.timeout_seconds":                                           {integer: true, lo: 0, hi: 3600},
	"slow_start.duration_seconds":                                                    {integer: true, lo: 30, hi: 900, enum: []string{"0"}},
	"stickiness.enabled":                                                             boolFormat,
	"stickiness.type":                                                                {enum: []string{"lb_cookie", "app_cookie"}},
	"stickiness.lb_cookie.duration_seconds":                                          {integer: true, lo: 1, hi: 604800},
	"stickiness.app_cookie.duration_seconds":                                         {integer: true, lo: 1, hi: 604800},
	"load_balancing.algorithm.type":                                                  {enum: []string{"round_robin", "least_outstanding_requests", "weighted_random"}},
	"load_balancing.algorithm.anomaly_mitigation":                                    {enum: []string{"on", "off"}},
	"load_balancing.cross_zone.enabled":                                              {enum: []string{"true", "false", "use_load_balancer_configuration"}},
	"target_group_health.dns_failover.minimum_healthy_targets.count":                 offOrCount,
	"target_group_health.dns_failover.minimum_healthy_targets.percentage":            offOrPercent,
	"target_group_health.unhealthy_state_routing.minimum_healthy_targets.count":      {integer: true, lo: 1, hi: 1 << 30},
	"target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage": offOrPercent,
}

// attributes reads a "k1=v1,k2=v2" attributes annotation and checks the
// value of every key formats knows.
func attributes(a annotations, key string, formats map[string]attributeFormat) (map[string]string, error) {
	attrs, err := a.StringMap(key)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(attrs))
	for k := range attrs {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		f, ok := formats[k]
		if !ok {
			continue
		}
		if err := f.check(attrs[k]); err != nil {
			return nil, a.Fail(key, fmt.Sprintf("%s=%s: %v", k, attrs[k], err))
		}
	}
	return attrs, nil
}
