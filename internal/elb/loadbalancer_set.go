package elb

import (
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

// checkIPAddressType decides whether a load balancer of lbType and scheme
// in zones may have address type t. kelb's zones have IPv4 pools only, so
// every IPv6-carrying type is refused with the error AWS gives for subnets
// without an IPv6 CIDR block, naming them: kelb never reports an address
// type it cannot serve.
func checkIPAddressType(t, lbType, scheme string, zones []string) *Error {
	switch t {
	case IPAddressTypeIPv4:
		return nil
	case IPAddressTypeDual:
	case IPAddressTypeDualNoPublicIPv4:
		if lbType != TypeApplication {
			return validationf("IP address type '%s' is only supported by Application Load Balancers", t)
		}
		if scheme != SchemeInternetFacing {
			return validationf("IP address type '%s' is only supported by internet-facing load balancers", t)
		}
	default:
		return validationf("IP address type '%s' is not valid", t)
	}
	return errorf(CodeInvalidSubnet, "IP address type '%s' needs IPv6 addresses, and subnets [%s] have no IPv6 CIDR block in kelb; kelb serves this load balancer over IPv4 only", t, strings.Join(zones, ", "))
}

// checkSourceNatPrefix decides EnablePrefixForIpv6SourceNat: "on" needs a
// dualstack NLB, which kelb cannot serve.
func checkSourceNatPrefix(v, lbType string) *Error {
	switch v {
	case "", Off:
		return nil
	case On:
		if lbType != TypeNetwork {
			return validationf("EnablePrefixForIpv6SourceNat is only supported by Network Load Balancers")
		}
		return errorf(CodeInvalidConfigurationRequest, "EnablePrefixForIpv6SourceNat 'on' needs a dualstack load balancer, and kelb serves IPv4 only")
	default:
		return validationf("EnablePrefixForIpv6SourceNat '%s' is not valid; use 'on' or 'off'", v)
	}
}

func subnetIDs(zones []ZoneAddress) []string {
	out := make([]string, 0, len(zones))
	for _, z := range zones {
		out = append(out, z.SubnetID)
	}
	return out
}

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
		if err := checkSourceNatPrefix(in.EnablePrefixForIpv6SourceNat, lb.Type); err != nil {
			return err
		}
		addrType := lb.IPAddressType
		if in.IPAddressType != "" {
			addrType = in.IPAddressType
		}
		var ids []string
		for _, c := range zones {
			ids = append(ids, c.zone.SubnetID)
		}
		if err := checkIPAddressType(addrType, lb.Type, lb.Scheme, ids); err != nil {
			return err
		}
		kept := map[string]ZoneAddress{}
		for _, z := range lb.Zones {
			kept[z.Zone] = z
		}
		var fresh []zoneChoice
		for _, c := range zones {
			old, ok := kept[c.zone.Name]
			if !ok {
				fresh = append(fresh, c)
				continue
			}
			if c.addr.IsValid() && c.addr != old.Address {
				return errorf(CodeInvalidConfigurationRequest, "Subnet '%s' is enabled with address '%s'; remove the subnet before enabling it with address '%s'", c.zone.SubnetID, old.Address, c.addr)
			}
		}
		added, err := s.allocate(w, fresh)
		if err != nil {
			return err
		}
		next := make([]ZoneAddress, 0, len(zones))
		for _, c := range zones {
			if z, ok := kept[c.zone.Name]; ok {
				next = append(next, z)
				continue
			}
			next = append(next, added[0])
			added = added[1:]
		}
		lb.Zones = next
		lb.IPAddressType = addrType
		out = *lb
		return putJSON(tx, kindLoadBalancer, lb.ARN, lb)
	})
	if err != nil {
		return LoadBalancer{}, fmt.Errorf("set subnets of %s: %w", in.LoadBalancerARN, err)
	}
	return out, nil
}

// SetIPAddressType sets a load balancer's address type. Only ipv4 can be
// served by kelb; the dualstack types are refused with InvalidSubnet
// (checkIPAddressType), and nothing changes.
func (s *Service) SetIPAddressType(ctx context.Context, arn, addrType string) (string, error) {
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		lb, err := getLoadBalancer(tx, arn)
		if err != nil {
			return err
		}
		if err := checkIPAddressType(addrType, lb.Type, lb.Scheme, subnetIDs(lb.Zones)); err != nil {
			return err
		}
		if lb.IPAddressType == addrType {
			return nil
		}
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
