package secgroup

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Protocols as rules store them. Numbers that have a name are stored by
// name ("6" is "tcp"); ProtocolAll matches every protocol and port.
const (
	ProtocolAll    = "-1"
	ProtocolTCP    = "tcp"
	ProtocolUDP    = "udp"
	ProtocolICMP   = "icmp"
	ProtocolICMPv6 = "icmpv6"
)

// Rule is one rule of a security group: a protocol, a port range (for tcp,
// udp, icmp and icmpv6) and one peer, a CIDR or another security group.
// A Permission of the API with several peers is several Rules.
type Rule struct {
	// ID is the rule's id, sgr- and 17 hex digits.
	ID       string
	Protocol string
	// FromPort and ToPort bound the ports (tcp, udp) or are the ICMP type
	// and code (-1: all); zero and unused for other protocols.
	FromPort, ToPort int32
	// CIDR is an IPv4 or IPv6 network (canonical form); empty when the
	// peer is GroupID.
	CIDR        string
	GroupID     string
	Description string
}

// HasPorts reports whether the rule's protocol has ports (or ICMP types).
func (r Rule) HasPorts() bool { return hasPorts(r.Protocol) }

func hasPorts(protocol string) bool {
	switch protocol {
	case ProtocolTCP, ProtocolUDP, ProtocolICMP, ProtocolICMPv6:
		return true
	}
	return false
}

// same reports whether a and b allow the same traffic from the same peer
// (descriptions and ids aside): adding one when the other exists is
// InvalidPermission.Duplicate.
func (r Rule) same(o Rule) bool {
	return r.Protocol == o.Protocol && r.FromPort == o.FromPort && r.ToPort == o.ToPort &&
		r.CIDR == o.CIDR && r.GroupID == o.GroupID
}

// String describes the rule as AWS does in InvalidPermission messages.
func (r Rule) String() string {
	peer := r.CIDR
	if peer == "" {
		peer = r.GroupID
	}
	proto := strings.ToUpper(r.Protocol)
	if r.Protocol == ProtocolAll {
		proto = "ALL"
	}
	if !r.HasPorts() {
		return fmt.Sprintf("peer: %s, %s, ALLOW", peer, proto)
	}
	return fmt.Sprintf("peer: %s, %s, from port: %d, to port: %d, ALLOW", peer, proto, r.FromPort, r.ToPort)
}

// Peer is one source (ingress) or destination (egress) of a Permission.
type Peer struct {
	// CIDR is an IPv4 or IPv6 network; or GroupID a security group.
	CIDR        string
	GroupID     string
	Description string
}

// Permission is the API's form of rules: a protocol, a port range and
// peers. FromPort and ToPort are nil when not given.
type Permission struct {
	Protocol         string
	FromPort, ToPort *int32
	Peers            []Peer
	// PrefixLists are prefix list ids; kelb has none, so any is refused.
	PrefixLists []string
}

// normalizeProtocol maps the names and numbers the API accepts to the
// stored form.
func normalizeProtocol(p string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(p)) {
	case "-1", "all":
		return ProtocolAll, nil
	case "tcp", "6":
		return ProtocolTCP, nil
	case "udp", "17":
		return ProtocolUDP, nil
	case "icmp", "1":
		return ProtocolICMP, nil
	case "icmpv6", "58":
		return ProtocolICMPv6, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 255 {
		return "", errorf(CodeInvalidParameterValue, "Invalid value '%s' for IP protocol. Unknown protocol.", p)
	}
	return strconv.Itoa(n), nil
}

// expand validates p and turns it into rules (without ids).
func expand(p Permission) ([]Rule, error) {
	proto, err := normalizeProtocol(p.Protocol)
	if err != nil {
		return nil, err
	}
	if len(p.PrefixLists) > 0 {
		return nil, errorf(CodeInvalidPrefixListNotFound, "The prefix list ID '%s' does not exist", p.PrefixLists[0])
	}
	var from, to int32
	switch proto {
	case ProtocolTCP, ProtocolUDP:
		if p.FromPort == nil || p.ToPort == nil {
			return nil, errorf(CodeInvalidParameterValue, "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange")
		}
		from, to = *p.FromPort, *p.ToPort
		if from < 0 || to > 65535 || from > to {
			return nil, errorf(CodeInvalidParameterValue, "Invalid TCP/UDP port range %d-%d: ports are 0 to 65535, from port not above to port", from, to)
		}
	case ProtocolICMP, ProtocolICMPv6:
		from, to = -1, -1
		if p.FromPort != nil {
			from = *p.FromPort
		}
		if p.ToPort != nil {
			to = *p.ToPort
		}
		if from < -1 || from > 255 || to < -1 || to > 255 {
			return nil, errorf(CodeInvalidParameterValue, "Invalid ICMP type %d or code %d: both are -1 to 255", from, to)
		}
	}
	if len(p.Peers) == 0 {
		return nil, errorf(CodeMissingParameter, "The request must contain the parameter ipRanges, ipv6Ranges or userIdGroupPairs")
	}
	var out []Rule
	for _, peer := range p.Peers {
		r := Rule{Protocol: proto, FromPort: from, ToPort: to, Description: peer.Description}
		switch {
		case peer.CIDR != "" && peer.GroupID != "":
			return nil, errorf(CodeInvalidParameterCombination, "A peer is a CIDR or a security group, not both")
		case peer.CIDR != "":
			pfx, err := netip.ParsePrefix(strings.TrimSpace(peer.CIDR))
			if err != nil {
				return nil, errorf(CodeInvalidParameterValue, "CIDR block %s is malformed", peer.CIDR)
			}
			r.CIDR = pfx.Masked().String()
		case peer.GroupID != "":
			r.GroupID = peer.GroupID
		default:
			return nil, errorf(CodeMissingParameter, "The request must contain a CIDR or a security group id for each peer")
		}
		if err := checkDescription("rule description", r.Description); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Permissions groups rules into the API's permissions: one per protocol
// and port range, in the order the rules first use them.
func Permissions(rules []Rule) []Permission {
	type key struct {
		proto    string
		from, to int32
	}
	var order []key
	byKey := map[key]*Permission{}
	for _, r := range rules {
		k := key{r.Protocol, r.FromPort, r.ToPort}
		p, ok := byKey[k]
		if !ok {
			p = &Permission{Protocol: r.Protocol}
			if r.HasPorts() {
				p.FromPort, p.ToPort = &r.FromPort, &r.ToPort
			}
			byKey[k] = p
			order = append(order, k)
		}
		p.Peers = append(p.Peers, Peer{CIDR: r.CIDR, GroupID: r.GroupID, Description: r.Description})
	}
	out := make([]Permission, 0, len(order))
	for _, k := range order {
		out = append(out, *byKey[k])
	}
	return out
}

// Admitted returns the client networks the ingress rules of groups admit
// to a listener on port over protocol (tcp or udp): the union of the
// CIDRs of every rule for that protocol (or all protocols) whose port
// range holds port, sorted, without networks that another one covers.
// Rules whose peer is a security group admit no address: kelb has no
// instances or network interfaces that could carry one.
func Admitted(groups []SecurityGroup, protocol string, port int) []netip.Prefix {
	var out []netip.Prefix
	for _, g := range groups {
		for _, r := range g.Ingress {
			if r.CIDR == "" {
				continue
			}
			if r.Protocol != ProtocolAll && (r.Protocol != protocol || port < int(r.FromPort) || port > int(r.ToPort)) {
				continue
			}
			if p, err := netip.ParsePrefix(r.CIDR); err == nil {
				out = append(out, p.Masked())
			}
		}
	}
	return Minimal(out)
}

// Minimal sorts prefixes (IPv4 first, wider first) and drops every prefix
// that another one in the list covers, duplicates included.
func Minimal(prefixes []netip.Prefix) []netip.Prefix {
	sorted := make([]netip.Prefix, len(prefixes))
	for i, p := range prefixes {
		sorted[i] = p.Masked()
	}
	slices.SortFunc(sorted, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	var out []netip.Prefix
	for _, p := range sorted {
		// Sorted by address then width: a covering prefix sorts before
		// everything it covers, and the last kept one is the only
		// candidate (kept prefixes are disjoint).
		if n := len(out); n > 0 && out[n-1].Bits() <= p.Bits() && out[n-1].Contains(p.Addr()) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// Intersect returns the networks in both a and b, minimal: CIDR prefixes
// are nested or disjoint, so each overlapping pair contributes the
// narrower of the two.
func Intersect(a, b []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range a {
		for _, y := range b {
			if !x.Overlaps(y) {
				continue
			}
			if x.Bits() >= y.Bits() {
				out = append(out, x.Masked())
			} else {
				out = append(out, y.Masked())
			}
		}
	}
	return Minimal(out)
}
