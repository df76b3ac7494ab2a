package elb

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strconv"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// AvailabilityZoneAll registers a target outside every zone's networks;
// it receives traffic from every zone.
const AvailabilityZoneAll = "all"

// TargetDescription names a target in RegisterTargets, DeregisterTargets
// and DescribeTargetHealth. Port 0 means the target group's port.
type TargetDescription struct {
	ID               string
	Port             int32
	AvailabilityZone string
	// InstanceID is set by resolveTargets when ID named an instance: ID
	// is then the instance's address.
	InstanceID string
}

// apiID is the target's Id as the API reports it: the instance id it was
// registered by, else its address.
func (t TargetDescription) apiID() string {
	if t.InstanceID != "" {
		return t.InstanceID
	}
	return t.ID
}

// TargetHealthDescription is one line of DescribeTargetHealth.
type TargetHealthDescription struct {
	Target          TargetDescription
	HealthCheckPort string
	TargetHealth    TargetHealth
}

// Descriptions of the reason codes the service itself reports.
const (
	descRegistrationInProgress   = "Target registration is in progress"
	descNotRegistered            = "Target is not registered to the target group"
	descNotInUse                 = "Target group is not configured to receive traffic from the load balancer"
	descDeregistrationInProgress = "Target deregistration is in progress"
)

// targetZone returns the zone of a target registered without one: the first
// zone whose TargetCIDRs contain its address, else a zone picked by a hash
// of the address, so that the same address always lands in the same zone.
func (s *Service) targetZone(a netip.Addr) string {
	for _, z := range s.cfg.Zones {
		for _, p := range z.TargetCIDRs {
			if p.Contains(a) {
				return z.Name
			}
		}
	}
	if len(s.cfg.Zones) == 0 {
		return ""
	}
	h := fnv.New32a()
	h.Write(a.AsSlice())
	return s.cfg.Zones[h.Sum32()%uint32(len(s.cfg.Zones))].Name
}

// resolveTargets validates targets for tg and fills in ports and zones.
func (s *Service) resolveTargets(tg *TargetGroup, targets []TargetDescription, register bool) ([]TargetDescription, error) {
	if len(targets) == 0 {
		return nil, validationf("At least one target must be specified")
	}
	out := make([]TargetDescription, 0, len(targets))
	for _, t := range targets {
		if t.Port == 0 {
			t.Port = tg.Port
		}
		if t.Port < 1 || t.Port > 65535 {
			return nil, errorf(CodeInvalidTarget, "The port '%d' of target '%s' is not valid", t.Port, t.ID)
		}
		if isInstanceID(t.ID) && tg.TargetType == TargetTypeInstance {
			in, ok := s.instance(t.ID)
			switch {
			case ok:
				t.InstanceID, t.ID = in.ID, in.Address.String()
			case register:
				return nil, errorf(CodeInvalidTarget, "The following targets are not in a running state and cannot be registered: '%s'", t.ID)
			default:
				out = append(out, t)
				continue
			}
		}
		a, err := netip.ParseAddr(t.ID)
		if !register {
			// A target that could never be registered is simply not
			// registered: describing it answers Target.NotRegistered and
			// deregistering it does nothing, as on AWS.
			if err == nil {
				t.ID = a.String()
			}
			out = append(out, t)
			continue
		}
		if err != nil || a.Zone() != "" {
			return nil, errorf(CodeInvalidTarget, "The target Id '%s' is not a valid IP address", t.ID)
		}
		if tg.IPAddressType == IPAddressTypeIPv4 && !a.Is4() {
			return nil, errorf(CodeInvalidTarget, "The IP address '%s' is not an IPv4 address", t.ID)
		}
		if tg.IPAddressType == IPAddressTypeIPv6 && (!a.Is6() || a.Is4In6()) {
			return nil, errorf(CodeInvalidTarget, "The IP address '%s' is not an IPv6 address; target group '%s' has IP address type 'ipv6'", t.ID, tg.Name)
		}
		given := t.AvailabilityZone
		switch {
		case t.AvailabilityZone == AvailabilityZoneAll:
			if tg.TargetType != TargetTypeIP {
				return nil, errorf(CodeInvalidTarget, "Availability zone 'all' is only valid for target type ip")
			}
		case t.AvailabilityZone != "":
			if !slices.ContainsFunc(s.cfg.Zones, func(z Zone) bool { return z.Name == t.AvailabilityZone }) {
				return nil, errorf(CodeInvalidTarget, "Availability zone '%s' of target '%s' is not enabled", t.AvailabilityZone, t.ID)
			}
		default:
			t.AvailabilityZone = s.targetZone(a)
		}
		if err := checkTargetAddress(a, s.cfg.VPCCIDRs, tg.TargetType, given); err != nil {
			return nil, err
		}
		t.ID = a.String()
		out = append(out, t)
	}
	return out, nil
}

// RegisterTargets adds targets to a target group. Registering a target that
// is registered already keeps it; registering a draining one registers it
// anew.
func (s *Service) RegisterTargets(ctx context.Context, tgARN string, targets []TargetDescription) error {
	if len(targets) > MaxTargetsPerTargetGroup {
		return fmt.Errorf("register targets in %s: %w", tgARN, tooManyTargets(tgARN, len(targets)))
	}
	now := s.now()
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		base, err := s.readWorld(tx)
		if err != nil {
			return err
		}
		tg, err := getTargetGroup(tx, tgARN)
		if err != nil {
			return err
		}
		resolved, err := s.resolveTargets(tg, targets, true)
		if err != nil {
			return err
		}
		for _, t := range resolved {
			i := slices.IndexFunc(tg.Targets, func(x Target) bool { return x.ID == t.ID && x.Port == t.Port })
			if i >= 0 {
				if tg.Targets[i].Draining() {
					tg.Targets[i] = Target{ID: t.ID, InstanceID: t.InstanceID, Port: t.Port, AvailabilityZone: t.AvailabilityZone, RegisteredAt: now}
				}
				continue
			}
			tg.Targets = append(tg.Targets, Target{ID: t.ID, InstanceID: t.InstanceID, Port: t.Port, AvailabilityZone: t.AvailabilityZone, RegisteredAt: now})
		}
		if len(tg.Targets) > MaxTargetsPerTargetGroup {
			return tooManyTargets(tgARN, len(tg.Targets))
		}
		if err := putJSON(tx, kindTargetGroup, tgARN, tg); err != nil {
			return err
		}
		return base.withTargetGroup(tg).checkQuotas(base.loadBalancersOf(tgARN))
	})
	if err != nil {
		return fmt.Errorf("register targets in %s: %w", tgARN, err)
	}
	return nil
}

func tooManyTargets(tgARN string, n int) *Error {
	return errorf(CodeTooManyTargets, "Target group '%s' would have %d targets; the limit is %d", tgARN, n, MaxTargetsPerTargetGroup)
}

// DeregisterTargets starts draining targets: they stay in the group with
// DeregisteredAt set until the group's deregistration delay has passed
// (Reconcile removes them then). Deregistering a target that is not
// registered does nothing, as on AWS.
func (s *Service) DeregisterTargets(ctx context.Context, tgARN string, targets []TargetDescription) error {
	if len(targets) > MaxTargetsPerTargetGroup {
		return fmt.Errorf("deregister targets from %s: %w", tgARN, validationf("At most %d targets can be deregistered at once", MaxTargetsPerTargetGroup))
	}
	now := s.now()
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		tg, err := getTargetGroup(tx, tgARN)
		if err != nil {
			return err
		}
		resolved, err := s.resolveTargets(tg, targets, false)
		if err != nil {
			return err
		}
		for _, t := range resolved {
			i := slices.IndexFunc(tg.Targets, func(x Target) bool { return x.ID == t.ID && x.Port == t.Port })
			if i < 0 {
				continue
			}
			if !tg.Targets[i].Draining() {
				tg.Targets[i].DeregisteredAt = now
			}
		}
		if AttrInt(tg.Attributes, attrDeregistrationDelay, 300) == 0 {
			tg.Targets = slices.DeleteFunc(tg.Targets, Target.Draining)
		}
		return putJSON(tx, kindTargetGroup, tgARN, tg)
	})
	if err != nil {
		return fmt.Errorf("deregister targets from %s: %w", tgARN, err)
	}
	return nil
}

// DescribeTargetHealth reports the health of the asked targets, or of every
// registered target when none is asked. A draining target is draining
// (Target.DeregistrationInProgress); a target of a group no load balancer
// routes to is unused (Target.NotInUse); an asked target that is not
// registered is unused (Target.NotRegistered); otherwise the health view's
// verdict, or initial (Elb.RegistrationInProgress) until it has one.
func (s *Service) DescribeTargetHealth(ctx context.Context, tgARN string, targets []TargetDescription) ([]TargetHealthDescription, error) {
	if len(targets) > MaxTargetsPerTargetGroup {
		return nil, fmt.Errorf("describe target health of %s: %w", tgARN, validationf("At most %d targets can be described at once", MaxTargetsPerTargetGroup))
	}
	var out []TargetHealthDescription
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		w, err := s.readWorld(tx)
		if err != nil {
			return err
		}
		tg, ok := w.tgs[tgARN]
		if !ok {
			return errorf(CodeTargetGroupNotFound, "Target groups '%s' not found", tgARN)
		}
		inUse := len(w.loadBalancersOf(tgARN)) > 0
		var asked []TargetDescription
		if len(targets) > 0 {
			if asked, err = s.resolveTargets(tg, targets, false); err != nil {
				return err
			}
		}
		describe := func(t Target) TargetHealthDescription {
			d := TargetHealthDescription{
				Target:          TargetDescription{ID: TargetDescription{ID: t.ID, InstanceID: t.InstanceID}.apiID(), Port: t.Port, AvailabilityZone: t.AvailabilityZone},
				HealthCheckPort: tg.HealthCheck.Port,
			}
			if d.HealthCheckPort == HealthCheckPortTraffic {
				d.HealthCheckPort = strconv.Itoa(int(t.Port))
			}
			switch {
			case t.Draining():
				d.TargetHealth = TargetHealth{State: HealthDraining, Reason: ReasonDeregistrationInProgress, Description: descDeregistrationInProgress}
			case !inUse:
				d.TargetHealth = TargetHealth{State: HealthUnused, Reason: ReasonNotInUse, Description: descNotInUse}
			default:
				h, ok := TargetHealth{}, false
				if s.cfg.Health != nil {
					h, ok = s.cfg.Health.TargetHealth(tgARN, TargetKey{ID: t.ID, Port: t.Port})
				}
				if !ok {
					h = TargetHealth{State: HealthInitial, Reason: ReasonRegistrationInProgress, Description: descRegistrationInProgress}
				}
				d.TargetHealth = h
			}
			return d
		}
		if len(asked) == 0 {
			for _, t := range tg.Targets {
				out = append(out, describe(t))
			}
			return nil
		}
		for _, a := range asked {
			i := slices.IndexFunc(tg.Targets, func(x Target) bool { return x.ID == a.ID && x.Port == a.Port })
			if i < 0 {
				d := TargetHealthDescription{
					Target:       TargetDescription{ID: a.apiID(), Port: a.Port, AvailabilityZone: a.AvailabilityZone},
					TargetHealth: TargetHealth{State: HealthUnused, Reason: ReasonNotRegistered, Description: descNotRegistered},
				}
				d.HealthCheckPort = tg.HealthCheck.Port
				if d.HealthCheckPort == HealthCheckPortTraffic {
					d.HealthCheckPort = strconv.Itoa(int(a.Port))
				}
				out = append(out, d)
				continue
			}
			out = append(out, describe(tg.Targets[i]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe target health of %s: %w", tgARN, err)
	}
	return out, nil
}
