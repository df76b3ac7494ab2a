package elb

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// Instance is an EC2-style instance: a node of the VPC that instance
// targets may name by id (i- and 8 or 17 hex digits) instead of by
// address, as the AWS Load Balancer Controller registers the nodes whose
// spec.providerID is aws:///<zone>/<id>. Its zone is the zone whose
// target networks hold Address.
type Instance struct {
	ID      string
	Address netip.Addr
	// Prefixes are the networks delegated to its network interface: its
	// pods' addresses (VPC CNI's prefix delegation).
	Prefixes []netip.Prefix
}

// InstanceInfo is an Instance with what the service derives for it.
type InstanceInfo struct {
	Instance
	Zone     string
	SubnetID string
}

var (
	instanceIDPattern = regexp.MustCompile(`^i-([0-9a-f]{8}|[0-9a-f]{17})$`)
	vpcIDPattern      = regexp.MustCompile(`^vpc-([0-9a-f]{8}|[0-9a-f]{17})$`)
)

// CheckInstanceID reports whether id has the form of an EC2 instance id.
func CheckInstanceID(id string) error {
	if !instanceIDPattern.MatchString(id) {
		return fmt.Errorf("instance id %q: want i- and 8 or 17 lower-case hex digits", id)
	}
	return nil
}

// checkInstances validates Config.Instances: well-formed distinct ids,
// distinct addresses, each in the VPC.
func checkInstances(instances []Instance, vpc []netip.Prefix) error {
	ids, addrs := map[string]bool{}, map[netip.Addr]bool{}
	for _, in := range instances {
		if err := CheckInstanceID(in.ID); err != nil {
			return err
		}
		if ids[in.ID] {
			return fmt.Errorf("instance %s given twice", in.ID)
		}
		if addrs[in.Address] {
			return fmt.Errorf("instance %s: address %s belongs to another instance", in.ID, in.Address)
		}
		if !inNetworks(in.Address, vpc) {
			return fmt.Errorf("instance %s: address %s is outside the VPC %v", in.ID, in.Address, vpc)
		}
		for _, p := range in.Prefixes {
			if !slicesContainsPrefix(vpc, p) {
				return fmt.Errorf("instance %s: prefix %s is outside the VPC %v", in.ID, p, vpc)
			}
		}
		ids[in.ID], addrs[in.Address] = true, true
	}
	return nil
}

// isInstanceID reports whether a target id names an instance rather than
// an address.
func isInstanceID(id string) bool { return strings.HasPrefix(id, "i-") }

// instance returns the configured instance id.
func (s *Service) instance(id string) (Instance, bool) {
	i := slices.IndexFunc(s.cfg.Instances, func(in Instance) bool { return in.ID == id })
	if i < 0 {
		return Instance{}, false
	}
	return s.cfg.Instances[i], true
}

// Instances returns the configured instances with their zones and subnets.
func (s *Service) Instances() []InstanceInfo {
	out := make([]InstanceInfo, 0, len(s.cfg.Instances))
	for _, in := range s.cfg.Instances {
		info := InstanceInfo{Instance: in, Zone: s.targetZone(in.Address)}
		for _, z := range s.cfg.Zones {
			if z.Name == info.Zone {
				info.SubnetID = z.SubnetID
			}
		}
		out = append(out, info)
	}
	return out
}
