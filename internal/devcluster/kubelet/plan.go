package kubelet

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
)

// NodeSpec is one simulated node of the address plan of kelb up.
type NodeSpec struct {
	// Index is the node's 1-based number.
	Index int
	// Name is the Node object's name, EKS style:
	// ip-198-18-0-11.us-west-2.compute.internal.
	Name string
	// IP is the node's InternalIP, 198.18.0.(10+Index).
	IP netip.Addr
	// PodCIDR is 198.18.Index.0/24.
	PodCIDR netip.Prefix
	// Zone is the availability zone, e.g. us-west-2a.
	Zone string
	// Region is the zone without its letter, e.g. us-west-2.
	Region string
}

// ProviderID is the Node's spec.providerID, as on EKS:
// aws:///<zone>/<instance id>. The AWS Load Balancer Controller registers
// instance targets by that id; kelb server knows the instance from its
// --instance flag (devcluster.ServerArgs).
func (n NodeSpec) ProviderID() string { return "aws:///" + n.Zone + "/" + n.InstanceID() }

// InstanceID is the node's EC2-style instance id, i- and 17 hex digits
// derived from its name.
func (n NodeSpec) InstanceID() string {
	sum := sha256.Sum256([]byte("kelb-instance/" + n.Name))
	return "i-" + hex.EncodeToString(sum[:])[:17]
}

// MaxNodes is the number of nodes the address plan has room for: node IPs
// 198.18.0.11-254 and pod ranges 198.18.1-239.0/24 (198.18.240.0/20 holds
// service cluster IPs).
const MaxNodes = 239

// Plan lays out count nodes spread over zones round-robin: node N has
// InternalIP 198.18.0.(10+N), pod range 198.18.N.0/24 and zone
// zones[(N-1) % len(zones)].
func Plan(count int, zones []string) ([]NodeSpec, error) {
	if count < 1 || count > MaxNodes {
		return nil, fmt.Errorf("node count %d out of range 1-%d", count, MaxNodes)
	}
	if len(zones) == 0 {
		return nil, fmt.Errorf("no zones given")
	}
	for _, z := range zones {
		if RegionOf(z) == "" {
			return nil, fmt.Errorf("zone %q: want a region followed by a letter, like us-west-2a", z)
		}
	}
	nodes := make([]NodeSpec, 0, count)
	for i := 1; i <= count; i++ {
		zone := zones[(i-1)%len(zones)]
		ip := netip.AddrFrom4([4]byte{198, 18, 0, byte(10 + i)})
		region := RegionOf(zone)
		nodes = append(nodes, NodeSpec{
			Index:   i,
			Name:    fmt.Sprintf("ip-%s.%s.compute.internal", strings.ReplaceAll(ip.String(), ".", "-"), region),
			IP:      ip,
			PodCIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i), 0}), 24),
			Zone:    zone,
			Region:  region,
		})
	}
	return nodes, nil
}

// RegionOf returns the region of an availability zone name (us-west-2a ->
// us-west-2), or "" when the name does not end in a letter after a digit.
func RegionOf(zone string) string {
	n := len(zone)
	if n < 2 {
		return ""
	}
	last, prev := zone[n-1], zone[n-2]
	if last < 'a' || last > 'z' || prev < '0' || prev > '9' {
		return ""
	}
	return zone[:n-1]
}

// allocateIP returns the lowest address of prefix from .2 upwards that is not
// in used, or false when the range is full. .0, .1 (the range's gateway on a
// real node) and the broadcast address are never handed out.
func allocateIP(prefix netip.Prefix, used map[netip.Addr]bool) (netip.Addr, bool) {
	prefix = prefix.Masked()
	a := prefix.Addr().Next()
	for a = a.Next(); prefix.Contains(a); a = a.Next() {
		if !prefix.Contains(a.Next()) {
			break // broadcast
		}
		if !used[a] {
			return a, true
		}
	}
	return netip.Addr{}, false
}
