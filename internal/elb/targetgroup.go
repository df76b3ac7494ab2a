package elb

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// Target types.
const (
	TargetTypeInstance = "instance"
	TargetTypeIP       = "ip"
)

// HealthCheckPortTraffic is the health check port meaning "the target's
// own port".
const HealthCheckPortTraffic = "traffic-port"

// Protocol versions of HTTP target groups.
const (
	ProtocolVersionHTTP1 = "HTTP1"
	ProtocolVersionHTTP2 = "HTTP2"
	ProtocolVersionGRPC  = "GRPC"
)

func isL7Protocol(p string) bool { return p == "HTTP" || p == "HTTPS" }

func isL4Protocol(p string) bool {
	return p == "TCP" || p == "UDP" || p == "TCP_UDP" || p == "TLS"
}

// HealthCheckInput holds the health check settings of CreateTargetGroup and
// ModifyTargetGroup; nil or empty fields keep the current (or default)
// value.
type HealthCheckInput struct {
	Protocol           string
	Port               string
	Path               string
	Enabled            *bool
	IntervalSeconds    *int32
	TimeoutSeconds     *int32
	HealthyThreshold   *int32
	UnhealthyThreshold *int32
	Matcher            *Matcher
}

// CreateTargetGroupInput is the input of CreateTargetGroup.
type CreateTargetGroupInput struct {
	Name            string
	Protocol        string
	ProtocolVersion string
	Port            int32
	VpcID           string
	// TargetType defaults to instance, as in ELBv2.
	TargetType    string
	IPAddressType string
	HealthCheck   HealthCheckInput
	Tags          []Tag
}

// TargetGroupDescription is a target group with the load balancers that
// route to it.
type TargetGroupDescription struct {
	TargetGroup
	LoadBalancerARNs []string
}

// defaultHealthCheck returns AWS's health check defaults for a target group
// protocol: for TCP, UDP, TCP_UDP and TLS groups a TCP check every 30s with
// a 10s timeout, 5 successes to become healthy and 2 failures to become
// unhealthy; for HTTP and HTTPS groups an HTTP(S) check of "/" every 30s
// with a 5s timeout, the same thresholds, and 200 as the success code (12
// for gRPC).
func defaultHealthCheck(protocol, version string) HealthCheck {
	if isL7Protocol(protocol) {
		hc := HealthCheck{
			Enabled: true, Protocol: protocol, Port: HealthCheckPortTraffic, Path: "/",
			IntervalSeconds: 30, TimeoutSeconds: 5, HealthyThreshold: 5, UnhealthyThreshold: 2,
			Matcher: Matcher{HTTPCode: "200"},
		}
		if version == ProtocolVersionGRPC {
			hc.Path = "/AWS.ALB/healthcheck"
			hc.Matcher = Matcher{GrpcCode: "12"}
		}
		return hc
	}
	return HealthCheck{
		Enabled: true, Protocol: "TCP", Port: HealthCheckPortTraffic,
		IntervalSeconds: 30, TimeoutSeconds: 10, HealthyThreshold: 5, UnhealthyThreshold: 2,
	}
}

// applyHealthCheck returns hc with in applied, after validating the result
// for a target group of protocol.
func applyHealthCheck(hc HealthCheck, in HealthCheckInput, protocol, version string) (HealthCheck, error) {
	if in.Protocol != "" && in.Protocol != hc.Protocol {
		switch {
		case isL7Protocol(protocol) && !isL7Protocol(in.Protocol):
			return hc, errorf(CodeInvalidConfigurationRequest, "Health check protocol '%s' is not supported for target groups with the %s protocol", in.Protocol, protocol)
		case !isL7Protocol(in.Protocol) && in.Protocol != "TCP":
			return hc, validationf("Health check protocol '%s' is not supported", in.Protocol)
		}
		prev := hc.Protocol
		hc.Protocol = in.Protocol
		switch {
		case isL7Protocol(in.Protocol) && !isL7Protocol(prev):
			hc.Path, hc.Matcher = "/", Matcher{HTTPCode: "200-399"}
			if in.Protocol == "HTTP" && in.TimeoutSeconds == nil && hc.TimeoutSeconds == 10 {
				hc.TimeoutSeconds = 6
			}
		case !isL7Protocol(in.Protocol):
			hc.Path, hc.Matcher = "", Matcher{}
		}
	}
	if in.Port != "" {
		if in.Port != HealthCheckPortTraffic {
			n, err := strconv.Atoi(in.Port)
			if err != nil || n < 1 || n > 65535 {
				return hc, validationf("Health check port '%s' must be 'traffic-port' or a port number from 1 to 65535", in.Port)
			}
		}
		hc.Port = in.Port
	}
	if in.Path != "" {
		if !isL7Protocol(hc.Protocol) {
			return hc, errorf(CodeInvalidConfigurationRequest, "A health check path can only be specified for HTTP or HTTPS health checks")
		}
		if !strings.HasPrefix(in.Path, "/") {
			return hc, validationf("Health check path '%s' must begin with '/'", in.Path)
		}
		hc.Path = in.Path
	}
	if in.Enabled != nil {
		if !*in.Enabled {
			return hc, errorf(CodeInvalidConfigurationRequest, "Health checks cannot be disabled for target groups with target type instance or ip")
		}
		hc.Enabled = true
	}
	set := func(dst *int32, v *int32, name string, lo, hi int32) error {
		if v == nil {
			return nil
		}
		if *v < lo || *v > hi {
			return validationf("%s must be between %d and %d", name, lo, hi)
		}
		*dst = *v
		return nil
	}
	if err := set(&hc.IntervalSeconds, in.IntervalSeconds, "Health check interval", 5, 300); err != nil {
		return hc, err
	}
	if err := set(&hc.TimeoutSeconds, in.TimeoutSeconds, "Health check timeout", 2, 120); err != nil {
		return hc, err
	}
	if err := set(&hc.HealthyThreshold, in.HealthyThreshold, "Healthy threshold count", 2, 10); err != nil {
		return hc, err
	}
	if err := set(&hc.UnhealthyThreshold, in.UnhealthyThreshold, "Unhealthy threshold count", 2, 10); err != nil {
		return hc, err
	}
	// Application load balancers need the timeout below the interval;
	// network load balancers accept it equal (the AWS Load Balancer
	// Controller's NLB defaults are 10 and 10). A default timeout that a
	// shorter interval leaves too long follows the interval down.
	maxTimeout := hc.IntervalSeconds
	if isL7Protocol(protocol) {
		maxTimeout--
	}
	if in.TimeoutSeconds == nil && hc.TimeoutSeconds > maxTimeout {
		hc.TimeoutSeconds = max(maxTimeout, 2)
	}
	if hc.TimeoutSeconds > maxTimeout {
		if isL7Protocol(protocol) {
			return hc, validationf("Health check interval must be greater than the timeout.")
		}
		return hc, validationf("Health check interval must be greater than or equal to the timeout.")
	}
	if in.Matcher != nil {
		if !isL7Protocol(hc.Protocol) {
			return hc, errorf(CodeInvalidConfigurationRequest, "A health check matcher can only be specified for HTTP or HTTPS health checks")
		}
		m := *in.Matcher
		if m.GrpcCode != "" && version != ProtocolVersionGRPC {
			return hc, errorf(CodeInvalidConfigurationRequest, "A gRPC code matcher requires protocol version GRPC")
		}
		if m.HTTPCode != "" {
			lo, hi := 200, 499
			if isL4Protocol(protocol) {
				hi = 599
			}
			if err := validateCodes(m.HTTPCode, lo, hi); err != nil {
				return hc, err
			}
		}
		if m.GrpcCode != "" {
			if err := validateCodes(m.GrpcCode, 0, 99); err != nil {
				return hc, err
			}
		}
		hc.Matcher = m
	}
	return hc, nil
}

// validateCodes checks a matcher: codes and ranges ("200,202", "200-299").
func validateCodes(s string, lo, hi int) error {
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		x, err1 := strconv.Atoi(a)
		y := x
		var err2 error
		if isRange {
			y, err2 = strconv.Atoi(b)
		}
		if err1 != nil || err2 != nil || x < lo || y > hi || x > y {
			return validationf("Health check matcher '%s' must be codes or ranges between %d and %d", s, lo, hi)
		}
	}
	return nil
}

// CreateTargetGroup creates a target group with AWS's health check and
// attribute defaults for its protocol. Creating a target group that exists
// with the same protocol, port and target type returns it; with other
// settings it fails with DuplicateTargetGroupName. Its VPC must be kelb
// server's (ValidationError otherwise, as AWS answers for a VPC that does
// not exist).
func (s *Service) CreateTargetGroup(ctx context.Context, in CreateTargetGroupInput) (TargetGroup, error) {
	if in.TargetType == "" {
		in.TargetType = TargetTypeInstance
	}
	if in.IPAddressType == "" {
		in.IPAddressType = IPAddressTypeIPv4
	}
	if err := validateName("Target group", in.Name); err != nil {
		return TargetGroup{}, err
	}
	if in.TargetType != TargetTypeInstance && in.TargetType != TargetTypeIP {
		return TargetGroup{}, errorf(CodeInvalidConfigurationRequest, "Target type '%s' is not supported by kelb", in.TargetType)
	}
	// Target types instance and ip need a protocol, a port and a VPC
	// (lambda would refuse them, but kelb has no lambda targets).
	if in.Protocol == "" {
		return TargetGroup{}, validationf("A protocol must be specified")
	}
	if in.Port == 0 {
		return TargetGroup{}, validationf("A port must be specified")
	}
	if in.VpcID == "" {
		return TargetGroup{}, validationf("A VPC ID must be specified")
	}
	if in.VpcID != s.cfg.VpcID {
		// kelb server is one VPC; AWS answers so for a VPC it does not have.
		return TargetGroup{}, validationf("The VPC ID '%s' is not found", in.VpcID)
	}
	if !isL4Protocol(in.Protocol) && !isL7Protocol(in.Protocol) {
		return TargetGroup{}, validationf("Protocol '%s' is not supported for target groups", in.Protocol)
	}
	if in.Port < 1 || in.Port > 65535 {
		return TargetGroup{}, validationf("Port must be between 1 and 65535")
	}
	if err := checkTargetGroupAddressType(in.IPAddressType, in.TargetType); err != nil {
		return TargetGroup{}, err
	}
	if in.ProtocolVersion != "" {
		if !isL7Protocol(in.Protocol) {
			return TargetGroup{}, errorf(CodeInvalidConfigurationRequest, "A protocol version can only be specified for HTTP or HTTPS target groups")
		}
		if !slices.Contains([]string{ProtocolVersionHTTP1, ProtocolVersionHTTP2, ProtocolVersionGRPC}, in.ProtocolVersion) {
			return TargetGroup{}, validationf("Protocol version '%s' is not valid", in.ProtocolVersion)
		}
	} else if isL7Protocol(in.Protocol) {
		in.ProtocolVersion = ProtocolVersionHTTP1
	}
	if err := checkNewTags(in.Tags); err != nil {
		return TargetGroup{}, err
	}
	hc := defaultHealthCheck(in.Protocol, in.ProtocolVersion)
	if isL4Protocol(in.Protocol) && isL7Protocol(in.HealthCheck.Protocol) && in.HealthCheck.Matcher == nil {
		hc.Matcher = Matcher{HTTPCode: "200-399"}
	}
	hc, err := applyHealthCheck(hc, in.HealthCheck, in.Protocol, in.ProtocolVersion)
	if err != nil {
		return TargetGroup{}, err
	}

	var out TargetGroup
	err = s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		// Shared: read only, before this transaction writes.
		w, err := s.readWorld(tx)
		if err != nil {
			return err
		}
		tgs := w.tgs
		for _, tg := range tgs {
			if tg.Name != in.Name {
				continue
			}
			if tg.Protocol == in.Protocol && tg.Port == in.Port && tg.TargetType == in.TargetType {
				out, err = detach[TargetGroup](w, tg.ARN)
				return err
			}
			return errorf(CodeDuplicateTargetGroupName, "A target group with the same name '%s' exists, but with different settings", in.Name)
		}
		if len(tgs) >= MaxTargetGroups {
			return errorf("TooManyTargetGroups", "There are %d target groups already; the limit is %d", len(tgs), MaxTargetGroups)
		}
		tg := TargetGroup{
			ARN:             s.arn("targetgroup/" + in.Name + "/" + newID()),
			Name:            in.Name,
			Protocol:        in.Protocol,
			ProtocolVersion: in.ProtocolVersion,
			Port:            in.Port,
			TargetType:      in.TargetType,
			IPAddressType:   in.IPAddressType,
			VpcID:           in.VpcID,
			HealthCheck:     hc,
			Attributes:      defaultAttrs(targetGroupAttrSpecs(in.Protocol, in.TargetType)),
			Tags:            in.Tags,
			CreatedTime:     s.now(),
		}
		out = tg
		return putJSON(tx, kindTargetGroup, tg.ARN, tg)
	})
	if err != nil {
		return TargetGroup{}, fmt.Errorf("create target group %s: %w", in.Name, err)
	}
	return out, nil
}

// DescribeTargetGroupsInput selects target groups by load balancer, ARN or
// name; empty selects all.
type DescribeTargetGroupsInput struct {
	LoadBalancerARN string
	TargetGroupARNs []string
	Names           []string
}

// DescribeTargetGroups returns the selected target groups sorted by name.
func (s *Service) DescribeTargetGroups(ctx context.Context, in DescribeTargetGroupsInput) ([]TargetGroupDescription, error) {
	n := 0
	for _, set := range []bool{in.LoadBalancerARN != "", len(in.TargetGroupARNs) > 0, len(in.Names) > 0} {
		if set {
			n++
		}
	}
	if n > 1 {
		return nil, validationf("Only one of load balancer ARN, target group ARNs or names can be specified")
	}
	var out []TargetGroupDescription
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		w, err := s.readWorld(tx)
		if err != nil {
			return err
		}
		var sel []*TargetGroup
		switch {
		case in.LoadBalancerARN != "":
			if _, ok := w.lbs[in.LoadBalancerARN]; !ok {
				return errorf(CodeLoadBalancerNotFound, "Load balancer '%s' not found", in.LoadBalancerARN)
			}
			users := w.targetGroupUsers()
			for _, tg := range w.tgs {
				if slices.Contains(users[tg.ARN], in.LoadBalancerARN) {
					sel = append(sel, tg)
				}
			}
		case len(in.TargetGroupARNs) > 0:
			for _, arn := range in.TargetGroupARNs {
				tg, ok := w.tgs[arn]
				if !ok {
					return errorf(CodeTargetGroupNotFound, "Target groups '%s' not found", arn)
				}
				sel = append(sel, tg)
			}
		case len(in.Names) > 0:
			byName := map[string]*TargetGroup{}
			for _, tg := range w.tgs {
				byName[tg.Name] = tg
			}
			for _, name := range in.Names {
				tg, ok := byName[name]
				if !ok {
					return errorf(CodeTargetGroupNotFound, "One or more target groups not found")
				}
				sel = append(sel, tg)
			}
		default:
			sel = sortedValues(w.tgs, func(v *TargetGroup) string { return v.Name })
		}
		users := w.targetGroupUsers()
		seen := map[string]bool{}
		for _, tg := range sel {
			if seen[tg.ARN] {
				continue
			}
			seen[tg.ARN] = true
			c, err := detach[TargetGroup](w, tg.ARN)
			if err != nil {
				return err
			}
			out = append(out, TargetGroupDescription{TargetGroup: c, LoadBalancerARNs: slices.Clone(usersOf(users, tg.ARN))})
		}
		slices.SortFunc(out, func(a, b TargetGroupDescription) int { return strings.Compare(a.Name, b.Name) })
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe target groups: %w", err)
	}
	return out, nil
}

// ModifyTargetGroup changes the health check settings of a target group.
func (s *Service) ModifyTargetGroup(ctx context.Context, arn string, in HealthCheckInput) (TargetGroupDescription, error) {
	var out TargetGroupDescription
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		w, err := loadWorld(tx)
		if err != nil {
			return err
		}
		tg, ok := w.tgs[arn]
		if !ok {
			return errorf(CodeTargetGroupNotFound, "Target group '%s' not found", arn)
		}
		hc, err := applyHealthCheck(tg.HealthCheck, in, tg.Protocol, tg.ProtocolVersion)
		if err != nil {
			return err
		}
		tg.HealthCheck = hc
		out = TargetGroupDescription{TargetGroup: *tg, LoadBalancerARNs: w.loadBalancersOf(arn)}
		return putJSON(tx, kindTargetGroup, arn, tg)
	})
	if err != nil {
		return TargetGroupDescription{}, fmt.Errorf("modify target group %s: %w", arn, err)
	}
	return out, nil
}

// DeleteTargetGroup deletes a target group. Deleting one that does not
// exist succeeds; one that a listener or rule forwards to fails with
// ResourceInUse.
func (s *Service) DeleteTargetGroup(ctx context.Context, arn string) error {
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		w, err := loadWorld(tx)
		if err != nil {
			return err
		}
		if _, ok := w.tgs[arn]; !ok {
			if kindOfARN(arn) != kindTargetGroup {
				return validationf("'%s' is not a valid target group ARN", arn)
			}
			return nil
		}
		if lbs := w.loadBalancersOf(arn); len(lbs) > 0 {
			return errorf(CodeResourceInUse, "Target group '%s' is currently in use by a listener or a rule", arn)
		}
		return tx.Delete(kindTargetGroup, arn)
	})
	if err != nil {
		return fmt.Errorf("delete target group %s: %w", arn, err)
	}
	return nil
}

// DescribeTargetGroupAttributes returns every attribute of a target group,
// sorted by key.
func (s *Service) DescribeTargetGroupAttributes(ctx context.Context, arn string) ([]Attribute, error) {
	var out []Attribute
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		tg, err := getTargetGroup(tx, arn)
		if err != nil {
			return err
		}
		out = sortedAttrs(tg.Attributes)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe target group attributes %s: %w", arn, err)
	}
	return out, nil
}

// ModifyTargetGroupAttributes changes attributes of a target group and
// returns all of them.
func (s *Service) ModifyTargetGroupAttributes(ctx context.Context, arn string, attrs []Attribute) ([]Attribute, error) {
	var out []Attribute
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		tg, err := getTargetGroup(tx, arn)
		if err != nil {
			return err
		}
		if err := checkTargetGroupAttrChanges(tg.Protocol, tg.TargetType, attrs); err != nil {
			return err
		}
		next, err := applyAttrs("Target group", targetGroupAttrSpecs(tg.Protocol, tg.TargetType), tg.Attributes, attrs)
		if err != nil {
			return err
		}
		tg.Attributes = next
		out = sortedAttrs(next)
		return putJSON(tx, kindTargetGroup, arn, tg)
	})
	if err != nil {
		return nil, fmt.Errorf("modify target group attributes %s: %w", arn, err)
	}
	return out, nil
}

func getTargetGroup(tx store.ReadTx, arn string) (*TargetGroup, error) {
	return getJSON[TargetGroup](tx, kindTargetGroup, arn,
		errorf(CodeTargetGroupNotFound, "Target group '%s' not found", arn))
}
