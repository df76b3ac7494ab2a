package elb

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Attribute keys that the service itself reads.
const (
	attrDeletionProtection        = "deletion_protection.enabled"
	attrCrossZone                 = "load_balancing.cross_zone.enabled"
	attrDeregistrationDelay       = "deregistration_delay.timeout_seconds"
	attrPreserveClientIP          = "preserve_client_ip.enabled"
	attrTCPIdleTimeout            = "tcp.idle_timeout.seconds"
	tgCrossZoneUseLoadBalancerCfg = "use_load_balancer_configuration"
)

// attrSpec is one attribute: its default and the values it accepts.
type attrSpec struct {
	def   string
	valid func(string) bool
}

func boolAttr(def bool) attrSpec {
	return attrSpec{def: strconv.FormatBool(def), valid: func(v string) bool {
		return v == "true" || v == "false"
	}}
}

func intAttr(def, lo, hi int) attrSpec {
	return attrSpec{def: strconv.Itoa(def), valid: func(v string) bool {
		n, err := strconv.Atoi(v)
		return err == nil && n >= lo && n <= hi
	}}
}

func enumAttr(def string, values ...string) attrSpec {
	return attrSpec{def: def, valid: func(v string) bool {
		for _, x := range values {
			if v == x {
				return true
			}
		}
		return false
	}}
}

func stringAttr(def string) attrSpec {
	return attrSpec{def: def, valid: func(string) bool { return true }}
}

// offOrIntAttr accepts "off" or a number in [lo, hi].
func offOrIntAttr(def string, lo, hi int) attrSpec {
	in := intAttr(0, lo, hi).valid
	return attrSpec{def: def, valid: func(v string) bool { return v == "off" || in(v) }}
}

// slowStartAttr accepts 0 (off) or 30..900 seconds.
var slowStartAttr = attrSpec{def: "0", valid: func(v string) bool {
	n, err := strconv.Atoi(v)
	return err == nil && (n == 0 || n >= 30 && n <= 900)
}}

// Load balancer attributes and their AWS defaults.
var (
	networkLBAttrs = map[string]attrSpec{
		attrDeletionProtection:      boolAttr(false),
		attrCrossZone:               boolAttr(false),
		"access_logs.s3.enabled":    boolAttr(false),
		"access_logs.s3.bucket":     stringAttr(""),
		"access_logs.s3.prefix":     stringAttr(""),
		"ipv6.deny_all_igw_traffic": boolAttr(false),
		"dns_record.client_routing_policy": enumAttr("any_availability_zone",
			"availability_zone_affinity", "partial_availability_zone_affinity", "any_availability_zone"),
		"zonal_shift.config.enabled": boolAttr(false),
		// Extra addresses per zone for source NAT of NLBs with security
		// groups; kelb's flows need none, so the value is kept and
		// reported only.
		"secondary_ips.auto_assigned.per_subnet": intAttr(0, 0, 7),
	}
	applicationLBAttrs = map[string]attrSpec{
		attrDeletionProtection:         boolAttr(false),
		attrCrossZone:                  enumAttr("true", "true"),
		"access_logs.s3.enabled":       boolAttr(false),
		"access_logs.s3.bucket":        stringAttr(""),
		"access_logs.s3.prefix":        stringAttr(""),
		"connection_logs.s3.enabled":   boolAttr(false),
		"connection_logs.s3.bucket":    stringAttr(""),
		"connection_logs.s3.prefix":    stringAttr(""),
		"ipv6.deny_all_igw_traffic":    boolAttr(false),
		"idle_timeout.timeout_seconds": intAttr(60, 1, 4000),
		"client_keep_alive.seconds":    intAttr(3600, 60, 604800),
		"routing.http.desync_mitigation_mode": enumAttr("defensive",
			"monitor", "defensive", "strictest"),
		"routing.http.drop_invalid_header_fields.enabled":          boolAttr(false),
		"routing.http.preserve_host_header.enabled":                boolAttr(false),
		"routing.http.x_amzn_tls_version_and_cipher_suite.enabled": boolAttr(false),
		"routing.http.xff_client_port.enabled":                     boolAttr(false),
		"routing.http.xff_header_processing.mode":                  enumAttr("append", "append", "preserve", "remove"),
		"routing.http2.enabled":                                    boolAttr(true),
		"waf.fail_open.enabled":                                    boolAttr(false),
		"zonal_shift.config.enabled":                               boolAttr(false),
	}
)

// targetGroupHealthAttrs are the target group health requirements shared by
// every protocol.
func targetGroupHealthAttrs(m map[string]attrSpec) map[string]attrSpec {
	m["target_group_health.dns_failover.minimum_healthy_targets.count"] = offOrIntAttr("1", 1, 1<<30)
	m["target_group_health.dns_failover.minimum_healthy_targets.percentage"] = offOrIntAttr("off", 1, 100)
	m["target_group_health.unhealthy_state_routing.minimum_healthy_targets.count"] = intAttr(1, 1, 1<<30)
	m["target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage"] = offOrIntAttr("off", 1, 100)
	m[attrCrossZone] = enumAttr(tgCrossZoneUseLoadBalancerCfg, "true", "false", tgCrossZoneUseLoadBalancerCfg)
	m[attrDeregistrationDelay] = intAttr(300, 0, 3600)
	return m
}

// targetGroupAttrSpecs returns the attributes of a target group with the
// given protocol and target type, with AWS's defaults: client IP
// preservation is on for instance targets and for UDP and TCP_UDP groups,
// off for ip targets over TCP and TLS.
func targetGroupAttrSpecs(protocol, targetType string) map[string]attrSpec {
	if isL7Protocol(protocol) {
		return targetGroupHealthAttrs(map[string]attrSpec{
			"stickiness.enabled":                          boolAttr(false),
			"stickiness.type":                             enumAttr("lb_cookie", "lb_cookie", "app_cookie"),
			"stickiness.lb_cookie.duration_seconds":       intAttr(86400, 1, 604800),
			"stickiness.app_cookie.cookie_name":           stringAttr(""),
			"stickiness.app_cookie.duration_seconds":      intAttr(86400, 1, 604800),
			"load_balancing.algorithm.type":               enumAttr("round_robin", "round_robin", "least_outstanding_requests", "weighted_random"),
			"load_balancing.algorithm.anomaly_mitigation": enumAttr("off", "on", "off"),
			"slow_start.duration_seconds":                 slowStartAttr,
		})
	}
	preserve := targetType == TargetTypeInstance || protocol == "UDP" || protocol == "TCP_UDP"
	m := targetGroupHealthAttrs(map[string]attrSpec{
		"deregistration_delay.connection_termination.enabled": boolAttr(false),
		attrPreserveClientIP:        boolAttr(preserve),
		"proxy_protocol_v2.enabled": boolAttr(false),
		"stickiness.enabled":        boolAttr(false),
		"stickiness.type":           enumAttr("source_ip", "source_ip"),
		"target_health_state.unhealthy.connection_termination.enabled": boolAttr(true),
		"target_health_state.unhealthy.draining_interval_seconds":      intAttr(0, 0, 360000),
	})
	if protocol == "UDP" || protocol == "TCP_UDP" {
		// Client IP preservation cannot be turned off for UDP.
		m[attrPreserveClientIP] = enumAttr("true", "true")
	}
	return m
}

// AttrSourceRanges is kelb's listener attribute that limits the sources a
// listener accepts: a comma-separated list of CIDRs, empty for every
// source. It is what a Service's loadBalancerSourceRanges becomes, and an
// older way to say what the ingress rules of the load balancer's security
// groups say: with both, a client must be admitted by both (Admission).
const AttrSourceRanges = "kelb.source_ranges.cidrs"

// sourceRangesAttr accepts an empty list or comma-separated CIDRs.
var sourceRangesAttr = attrSpec{def: "", valid: func(v string) bool {
	_, err := ParseSourceRanges(v)
	return err == nil
}}

// ParseSourceRanges parses the value of AttrSourceRanges.
func ParseSourceRanges(v string) ([]netip.Prefix, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// listenerAttrSpecs returns the attributes of a listener with protocol.
func listenerAttrSpecs(protocol string) map[string]attrSpec {
	switch protocol {
	case "TCP", "TLS", "TCP_UDP":
		return map[string]attrSpec{attrTCPIdleTimeout: intAttr(350, 60, 6000), AttrSourceRanges: sourceRangesAttr}
	case "HTTP", "HTTPS":
		return applicationListenerAttrSpecs(map[string]attrSpec{AttrSourceRanges: sourceRangesAttr})
	}
	return map[string]attrSpec{AttrSourceRanges: sourceRangesAttr}
}

func defaultAttrs(specs map[string]attrSpec) map[string]string {
	m := make(map[string]string, len(specs))
	for k, s := range specs {
		m[k] = s.def
	}
	return m
}

// applyAttrs validates every change against specs before changing anything
// and returns current with the changes applied. what names the resource
// kind in error messages ("Load balancer", "Target group", "Listener").
func applyAttrs(what string, specs map[string]attrSpec, current map[string]string, changes []Attribute) (map[string]string, error) {
	if len(changes) == 0 {
		return nil, validationf("At least one attribute must be specified")
	}
	seen := map[string]bool{}
	for _, a := range changes {
		spec, ok := specs[a.Key]
		if !ok {
			return nil, validationf("%s attribute key '%s' is not recognized", what, a.Key)
		}
		if seen[a.Key] {
			return nil, validationf("%s attribute key '%s' is specified more than once", what, a.Key)
		}
		seen[a.Key] = true
		if !spec.valid(a.Value) {
			return nil, validationf("'%s' is not a valid value for %s attribute '%s'", a.Value, lower(what), a.Key)
		}
	}
	out := defaultAttrs(specs)
	for k, v := range current {
		if _, ok := specs[k]; ok {
			out[k] = v
		}
	}
	for _, a := range changes {
		out[a.Key] = a.Value
	}
	return out, nil
}

func lower(s string) string {
	if s == "" {
		return s
	}
	b := []byte(s)
	if b[0] >= 'A' && b[0] <= 'Z' {
		b[0] += 'a' - 'A'
	}
	return string(b)
}

// sortedAttrs returns attrs as a list sorted by key.
func sortedAttrs(attrs map[string]string) []Attribute {
	out := make([]Attribute, 0, len(attrs))
	for k, v := range attrs {
		out = append(out, Attribute{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// AttrInt reads an integer attribute: def when key is unset or not a
// number.
func AttrInt(attrs map[string]string, key string, def int) int {
	n, err := strconv.Atoi(attrs[key])
	if err != nil {
		return def
	}
	return n
}

// AttrBool reads a boolean attribute: def when key is unset or neither
// "true" nor "false".
func AttrBool(attrs map[string]string, key string, def bool) bool {
	switch attrs[key] {
	case "true":
		return true
	case "false":
		return false
	}
	return def
}

// Attribute is a key/value attribute of a load balancer, target group or
// listener.
type Attribute struct {
	Key   string
	Value string
}

func (a Attribute) String() string { return fmt.Sprintf("%s=%s", a.Key, a.Value) }

// stickinessTypes are the stickiness types each kind of target group
// supports.
func stickinessTypes(protocol string) []string {
	if isL7Protocol(protocol) {
		return []string{"lb_cookie", "app_cookie"}
	}
	return []string{"source_ip"}
}

// checkTargetGroupAttrChanges refuses, with AWS's InvalidConfigurationRequest,
// what a target group of protocol cannot have although other target groups
// can: a stickiness type of the other kind of group, stickiness on a TLS
// group (NLB stickiness does not work through TLS), and attribute keys of
// the other kind of group. Unknown keys and bad values are left to
// applyAttrs' ValidationError.
func checkTargetGroupAttrChanges(protocol, targetType string, changes []Attribute) error {
	own := targetGroupAttrSpecs(protocol, targetType)
	other := targetGroupAttrSpecs("TCP", targetType)
	if !isL7Protocol(protocol) {
		other = targetGroupAttrSpecs("HTTP", targetType)
	}
	for _, a := range changes {
		switch {
		case a.Key == "stickiness.type" && !slices.Contains(stickinessTypes(protocol), a.Value) &&
			slices.Contains(append(stickinessTypes("HTTP"), stickinessTypes("TCP")...), a.Value):
			return errorf(CodeInvalidConfigurationRequest, "Stickiness type '%s' is not supported for target groups with the %s protocol", a.Value, protocol)
		case a.Key == "stickiness.enabled" && a.Value == "true" && protocol == "TLS":
			return errorf(CodeInvalidConfigurationRequest, "Stickiness is not supported for target groups with the TLS protocol")
		}
		if _, mine := own[a.Key]; !mine {
			if _, theirs := other[a.Key]; theirs {
				return errorf(CodeInvalidConfigurationRequest, "The target group attribute '%s' is not supported for target groups with the %s protocol", a.Key, protocol)
			}
		}
	}
	return nil
}
