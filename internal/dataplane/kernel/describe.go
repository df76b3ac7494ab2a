package kernel

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/kelb-io/kelb/internal/dataplane"
	"github.com/kelb-io/kelb/internal/dataplane/maglev"
)

// Slots is the number of Maglev slots of a listener's map, a prime: small
// enough that tens of maps load in one transaction, large enough to spread
// flows within a few percent over tens of targets.
const Slots = 4093

// Planes a listener can run on.
const (
	PlaneKernel    = "kernel"
	PlaneUserspace = "userspace"
)

// Choose returns the plane that runs l and, for the userspace plane, why the
// kernel cannot. It is pure.
func Choose(l dataplane.Listener) (plane, reason string) {
	if l.Protocol == dataplane.ProtocolTLS {
		return PlaneUserspace, "TLS termination needs a proxy"
	}
	if l.ProxyProtocolV2 {
		return PlaneUserspace, "PROXY protocol v2 needs a proxy"
	}
	a, err := netip.ParseAddrPort(l.Address)
	if err != nil || !a.Addr().Is4() {
		return PlaneUserspace, "the kernel table is IPv4 only"
	}
	for _, t := range l.Targets {
		if ta, err := netip.ParseAddrPort(t); err != nil || !ta.Addr().Is4() {
			return PlaneUserspace, "the kernel table is IPv4 only"
		}
	}
	return PlaneKernel, ""
}

// Split divides cfg between the planes: kernel gets the listeners Choose
// gives the kernel (all of them when kernelOK), userspace the others; both
// get every target group, so that each plane closes its own flows.
func Split(cfg dataplane.Config, kernelOK bool) (kernel, userspace dataplane.Config) {
	kernel.TargetGroups, userspace.TargetGroups = cfg.TargetGroups, cfg.TargetGroups
	for _, l := range cfg.Listeners {
		if plane, _ := Choose(l); kernelOK && plane == PlaneKernel {
			kernel.Listeners = append(kernel.Listeners, l)
		} else {
			userspace.Listeners = append(userspace.Listeners, l)
		}
	}
	return kernel, userspace
}

// Description is what the kernel table holds for a Config, before it is
// lowered to nftables expressions.
type Description struct {
	Services []Service
	// FlowMark is the conntrack mark of the plane's flows (FlowMark of its
	// table); the Plane sets it, Describe leaves it zero.
	FlowMark uint32
	// Masquerade SNATs flows (those of services with SNAT, and hairpin
	// flows) to the address of the interface they leave by instead of the
	// load balancer's address (SNATNode); the Plane sets it, Describe
	// leaves it false.
	Masquerade bool
	// Hairpin are the targets of listeners that preserve the client's
	// address: a flow from one of them to itself is SNATed to the load
	// balancer's address, or its replies would not come back through NAT.
	Hairpin []netip.Addr
	// TCPTimeouts are the established-flow timeouts in use, in seconds,
	// sorted; UDPTimeout the UDP flow timeout in seconds.
	TCPTimeouts []uint32
	UDPTimeout  uint32
}

// Service is one listener as the table implements it.
type Service struct {
	// Name names the listener's chain, map and counter: "tcp_1.2.3.4_80".
	Name     string
	Listener dataplane.Listener
	Proto    uint8 // 6 or 17
	Addr     netip.AddrPort
	// Sources are the accepted client networks (IPv4 ranges of the
	// listener's source ranges); AllSources accepts every client.
	Sources    []netip.Prefix
	AllSources bool
	// Slots is the Maglev table: Slots[h] is the target of a new flow whose
	// hash mod len(Slots) is h. Empty: no targets (TCP reset, UDP drop).
	Slots []netip.AddrPort
	// SNAT sends flows to targets from the load balancer's address
	// (preserve_client_ip off).
	SNAT bool
	// SourceHash hashes only the client's address (source_ip stickiness).
	SourceHash bool
	// Timeout is the conntrack timeout of the listener's flows, seconds:
	// established TCP flows, or UDP flows.
	Timeout uint32
}

// TimeoutName names the ct timeout object of a protocol and timeout.
func TimeoutName(proto uint8, seconds uint32) string {
	if proto == ipProtoUDP {
		return fmt.Sprintf("udp_%d", seconds)
	}
	return fmt.Sprintf("tcp_%d", seconds)
}

const (
	ipProtoTCP = 6
	ipProtoUDP = 17
	// defaultTCPIdle is NLB's TCP idle timeout, for a listener without one.
	defaultTCPIdle = 350 * time.Second
)

// Describe builds the table's description of cfg, which must hold only
// listeners that Choose gives the kernel. udpTimeout is the UDP flow
// timeout. Tables are shared between listeners with the same target set
// through cache (by target list), which Describe fills; nil builds every
// table. An invalid listener is reported and left out.
func Describe(cfg dataplane.Config, udpTimeout time.Duration, cache map[string][]netip.AddrPort) (Description, error) {
	d := Description{UDPTimeout: seconds(udpTimeout)}
	var errs []string
	seen := map[string]bool{}
	hairpin := map[netip.Addr]bool{}
	tcp := map[uint32]bool{}
	for _, l := range cfg.Listeners {
		s, err := describe(l, d.UDPTimeout, cache)
		if err != nil {
			errs = append(errs, fmt.Sprintf("listener %s %s of %s: %v", l.Protocol, l.Address, l.ListenerARN, err))
			continue
		}
		if seen[s.Name] {
			errs = append(errs, fmt.Sprintf("listener %s %s of %s: address already used by another listener", l.Protocol, l.Address, l.ListenerARN))
			continue
		}
		seen[s.Name] = true
		if !s.SNAT {
			for _, t := range s.Slots {
				hairpin[t.Addr()] = true
			}
		}
		if s.Proto == ipProtoTCP {
			tcp[s.Timeout] = true
		}
		d.Services = append(d.Services, s)
	}
	for a := range hairpin {
		d.Hairpin = append(d.Hairpin, a)
	}
	slices.SortFunc(d.Hairpin, netip.Addr.Compare)
	for t := range tcp {
		d.TCPTimeouts = append(d.TCPTimeouts, t)
	}
	slices.Sort(d.TCPTimeouts)
	slices.SortFunc(d.Services, func(a, b Service) int { return strings.Compare(a.Name, b.Name) })
	if len(errs) > 0 {
		return d, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return d, nil
}

func describe(l dataplane.Listener, udpTimeout uint32, cache map[string][]netip.AddrPort) (Service, error) {
	s := Service{Listener: l, SNAT: !l.PreserveClientIP, SourceHash: l.SourceIPAffinity}
	switch l.Protocol {
	case dataplane.ProtocolTCP:
		s.Proto = ipProtoTCP
		s.Timeout = seconds(l.IdleTimeout)
		if s.Timeout == 0 {
			s.Timeout = seconds(defaultTCPIdle)
		}
	case dataplane.ProtocolUDP:
		s.Proto = ipProtoUDP
		s.Timeout = udpTimeout
	default:
		return s, fmt.Errorf("unsupported protocol %q", l.Protocol)
	}
	a, err := netip.ParseAddrPort(l.Address)
	if err != nil {
		return s, fmt.Errorf("parse address: %w", err)
	}
	if !a.Addr().Is4() {
		return s, fmt.Errorf("address %s is not IPv4", a)
	}
	s.Addr = a
	s.Name = fmt.Sprintf("%s_%s_%d", strings.ToLower(l.Protocol), a.Addr(), a.Port())
	s.AllSources = l.AllSources()
	for _, c := range l.SourceRanges {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return s, fmt.Errorf("parse source range: %w", err)
		}
		if p.Addr().Is4() {
			s.Sources = append(s.Sources, p.Masked())
		}
	}
	s.Slots, err = slots(l.Targets, cache)
	return s, err
}

// slots returns the Maglev table of targets as the target of each slot.
func slots(targets []string, cache map[string][]netip.AddrPort) ([]netip.AddrPort, error) {
	if len(targets) == 0 {
		return nil, nil
	}
	key := targetsKey(targets)
	if s, ok := cache[key]; ok {
		return s, nil
	}
	addrs := make([]netip.AddrPort, len(targets))
	for i, t := range targets {
		a, err := netip.ParseAddrPort(t)
		if err != nil {
			return nil, fmt.Errorf("parse target: %w", err)
		}
		if !a.Addr().Is4() {
			return nil, fmt.Errorf("target %s is not IPv4", a)
		}
		addrs[i] = a
	}
	table, err := maglev.New(targets, Slots)
	if err != nil {
		return nil, fmt.Errorf("build target table: %w", err)
	}
	out := make([]netip.AddrPort, Slots)
	for i := range out {
		out[i] = addrs[table.Lookup(uint64(i))]
	}
	if cache != nil {
		cache[key] = out
	}
	return out, nil
}

// seconds rounds d up to whole seconds, at least 1 when d > 0.
func seconds(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	return uint32((d + time.Second - 1) / time.Second)
}

// targetsKey identifies a target list for the table cache.
func targetsKey(targets []string) string { return strings.Join(targets, ",") }
