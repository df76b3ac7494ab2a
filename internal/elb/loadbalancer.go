package elb

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// Schemes and address types.
const (
	SchemeInternetFacing = "internet-facing"
	SchemeInternal       = "internal"
	IPAddressTypeIPv4    = "ipv4"
	IPAddressTypeDual    = "dualstack"
)

// SubnetMapping selects a zone by subnet id, optionally with the address
// the load balancer gets there.
type SubnetMapping struct {
	SubnetID           string
	PrivateIPv4Address string
	// AllocationID is refused: kelb has no Elastic IPs.
	AllocationID string
	// IPv6Address is an NLB's IPv6 address in a dualstack load balancer's
	// zone, from the zone's IPv6 network.
	IPv6Address string
	// SourceNatIPv6Prefix is a dualstack NLB's source NAT prefix in the
	// zone (a /80 of its IPv6 network, or auto_assigned).
	SourceNatIPv6Prefix string
}

// CreateLoadBalancerInput is the input of CreateLoadBalancer.
type CreateLoadBalancerInput struct {
	Name string
	// Type defaults to application, as in ELBv2.
	Type           string
	Scheme         string
	IPAddressType  string
	Subnets        []string
	SubnetMappings []SubnetMapping
	SecurityGroups []string
	Tags           []Tag
	// EnablePrefixForIpv6SourceNat is "on" (dualstack NLBs only), "off"
	// or empty (off).
	EnablePrefixForIpv6SourceNat string
}

// CreateLoadBalancer creates a load balancer with one address in each
// selected zone (every zone when no subnet is given). Creating a load
// balancer that exists with the same type and scheme returns it, as ELBv2
// does; with other settings it fails with DuplicateLoadBalancerName.
func (s *Service) CreateLoadBalancer(ctx context.Context, in CreateLoadBalancerInput) (LoadBalancer, error) {
	if in.Type == "" {
		in.Type = TypeApplication
	}
	if in.Scheme == "" {
		in.Scheme = SchemeInternetFacing
	}
	if in.IPAddressType == "" {
		in.IPAddressType = IPAddressTypeIPv4
	}
	if err := validateName("LoadBalancer", in.Name); err != nil {
		return LoadBalancer{}, err
	}
	if strings.HasPrefix(in.Name, "internal-") {
		return LoadBalancer{}, validationf("Load balancer name '%s' cannot begin with 'internal-'", in.Name)
	}
	if in.Type != TypeNetwork && in.Type != TypeApplication {
		return LoadBalancer{}, validationf("Load balancer type '%s' is not supported", in.Type)
	}
	if in.Scheme != SchemeInternetFacing && in.Scheme != SchemeInternal {
		return LoadBalancer{}, errorf("InvalidScheme", "Scheme '%s' is not valid", in.Scheme)
	}
	if err := checkNewTags(in.Tags); err != nil {
		return LoadBalancer{}, err
	}
	if err := checkSecurityGroupIDs(in.SecurityGroups); err != nil {
		return LoadBalancer{}, err
	}
	if err := checkSourceNatPrefix(in.EnablePrefixForIpv6SourceNat, in.Type, in.IPAddressType); err != nil {
		return LoadBalancer{}, err
	}
	zones, err := s.selectZones(in.Subnets, in.SubnetMappings)
	if err != nil {
		return LoadBalancer{}, err
	}
	var cfgZones []Zone
	for _, c := range zones {
		cfgZones = append(cfgZones, c.zone)
	}
	if err := checkIPAddressType(in.IPAddressType, in.Type, in.Scheme, cfgZones); err != nil {
		return LoadBalancer{}, err
	}
	natPrefix := ""
	if in.Type == TypeNetwork {
		natPrefix = cmp.Or(in.EnablePrefixForIpv6SourceNat, Off)
	}

	var out LoadBalancer
	err = s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		// Shared: read only, before this transaction writes.
		w, err := s.readWorld(tx)
		if err != nil {
			return err
		}
		for _, lb := range w.lbs {
			if lb.Name != in.Name {
				continue
			}
			if lb.Type == in.Type && lb.Scheme == in.Scheme {
				out, err = detach[LoadBalancer](w, lb.ARN)
				return err
			}
			return errorf(CodeDuplicateLoadBalancerName, "A load balancer with the same name '%s' exists, but with different settings", in.Name)
		}
		n := 0
		for _, lb := range w.lbs {
			if lb.Type == in.Type {
				n++
			}
		}
		if n >= s.cfg.MaxLoadBalancersPerType {
			return errorf("TooManyLoadBalancers", "There are %d %s load balancers already; the limit is %d", n, in.Type, s.cfg.MaxLoadBalancersPerType)
		}
		if err := checkSecurityGroupsExist(tx, in.SecurityGroups); err != nil {
			return err
		}
		addrs, err := placeZones(w, in.Type, in.Scheme, nil, zones, in.IPAddressType, natPrefix == On)
		if err != nil {
			return err
		}
		id := newID()
		typ := "net"
		specs := networkLBAttrs
		if in.Type == TypeApplication {
			typ, specs = "app", applicationLBAttrs
		}
		now := s.now()
		lb := LoadBalancer{
			ARN:                          s.arn("loadbalancer/" + typ + "/" + in.Name + "/" + id),
			Name:                         in.Name,
			Type:                         in.Type,
			Scheme:                       in.Scheme,
			IPAddressType:                in.IPAddressType,
			EnablePrefixForIPv6SourceNat: natPrefix,
			DNSName:                      fmt.Sprintf("%s-%s.elb.%s.%s", in.Name, id, s.cfg.Region, s.cfg.DNSDomain),
			State:                        StateActive,
			CreatedTime:                  now,
			Zones:                        addrs,
			SecurityGroups:               in.SecurityGroups,
			// An NLB with security groups enforces them on PrivateLink
			// traffic unless told otherwise, as on AWS.
			EnforcePrivateLinkInbound: privateLinkDefault(in.Type, in.SecurityGroups),
			Attributes:                defaultAttrs(specs),
			Tags:                      in.Tags,
		}
		if s.cfg.ProvisioningDelay > 0 {
			lb.State = StateProvisioning
		}
		if err := putJSON(tx, kindLoadBalancer, lb.ARN, lb); err != nil {
			return err
		}
		out = lb
		// A new load balancer answers provisioning, as on AWS, even when it
		// is active at once.
		out.State = StateProvisioning
		return nil
	})
	if err != nil {
		return LoadBalancer{}, fmt.Errorf("create load balancer %s: %w", in.Name, err)
	}
	return out, nil
}

func privateLinkDefault(lbType string, groups []string) string {
	if lbType == TypeNetwork && len(groups) > 0 {
		return On
	}
	return ""
}

// zoneChoice is a selected zone with optional requested addresses and
// source NAT prefix (as given: empty, auto_assigned or a prefix).
type zoneChoice struct {
	zone      Zone
	addr      netip.Addr
	addr6     netip.Addr
	natPrefix string
}

func (s *Service) selectZones(subnets []string, mappings []SubnetMapping) ([]zoneChoice, error) {
	if len(subnets) > 0 && len(mappings) > 0 {
		return nil, validationf("You can specify subnets or subnet mappings, not both")
	}
	for _, id := range subnets {
		mappings = append(mappings, SubnetMapping{SubnetID: id})
	}
	if len(mappings) == 0 {
		if len(s.cfg.Zones) == 0 {
			return nil, errorf(CodeInvalidConfigurationRequest, "kelb server has no zones configured")
		}
		var out []zoneChoice
		for _, z := range s.cfg.Zones {
			out = append(out, zoneChoice{zone: z})
		}
		return out, nil
	}
	var out []zoneChoice
	used := map[string]bool{}
	for _, m := range mappings {
		i := slices.IndexFunc(s.cfg.Zones, func(z Zone) bool { return z.SubnetID == m.SubnetID })
		if i < 0 {
			return nil, errorf(CodeSubnetNotFound, "The subnet ID '%s' is not valid", m.SubnetID)
		}
		z := s.cfg.Zones[i]
		if used[z.Name] {
			return nil, errorf(CodeInvalidConfigurationRequest, "A load balancer cannot be attached to multiple subnets in the same Availability Zone '%s'", z.Name)
		}
		used[z.Name] = true
		if m.AllocationID != "" {
			return nil, errorf("AllocationIdNotFound", "The allocation ID '%s' does not exist: kelb has no Elastic IP addresses", m.AllocationID)
		}
		c := zoneChoice{zone: z, natPrefix: m.SourceNatIPv6Prefix}
		if m.IPv6Address != "" {
			a, err := netip.ParseAddr(m.IPv6Address)
			if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
				return nil, validationf("The IPv6 address '%s' is not valid", m.IPv6Address)
			}
			if !z.IPv6Pool.IsValid() || !usableInPool(z.IPv6Pool, a) {
				return nil, errorf(CodeInvalidConfigurationRequest, "The IPv6 address '%s' is not in the IPv6 CIDR block of subnet '%s'", a, z.SubnetID)
			}
			c.addr6 = a
		}
		if m.PrivateIPv4Address != "" {
			a, err := netip.ParseAddr(m.PrivateIPv4Address)
			if err != nil || !a.Is4() {
				return nil, validationf("The private IPv4 address '%s' is not valid", m.PrivateIPv4Address)
			}
			if !usableInPool(z.Pool, a) {
				return nil, errorf(CodeInvalidConfigurationRequest, "The private IPv4 address '%s' is not in subnet '%s'", a, z.SubnetID)
			}
			c.addr = a
		}
		out = append(out, c)
	}
	return out, nil
}

// usableInPool reports whether a is in pool and is neither its network nor
// (for IPv4 pools of more than two addresses) its broadcast address.
func usableInPool(pool netip.Prefix, a netip.Addr) bool {
	pool = pool.Masked()
	if !pool.Contains(a) || a == pool.Addr() {
		return false
	}
	if a.Is4() && pool.Bits() < 31 {
		return a != lastAddr(pool)
	}
	return true
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// validateName checks a load balancer or target group name as ELBv2 does:
// 1 to 32 alphanumerics or hyphens, not beginning or ending with a hyphen
// and without two hyphens in a row.
func validateName(what, name string) error {
	if name == "" {
		return validationf("%s name cannot be empty", what)
	}
	if len(name) > 32 {
		return validationf("%s name cannot be longer than 32 characters", what)
	}
	if name[0] == '-' || name[len(name)-1] == '-' {
		return validationf("%s name cannot begin or end with a hyphen", what)
	}
	if strings.Contains(name, "--") {
		return validationf("%s name '%s' cannot contain two consecutive hyphens", what, name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return validationf("%s name '%s' can only contain alphanumeric characters and hyphens", what, name)
		}
	}
	return nil
}

// DescribeLoadBalancersInput selects load balancers by ARN or name; empty
// selects all.
type DescribeLoadBalancersInput struct {
	LoadBalancerARNs []string
	Names            []string
}

// DescribeLoadBalancers returns the selected load balancers sorted by name.
// Asking for one that does not exist fails with LoadBalancerNotFound.
func (s *Service) DescribeLoadBalancers(ctx context.Context, in DescribeLoadBalancersInput) ([]LoadBalancer, error) {
	if len(in.LoadBalancerARNs) > 0 && len(in.Names) > 0 {
		return nil, validationf("Load balancer names and load balancer ARNs cannot be specified at the same time")
	}
	var out []LoadBalancer
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		w, err := s.readWorld(tx)
		if err != nil {
			return err
		}
		lbs := w.lbs
		byName := map[string]*LoadBalancer{}
		for _, lb := range lbs {
			byName[lb.Name] = lb
		}
		var sel []*LoadBalancer
		switch {
		case len(in.LoadBalancerARNs) > 0:
			for _, arn := range in.LoadBalancerARNs {
				lb, ok := lbs[arn]
				if !ok {
					return errorf(CodeLoadBalancerNotFound, "Load balancer '%s' not found", arn)
				}
				sel = append(sel, lb)
			}
		case len(in.Names) > 0:
			for _, n := range in.Names {
				lb, ok := byName[n]
				if !ok {
					return errorf(CodeLoadBalancerNotFound, "Load balancers '[%s]' not found", n)
				}
				sel = append(sel, lb)
			}
		default:
			sel = sortedValues(lbs, func(v *LoadBalancer) string { return v.Name })
		}
		seen := map[string]bool{}
		for _, lb := range sel {
			if !seen[lb.ARN] {
				seen[lb.ARN] = true
				c, err := detach[LoadBalancer](w, lb.ARN)
				if err != nil {
					return err
				}
				out = append(out, c)
			}
		}
		slices.SortFunc(out, func(a, b LoadBalancer) int { return strings.Compare(a.Name, b.Name) })
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe load balancers: %w", err)
	}
	return out, nil
}

// DeleteLoadBalancer deletes a load balancer with its listeners and rules
// and releases its addresses. Deleting a load balancer that does not exist
// succeeds; one with deletion protection fails with OperationNotPermitted.
func (s *Service) DeleteLoadBalancer(ctx context.Context, arn string) error {
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		w, err := loadWorld(tx)
		if err != nil {
			return err
		}
		lb, ok := w.lbs[arn]
		if !ok {
			if kindOfARN(arn) != kindLoadBalancer {
				return validationf("'%s' is not a valid load balancer ARN", arn)
			}
			return nil
		}
		if lb.Attributes[attrDeletionProtection] == "true" {
			return errorf(CodeOperationNotPermitted, "Load balancer '%s' cannot be deleted because deletion protection is enabled", arn)
		}
		for _, l := range w.listeners {
			if l.LoadBalancerARN != arn {
				continue
			}
			for _, r := range w.rules {
				if r.ListenerARN == l.ARN {
					if err := tx.Delete(kindRule, r.ARN); err != nil {
						return err
					}
				}
			}
			if err := tx.Delete(kindListener, l.ARN); err != nil {
				return err
			}
		}
		return tx.Delete(kindLoadBalancer, arn)
	})
	if err != nil {
		return fmt.Errorf("delete load balancer %s: %w", arn, err)
	}
	return nil
}

// DescribeLoadBalancerAttributes returns every attribute of a load balancer,
// sorted by key.
func (s *Service) DescribeLoadBalancerAttributes(ctx context.Context, arn string) ([]Attribute, error) {
	var out []Attribute
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		lb, err := getLoadBalancer(tx, arn)
		if err != nil {
			return err
		}
		out = sortedAttrs(lb.Attributes)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe load balancer attributes %s: %w", arn, err)
	}
	return out, nil
}

// ModifyLoadBalancerAttributes changes attributes of a load balancer and
// returns all of them.
func (s *Service) ModifyLoadBalancerAttributes(ctx context.Context, arn string, attrs []Attribute) ([]Attribute, error) {
	var out []Attribute
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		lb, err := getLoadBalancer(tx, arn)
		if err != nil {
			return err
		}
		specs := networkLBAttrs
		if lb.Type == TypeApplication {
			specs = applicationLBAttrs
		}
		next, err := applyAttrs("Load balancer", specs, lb.Attributes, attrs)
		if err != nil {
			return err
		}
		lb.Attributes = next
		out = sortedAttrs(next)
		return putJSON(tx, kindLoadBalancer, arn, lb)
	})
	if err != nil {
		return nil, fmt.Errorf("modify load balancer attributes %s: %w", arn, err)
	}
	return out, nil
}

func getLoadBalancer(tx store.ReadTx, arn string) (*LoadBalancer, error) {
	return getJSON[LoadBalancer](tx, kindLoadBalancer, arn,
		errorf(CodeLoadBalancerNotFound, "Load balancer '%s' not found", arn))
}
