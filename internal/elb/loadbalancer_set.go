package elb

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// Values of an NLB's EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic
// and of EnablePrefixForIpv6SourceNat.
const (
	On  = "on"
	Off = "off"
)

// IPAddressTypeDualNoPublicIPv4 is the ALB-only address type of IPv6
// without public IPv4 addresses.
const IPAddressTypeDualNoPublicIPv4 = "dualstack-without-public-ipv4"

// MaxSecurityGroupsPerLoadBalancer is AWS's quota of security groups per
// load balancer.
const MaxSecurityGroupsPerLoadBalancer = 5

// SetSubnetsInput is the input of SetSubnets.
type SetSubnetsInput struct {
	LoadBalancerARN string
	Subnets         []string
	SubnetMappings  []SubnetMapping
	// IPAddressType, when set, changes the address type in the same
	// request, as SetIpAddressType would.
	IPAddressType                string
	EnablePrefixForIpv6SourceNat string
}

// SetSubnets replaces the zones of a load balancer. A zone that stays keeps
// its address (asking it another address fails: remove the subnet first,
// as AWS requires changes within a zone to be separate requests); a new
// zone gets the requested or the lowest free address of its pool; a zone
// left out is removed and its address released, so the data plane stops
// listening there and DNS stops answering it. Network Load Balancers may
// remove zones too, as AWS allows them since 2025.
func (s *Service) SetSubnets(ctx context.Context, in SetSubnetsInput) (LoadBalancer, error) {
	if len(in.Subnets) == 0 && len(in.SubnetMappings) == 0 {
		return LoadBalancer{}, fmt.Errorf("set subnets of %s: %w", in.LoadBalancerARN, validationf("You must specify subnets or subnet mappings"))
	}
	zones, err := s.selectZones(in.Subnets, in.SubnetMappings)
	if err != nil {
		return LoadBalancer{}, fmt.Errorf("set subnets of %s: %w", in.LoadBalancerARN, err)
	}
	var out LoadBalancer
	err = s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		w, err := loadWorld(tx)
		if err != nil {
			return err
		}
		lb, ok := w.lbs[in.LoadBalancerARN]
		if !ok {
			return errorf(CodeLoadBalancerNotFound, "Load balancer '%s' not found", in.LoadBalancerARN)
		}
		addrType := cmp.Or(in.IPAddressType, lb.IPAddressType)
		nat := cmp.Or(in.EnablePrefixForIpv6SourceNat, lb.EnablePrefixForIPv6SourceNat)
		if err := checkSourceNatPrefix(in.EnablePrefixForIpv6SourceNat, lb.Type, addrType); err != nil {
			return err
		}
		if err := checkAddressTypeChange(w, lb, addrType, nat); err != nil {
			return err
		}
		next, err := placeZones(w, lb.Type, lb.Scheme, lb.Zones, zones, addrType, nat == On)
		if err != nil {
			return err
		}
		lb.Zones = next
		lb.IPAddressType = addrType
		lb.EnablePrefixForIPv6SourceNat = nat
		out = *lb
		return putJSON(tx, kindLoadBalancer, lb.ARN, lb)
	})
	if err != nil {
		return LoadBalancer{}, fmt.Errorf("set subnets of %s: %w", in.LoadBalancerARN, err)
	}
	return out, nil
}

// SetIPAddressType changes a load balancer's address type. Going
// dualstack gives every zone an IPv6 address (InvalidSubnet, and nothing
// changes, when a zone's subnet has no IPv6 network); going ipv4 releases
// them, so the data plane stops listening there and DNS drops the AAAA
// records. A load balancer that forwards to IPv6 target groups, or has
// source NAT prefixes on, cannot go ipv4.
func (s *Service) SetIPAddressType(ctx context.Context, arn, addrType string) (string, error) {
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		w, err := loadWorld(tx)
		if err != nil {
			return err
		}
		lb, ok := w.lbs[arn]
		if !ok {
			return errorf(CodeLoadBalancerNotFound, "Load balancer '%s' not found", arn)
		}
		if addrType == "" {
			return validationf("An IP address type must be specified")
		}
		if err := checkAddressTypeChange(w, lb, addrType, lb.EnablePrefixForIPv6SourceNat); err != nil {
			return err
		}
		var zones []zoneChoice
		for _, z := range lb.Zones {
			i := slices.IndexFunc(s.cfg.Zones, func(c Zone) bool { return c.Name == z.Zone })
			if i < 0 {
				return errorf(CodeInvalidSubnet, "Subnet '%s' of load balancer '%s' is no longer configured", z.SubnetID, lb.Name)
			}
			zones = append(zones, zoneChoice{zone: s.cfg.Zones[i]})
		}
		next, err := placeZones(w, lb.Type, lb.Scheme, lb.Zones, zones, addrType, lb.EnablePrefixForIPv6SourceNat == On)
		if err != nil {
			return err
		}
		lb.Zones = next
		lb.IPAddressType = addrType
		return putJSON(tx, kindLoadBalancer, arn, lb)
	})
	if err != nil {
		return "", fmt.Errorf("set address type of %s: %w", arn, err)
	}
	return addrType, nil
}

// SetSecurityGroupsInput is the input of SetSecurityGroups.
type SetSecurityGroupsInput struct {
	LoadBalancerARN string
	SecurityGroups  []string
	// EnforcePrivateLinkInbound is "on", "off" or empty (unchanged).
	EnforcePrivateLinkInbound string
}

// checkSecurityGroupIDs checks the form of security group ids and the
// quota: AWS answers InvalidSecurityGroup for an id that names no group,
// and an id that is not of the form sg-<alphanumerics> names none.
func checkSecurityGroupIDs(ids []string) *Error {
	if len(ids) > MaxSecurityGroupsPerLoadBalancer {
		return validationf("A load balancer can have at most %d security groups; %d were given", MaxSecurityGroupsPerLoadBalancer, len(ids))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		rest, ok := strings.CutPrefix(id, "sg-")
		if !ok || rest == "" || len(rest) > 32 || strings.IndexFunc(rest, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) >= 0 {
			return errorf("InvalidSecurityGroup", "Security group '%s' does not exist", id)
		}
		if seen[id] {
			return validationf("Security group '%s' is given more than once", id)
		}
		seen[id] = true
	}
	return nil
}

// SetSecurityGroups replaces the security groups of a load balancer and
// returns them with the NLB's PrivateLink enforcement setting. As on AWS,
// an NLB created without security groups cannot get any later
// (InvalidConfigurationRequest), and an ALB keeps at least one.
func (s *Service) SetSecurityGroups(ctx context.Context, in SetSecurityGroupsInput) (LoadBalancer, error) {
	var out LoadBalancer
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		lb, err := getLoadBalancer(tx, in.LoadBalancerARN)
		if err != nil {
			return err
		}
		if err := checkSecurityGroupIDs(in.SecurityGroups); err != nil {
			return err
		}
		switch lb.Type {
		case TypeNetwork:
			if len(lb.SecurityGroups) == 0 {
				return errorf(CodeInvalidConfigurationRequest, "Network Load Balancer '%s' was created without security groups, and security groups cannot be added to it", lb.Name)
			}
			switch in.EnforcePrivateLinkInbound {
			case "":
			case On, Off:
				lb.EnforcePrivateLinkInbound = in.EnforcePrivateLinkInbound
			default:
				return validationf("EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic '%s' is not valid; use 'on' or 'off'", in.EnforcePrivateLinkInbound)
			}
		default:
			if in.EnforcePrivateLinkInbound != "" {
				return validationf("EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic is only supported by Network Load Balancers")
			}
			if len(in.SecurityGroups) == 0 {
				return validationf("An Application Load Balancer must have at least one security group")
			}
		}
		if err := checkSecurityGroupsExist(tx, in.SecurityGroups); err != nil {
			return err
		}
		lb.SecurityGroups = slices.Clone(in.SecurityGroups)
		if lb.Type == TypeNetwork && lb.EnforcePrivateLinkInbound == "" {
			lb.EnforcePrivateLinkInbound = On
		}
		out = *lb
		return putJSON(tx, kindLoadBalancer, lb.ARN, lb)
	})
	if err != nil {
		return LoadBalancer{}, fmt.Errorf("set security groups of %s: %w", in.LoadBalancerARN, err)
	}
	return out, nil
}

// LoadBalancerSecurityGroups returns the security group ids of a load
// balancer, for the code that enforces their rules.
func (s *Service) LoadBalancerSecurityGroups(ctx context.Context, arn string) ([]string, error) {
	var out []string
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		lb, err := getLoadBalancer(tx, arn)
		if err != nil {
			return err
		}
		out = slices.Clone(lb.SecurityGroups)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("security groups of %s: %w", arn, err)
	}
	return out, nil
}
