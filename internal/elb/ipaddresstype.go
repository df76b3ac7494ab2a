package elb

import (
	"net/netip"
	"slices"
	"strings"
)

// SourceNatAutoAssigned is the SubnetMapping SourceNatIpv6Prefix value that
// lets the zone's source NAT prefix be chosen from its IPv6 network.
const SourceNatAutoAssigned = "auto_assigned"

// sourceNatPrefixBits is the length of an NLB's source NAT prefix, as on
// AWS.
const sourceNatPrefixBits = 80

// maxPrefixCandidates bounds the search for a free source NAT prefix.
const maxPrefixCandidates = 4096

// IsDualstack reports whether load balancers of address type t have IPv6
// addresses.
func IsDualstack(t string) bool {
	return t == IPAddressTypeDual || t == IPAddressTypeDualNoPublicIPv4
}

// checkIPAddressType decides whether a load balancer of lbType and scheme
// in zones may have address type t: dualstack for any load balancer,
// dualstack-without-public-ipv4 for internet-facing ALBs only, and an
// IPv6-carrying type only when every zone's subnet has an IPv6 network
// (InvalidSubnet naming those without, as AWS answers).
func checkIPAddressType(t, lbType, scheme string, zones []Zone) *Error {
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
	var missing []string
	for _, z := range zones {
		if !z.IPv6Pool.IsValid() {
			missing = append(missing, z.SubnetID)
		}
	}
	if len(missing) > 0 {
		return errorf(CodeInvalidSubnet, "IP address type '%s' requires subnets with an IPv6 CIDR block; subnets [%s] have none", t, strings.Join(missing, ", "))
	}
	return nil
}

// checkSourceNatPrefix decides EnablePrefixForIpv6SourceNat v ("" keeps
// the current setting): "on" is for dualstack Network Load Balancers only.
func checkSourceNatPrefix(v, lbType, addrType string) *Error {
	switch v {
	case "", Off:
		if v != "" && lbType != TypeNetwork {
			return validationf("EnablePrefixForIpv6SourceNat is only supported by Network Load Balancers")
		}
		return nil
	case On:
		if lbType != TypeNetwork {
			return validationf("EnablePrefixForIpv6SourceNat is only supported by Network Load Balancers")
		}
		if addrType != IPAddressTypeDual {
			return errorf(CodeInvalidConfigurationRequest, "EnablePrefixForIpv6SourceNat can be 'on' only for a load balancer of IP address type 'dualstack', not '%s'", addrType)
		}
		return nil
	default:
		return validationf("EnablePrefixForIpv6SourceNat '%s' is not valid; use 'on' or 'off'", v)
	}
}

// parseSourceNatPrefix checks a SubnetMapping's SourceNatIpv6Prefix:
// auto_assigned, or a /80 in the zone's IPv6 network.
func parseSourceNatPrefix(v string, z Zone) (netip.Prefix, *Error) {
	if v == "" || v == SourceNatAutoAssigned {
		return netip.Prefix{}, nil
	}
	p, err := netip.ParsePrefix(v)
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() || p.Bits() != sourceNatPrefixBits || p.Masked() != p {
		return netip.Prefix{}, validationf("The source NAT IPv6 prefix '%s' is not valid; give a /%d network or '%s'", v, sourceNatPrefixBits, SourceNatAutoAssigned)
	}
	if !z.IPv6Pool.IsValid() || z.IPv6Pool.Bits() > p.Bits() || !z.IPv6Pool.Contains(p.Addr()) {
		return netip.Prefix{}, errorf(CodeInvalidConfigurationRequest, "The source NAT IPv6 prefix '%s' is not in the IPv6 CIDR block of subnet '%s'", p, z.SubnetID)
	}
	return p, nil
}

// addressUse is what the load balancers of a world hold: addresses of
// either family and source NAT prefixes.
type addressUse struct {
	addrs    map[netip.Addr]bool
	prefixes []netip.Prefix
}

func usedAddresses(w *world) addressUse {
	u := addressUse{addrs: map[netip.Addr]bool{}}
	for _, lb := range w.lbs {
		for _, z := range lb.Zones {
			for _, a := range z.Addresses() {
				u.addrs[a] = true
			}
			if p, err := netip.ParsePrefix(z.SourceNatIPv6Prefix); err == nil {
				u.prefixes = append(u.prefixes, p)
			}
		}
	}
	return u
}

// pickAddress returns want when it is free, or else the lowest free usable
// address of pool.
func pickAddress(pool netip.Prefix, want netip.Addr, used map[netip.Addr]bool, subnet, family string) (netip.Addr, *Error) {
	if want.IsValid() {
		if used[want] {
			return netip.Addr{}, errorf(CodeInvalidConfigurationRequest, "The %s address '%s' is already in use", family, want)
		}
		return want, nil
	}
	// The lowest free address is at most len(used)+2 steps from the start.
	for a, n := pool.Masked().Addr(), 0; pool.Contains(a) && n <= len(used)+2; a, n = a.Next(), n+1 {
		if usableInPool(pool, a) && !used[a] {
			return a, nil
		}
	}
	return netip.Addr{}, errorf(CodeInvalidSubnet, "Not enough IP space available in subnet '%s'", subnet)
}

// pickSourceNatPrefix returns want when no other load balancer holds it,
// or else the first free /80 of pool after its first one (where load
// balancer addresses are allocated).
func pickSourceNatPrefix(pool netip.Prefix, want netip.Prefix, used []netip.Prefix, subnet string) (netip.Prefix, *Error) {
	taken := func(p netip.Prefix) bool { return slices.ContainsFunc(used, p.Overlaps) }
	if want.IsValid() {
		if taken(want) {
			return netip.Prefix{}, errorf(CodeInvalidConfigurationRequest, "The source NAT IPv6 prefix '%s' is already in use", want)
		}
		return want, nil
	}
	if pool.Bits() >= sourceNatPrefixBits {
		return netip.Prefix{}, errorf(CodeInvalidSubnet, "The IPv6 CIDR block %s of subnet '%s' has no room for a /%d source NAT prefix", pool, subnet, sourceNatPrefixBits)
	}
	first := netip.PrefixFrom(pool.Masked().Addr(), sourceNatPrefixBits)
	for p, n := nextPrefix(first), 0; pool.Contains(p.Addr()) && n < maxPrefixCandidates; p, n = nextPrefix(p), n+1 {
		if !taken(p) {
			return p, nil
		}
	}
	return netip.Prefix{}, errorf(CodeInvalidSubnet, "Not enough IPv6 space for a source NAT prefix in subnet '%s'", subnet)
}

// nextPrefix returns the prefix of the same length right after p.
func nextPrefix(p netip.Prefix) netip.Prefix {
	return netip.PrefixFrom(lastAddr(p).Next(), p.Bits())
}

// placeZones decides a load balancer's zone addresses for the zone choices
// zones, with address type addrType and source NAT prefixes when natOn:
// a zone in old keeps its addresses (asking it another one fails: AWS
// takes address changes within a zone as separate requests), a new zone
// gets the requested or the lowest free IPv4 address, and, dualstack, IPv6
// address; a non-dualstack load balancer has no IPv6 address and no
// prefix. The zones are checked against addrType first.
func placeZones(w *world, lbType, scheme string, old []ZoneAddress, zones []zoneChoice, addrType string, natOn bool) ([]ZoneAddress, error) {
	var cfgZones []Zone
	for _, c := range zones {
		cfgZones = append(cfgZones, c.zone)
	}
	if err := checkIPAddressType(addrType, lbType, scheme, cfgZones); err != nil {
		return nil, err
	}
	dual := IsDualstack(addrType)
	used := usedAddresses(w)
	out := make([]ZoneAddress, 0, len(zones))
	for _, c := range zones {
		if c.addr6.IsValid() && lbType != TypeNetwork {
			return nil, validationf("IPv6 addresses can be specified in subnet mappings of Network Load Balancers only")
		}
		if c.addr6.IsValid() && !dual {
			return nil, errorf(CodeInvalidConfigurationRequest, "The IPv6 address '%s' of subnet '%s' needs IP address type 'dualstack'", c.addr6, c.zone.SubnetID)
		}
		if c.natPrefix != "" && !natOn {
			return nil, errorf(CodeInvalidConfigurationRequest, "A source NAT IPv6 prefix for subnet '%s' needs EnablePrefixForIpv6SourceNat 'on'", c.zone.SubnetID)
		}
		z := ZoneAddress{Zone: c.zone.Name, SubnetID: c.zone.SubnetID}
		i := slices.IndexFunc(old, func(o ZoneAddress) bool { return o.Zone == c.zone.Name })
		if i >= 0 {
			z = old[i]
			if c.addr.IsValid() && c.addr != z.Address {
				return nil, errorf(CodeInvalidConfigurationRequest, "Subnet '%s' is enabled with address '%s'; remove the subnet before enabling it with address '%s'", c.zone.SubnetID, z.Address, c.addr)
			}
			if c.addr6.IsValid() && z.IPv6Address.IsValid() && c.addr6 != z.IPv6Address {
				return nil, errorf(CodeInvalidConfigurationRequest, "Subnet '%s' is enabled with IPv6 address '%s'; remove the subnet before enabling it with IPv6 address '%s'", c.zone.SubnetID, z.IPv6Address, c.addr6)
			}
		} else {
			a, err := pickAddress(c.zone.Pool, c.addr, used.addrs, c.zone.SubnetID, "private IPv4")
			if err != nil {
				return nil, err
			}
			used.addrs[a] = true
			z.Address = a
		}
		if !dual {
			z.IPv6Address, z.SourceNatIPv6Prefix = netip.Addr{}, ""
			out = append(out, z)
			continue
		}
		if !z.IPv6Address.IsValid() {
			a, err := pickAddress(c.zone.IPv6Pool, c.addr6, used.addrs, c.zone.SubnetID, "IPv6")
			if err != nil {
				return nil, err
			}
			used.addrs[a] = true
			z.IPv6Address = a
		}
		want, perr := parseSourceNatPrefix(c.natPrefix, c.zone)
		if perr != nil {
			return nil, perr
		}
		switch {
		case !natOn:
			z.SourceNatIPv6Prefix = ""
		case z.SourceNatIPv6Prefix != "":
			if want.IsValid() && want.String() != z.SourceNatIPv6Prefix {
				return nil, errorf(CodeInvalidConfigurationRequest, "Subnet '%s' uses the source NAT IPv6 prefix '%s'; remove the subnet before giving it '%s'", c.zone.SubnetID, z.SourceNatIPv6Prefix, want)
			}
		default:
			p, err := pickSourceNatPrefix(c.zone.IPv6Pool, want, used.prefixes, c.zone.SubnetID)
			if err != nil {
				return nil, err
			}
			used.prefixes = append(used.prefixes, p)
			z.SourceNatIPv6Prefix = p.String()
		}
		out = append(out, z)
	}
	return out, nil
}

// IPAddressTypeIPv6 is the address type of target groups of IPv6 targets.
const IPAddressTypeIPv6 = "ipv6"

// isUDPProtocol reports whether listeners of protocol carry UDP.
func isUDPProtocol(protocol string) bool {
	return protocol == "UDP" || protocol == "TCP_UDP"
}

// checkForwardAddressType decides whether a listener of protocol on lb may
// forward to tg: an IPv6 target group needs a dualstack load balancer, and
// a UDP listener forwarding to it needs the load balancer's source NAT
// prefixes (EnablePrefixForIpv6SourceNat on), as on AWS.
func checkForwardAddressType(lb *LoadBalancer, protocol string, tg *TargetGroup) *Error {
	if tg.IPAddressType != IPAddressTypeIPv6 {
		return nil
	}
	if !IsDualstack(lb.IPAddressType) {
		return errorf(CodeInvalidConfigurationRequest, "Target group '%s' has IP address type 'ipv6', and load balancer '%s' has IP address type '%s'; IPv6 target groups need a dualstack load balancer", tg.ARN, lb.Name, lb.IPAddressType)
	}
	if isUDPProtocol(protocol) && lb.EnablePrefixForIPv6SourceNat != On {
		return errorf(CodeInvalidConfigurationRequest, "A %s listener can forward to IPv6 target group '%s' only when the load balancer's EnablePrefixForIpv6SourceNat is 'on'", protocol, tg.ARN)
	}
	return nil
}

// checkAddressTypeChange decides whether lb may take address type
// addrType and source NAT setting nat with the listeners it has: every
// forward to an IPv6 target group must stay valid (checkForwardAddressType),
// and source NAT prefixes need a dualstack NLB.
func checkAddressTypeChange(w *world, lb *LoadBalancer, addrType, nat string) *Error {
	if nat == On {
		if err := checkSourceNatPrefix(nat, lb.Type, addrType); err != nil {
			return err
		}
	}
	next := *lb
	next.IPAddressType, next.EnablePrefixForIPv6SourceNat = addrType, nat
	check := func(protocol string, actions []Action) *Error {
		for _, arn := range TargetGroupARNs(actions) {
			if tg, ok := w.tgs[arn]; ok {
				if err := checkForwardAddressType(&next, protocol, tg); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, l := range w.listeners {
		if l.LoadBalancerARN != lb.ARN {
			continue
		}
		if err := check(l.Protocol, l.DefaultActions); err != nil {
			return err
		}
		for _, r := range w.rules {
			if r.ListenerARN == l.ARN {
				if err := check(l.Protocol, r.Actions); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkTargetGroupAddressType decides a new target group's IP address type:
// ipv4 or ipv6, and ipv6 for target type ip only.
func checkTargetGroupAddressType(t, targetType string) *Error {
	switch t {
	case IPAddressTypeIPv4:
		return nil
	case IPAddressTypeIPv6:
		if targetType != TargetTypeIP {
			return validationf("IP address type 'ipv6' is only supported for target groups of target type 'ip', not '%s'", targetType)
		}
		return nil
	default:
		return validationf("IP address type '%s' is not valid for a target group; use 'ipv4' or 'ipv6'", t)
	}
}
