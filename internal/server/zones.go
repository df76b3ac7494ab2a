package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"

	"github.com/kelb-io/kelb/internal/elb"
)

// ParseZone parses a --zone flag value:
// NAME=CIDR[,subnet=SUBNET_ID][,ipv6=CIDR6]. The CIDR is the pool that load
// balancer addresses in the zone come from. With no subnet id given, the
// zone gets a stable one derived from its name, in AWS's format (subnet- and
// 17 hex digits). CIDR6, an IPv6 network, is the subnet's IPv6 CIDR block:
// dualstack load balancers get their IPv6 address in the zone from it.
func ParseZone(s string) (elb.Zone, error) {
	name, rest, ok := strings.Cut(s, "=")
	if !ok || name == "" || rest == "" {
		return elb.Zone{}, fmt.Errorf("zone %q: want NAME=CIDR[,subnet=SUBNET_ID][,ipv6=CIDR6]", s)
	}
	fields := strings.Split(rest, ",")
	pool, err := netip.ParsePrefix(fields[0])
	if err != nil {
		return elb.Zone{}, fmt.Errorf("zone %q: address pool: %w", name, err)
	}
	if pool.Bits() > pool.Addr().BitLen()-2 {
		return elb.Zone{}, fmt.Errorf("zone %q: address pool %s is too small", name, pool)
	}
	z := elb.Zone{Name: name, Pool: pool.Masked(), SubnetID: SubnetID(name)}
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "subnet":
			if !strings.HasPrefix(v, "subnet-") {
				return elb.Zone{}, fmt.Errorf("zone %q: subnet id %q must start with subnet-", name, v)
			}
			z.SubnetID = v
		case "ipv6":
			p, err := netip.ParsePrefix(v)
			if err != nil {
				return elb.Zone{}, fmt.Errorf("zone %q: IPv6 pool: %w", name, err)
			}
			if !p.Addr().Is6() || p.Addr().Is4In6() {
				return elb.Zone{}, fmt.Errorf("zone %q: IPv6 pool %s is not an IPv6 network", name, p)
			}
			if p.Bits() > p.Addr().BitLen()-2 {
				return elb.Zone{}, fmt.Errorf("zone %q: IPv6 pool %s is too small", name, p)
			}
			z.IPv6Pool = p.Masked()
		default:
			return elb.Zone{}, fmt.Errorf("zone %q: unknown option %q", name, k)
		}
	}
	return z, nil
}

// SubnetID is the subnet id kelb gives a zone that has none configured.
func SubnetID(zone string) string {
	sum := sha256.Sum256([]byte("kelb-subnet/" + zone))
	return "subnet-" + hex.EncodeToString(sum[:])[:17]
}

// ParseZoneTargets parses a --zone-targets flag value, NAME=CIDR, and adds
// the network to that zone's TargetCIDRs.
func ParseZoneTargets(zones []elb.Zone, s string) error {
	name, cidr, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("zone targets %q: want NAME=CIDR", s)
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("zone targets %q: %w", s, err)
	}
	for i := range zones {
		if zones[i].Name == name {
			zones[i].TargetCIDRs = append(zones[i].TargetCIDRs, p.Masked())
			return nil
		}
	}
	return fmt.Errorf("zone targets %q: no zone %q (give --zone %s=CIDR first)", s, name, name)
}

// ValidateZones checks that zone names, subnet ids and pools are distinct.
func ValidateZones(zones []elb.Zone) error {
	if len(zones) == 0 {
		return fmt.Errorf("no zones: give at least one --zone NAME=CIDR")
	}
	for i, a := range zones {
		for _, b := range zones[i+1:] {
			switch {
			case a.Name == b.Name:
				return fmt.Errorf("zone %q given twice", a.Name)
			case a.SubnetID == b.SubnetID:
				return fmt.Errorf("zones %q and %q share subnet %s", a.Name, b.Name, a.SubnetID)
			case a.Pool.Overlaps(b.Pool):
				return fmt.Errorf("zones %q and %q have overlapping pools %s and %s", a.Name, b.Name, a.Pool, b.Pool)
			case a.IPv6Pool.IsValid() && b.IPv6Pool.IsValid() && a.IPv6Pool.Overlaps(b.IPv6Pool):
				return fmt.Errorf("zones %q and %q have overlapping IPv6 pools %s and %s", a.Name, b.Name, a.IPv6Pool, b.IPv6Pool)
			}
		}
	}
	return nil
}

// ParseInstance parses an --instance flag value,
// ID=ADDRESS[,prefix=CIDR...]: an instance of the VPC, its primary
// address, and the networks delegated to it (its pods').
func ParseInstance(s string) (elb.Instance, error) {
	id, rest, ok := strings.Cut(s, "=")
	if !ok || rest == "" {
		return elb.Instance{}, fmt.Errorf("instance %q: want ID=ADDRESS[,prefix=CIDR...]", s)
	}
	if err := elb.CheckInstanceID(id); err != nil {
		return elb.Instance{}, err
	}
	fields := strings.Split(rest, ",")
	addr, err := netip.ParseAddr(fields[0])
	if err != nil {
		return elb.Instance{}, fmt.Errorf("instance %s: address: %w", id, err)
	}
	in := elb.Instance{ID: id, Address: addr}
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=")
		if k != "prefix" {
			return elb.Instance{}, fmt.Errorf("instance %s: unknown option %q (want prefix=CIDR)", id, k)
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return elb.Instance{}, fmt.Errorf("instance %s: prefix: %w", id, err)
		}
		in.Prefixes = append(in.Prefixes, p.Masked())
	}
	return in, nil
}
