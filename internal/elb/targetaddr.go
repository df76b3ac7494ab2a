package elb

import (
	"net/netip"
)

// What a target's address may be, as AWS rules it for a VPC: an address
// of the VPC's CIDRs (the instances' and pods' networks), in the zone of
// its subnet (never "all": cross-zone load balancing is the load
// balancer's attribute), or, for an ip
// target registered with an Availability Zone, a private address outside
// the VPC (RFC 1918 or RFC 6598, reached over peering or a VPN). Never an
// address no load balancer should send traffic to: unspecified, "this
// network" (0.0.0.0/8), link-local (169.254.0.0/16, where cloud metadata
// services answer, and fe80::/10), multicast, broadcast and the reserved
// 240.0.0.0/4, nor loopback unless the VPC is loopback itself (kelb's
// single-machine setup). A public address outside the VPC is refused too,
// so a listener cannot be turned into a proxy to anywhere.

// DefaultVPCCIDRs is the VPC when Config.VPCCIDRs is empty: the loopback
// range, which holds kelb server's default zone, so that a server run with
// no network setup serves local targets.
var DefaultVPCCIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// privateTargetNetworks are the networks an ip target outside the VPC may
// be in.
var privateTargetNetworks = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
}

// reservedNetworks are never targets, whatever the VPC, and a VPC CIDR may
// not overlap them.
var reservedNetworks = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "reserved (0.0.0.0/8)"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved (240.0.0.0/4)"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// reservedKind names the reserved network a is in, or "".
func reservedKind(a netip.Addr) string {
	for _, r := range reservedNetworks {
		if r.prefix.Contains(a) {
			return r.what
		}
	}
	return ""
}

func inNetworks(a netip.Addr, networks []netip.Prefix) bool {
	for _, p := range networks {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// checkTargetAddress decides whether a may be registered as a target of
// type targetType with Availability Zone az ("" when not given), in a VPC
// of the networks vpc. It returns nil or the *Error AWS answers with.
func checkTargetAddress(a netip.Addr, vpc []netip.Prefix, targetType, az string) *Error {
	if a.Is4In6() {
		return errorf(CodeInvalidTarget, "The IP address '%s' is an IPv4-mapped IPv6 address; register the IPv4 address '%s'", a, a.Unmap())
	}
	if kind := reservedKind(a); kind != "" {
		return errorf(CodeInvalidTarget, "The IP address '%s' is a %s address and cannot be a target", a, kind)
	}
	if inNetworks(a, vpc) {
		if az == AvailabilityZoneAll {
			return validationf("The IP address '%s' is within the VPC, and cannot have its Availability Zone overridden to '%s'", a, AvailabilityZoneAll)
		}
		return nil
	}
	switch {
	case a.IsLoopback():
		return errorf(CodeInvalidTarget, "The IP address '%s' is a loopback address outside the VPC and cannot be a target", a)
	case targetType == TargetTypeInstance:
		return errorf(CodeInvalidTarget, "The instance target '%s' is not in the VPC; instance targets are addresses of the VPC's nodes", a)
	case !inNetworks(a, privateTargetNetworks):
		return errorf(CodeInvalidTarget, "The IP address '%s' is not in the VPC and not in 10.0.0.0/8, 100.64.0.0/10, 172.16.0.0/12 or 192.168.0.0/16; publicly routable addresses cannot be targets", a)
	case az == "":
		return validationf("The Availability Zone is required for IP address '%s' because it is not in the VPC", a)
	}
	return nil
}

// checkVPC checks VPC CIDRs given in a Config: none may overlap a reserved
// network, and every zone's target networks must lie in the VPC.
func checkVPC(vpc []netip.Prefix, zones []Zone) *Error {
	for _, p := range vpc {
		for _, r := range reservedNetworks {
			if p.Overlaps(r.prefix) {
				return validationf("VPC CIDR %s overlaps the %s network %s", p, r.what, r.prefix)
			}
		}
	}
	for _, z := range zones {
		for _, t := range z.TargetCIDRs {
			if !slicesContainsPrefix(vpc, t) {
				return validationf("target network %s of zone %q is outside the VPC %v", t, z.Name, vpc)
			}
		}
	}
	return nil
}

// slicesContainsPrefix reports whether one of outer holds all of inner.
func slicesContainsPrefix(outer []netip.Prefix, inner netip.Prefix) bool {
	for _, o := range outer {
		if o.Bits() <= inner.Bits() && o.Contains(inner.Masked().Addr()) {
			return true
		}
	}
	return false
}
