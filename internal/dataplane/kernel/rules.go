package kernel

import (
	"encoding/binary"
	"hash/fnv"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// TableName is the default name of the nftables table (family ip) that a
// kernel plane owns.
const TableName = "kelb"

// Chain names of the table besides the listeners' own chains.
const (
	chainPrerouting  = "prerouting"
	chainOutput      = "output"
	chainPostrouting = "postrouting"
	chainServices    = "services"
	setHairpin       = "hairpin"
)

// snatMark is the packet mark bit that asks postrouting to SNAT a new flow to
// the load balancer's address. Only the first packet of a flow carries it.
const snatMark = 0x02000000

// flowMarkBit and the table's id in the low 16 bits (FlowMark) make the
// conntrack mark kelb sets on every flow its listeners forward: Collect
// reads (and zeroes the counters of) the flows of its own table only, so
// two kelb servers in one network namespace do not take each other's bytes.
const (
	flowMarkBit  = 0x02000000
	flowMarkMask = flowMarkBit | 0xffff
)

// FlowMark is the conntrack mark of the flows forwarded by table.
func FlowMark(table string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(table))
	return flowMarkBit | h.Sum32()&0xffff
}

// hashSeed seeds jhash: the same on every kelb node, so nodes agree.
const hashSeed = 0x6b656c62 // "kelb"

// Registers, as nft lays out concatenations: 16-byte registers 1 and 2, and
// 4-byte registers from 8 (reg 2 is 32-bit registers 12 to 15).
const (
	reg1   = unix.NFT_REG_1
	reg2   = unix.NFT_REG_2
	reg9   = 9  // NFT_REG32_01: the port half of reg 1's address . port
	reg13  = 13 // NFT_REG32_05
	reg14  = 14 // NFT_REG32_06
	reg15  = 15 // NFT_REG32_07
	objCtr = unix.NFT_OBJECT_COUNTER
	objCtT = unix.NFT_OBJECT_CT_TIMEOUT
)

// Rule is one rule of a chain.
type Rule []expr.Any

// Chain is a chain of the table with its rules; Hook is nil for a regular
// chain.
type Chain struct {
	Name     string
	Hook     *nftables.ChainHook
	Priority *nftables.ChainPriority
	Rules    []Rule
}

// chainNames returns a service's admission and forwarding chains.
func chainNames(s Service) (admit, forward string) { return s.Name, s.Name + "_fwd" }

// resetCounter names the counter of flows a service reset or dropped.
func resetCounter(s Service) string { return s.Name + "_rst" }

// Chains lowers d to the table's chains and rules. It is pure: the sets,
// maps and objects the rules name are made by Plane from d as well.
func Chains(d Description) []Chain {
	chains := []Chain{
		{Name: chainPrerouting, Hook: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest,
			Rules: []Rule{{&expr.Verdict{Kind: expr.VerdictJump, Chain: chainServices}}}},
		{Name: chainOutput, Hook: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest,
			Rules: []Rule{{&expr.Verdict{Kind: expr.VerdictJump, Chain: chainServices}}}},
		{Name: chainPostrouting, Hook: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
			Rules: postrouting(d)},
	}
	services := Chain{Name: chainServices}
	for _, s := range d.Services {
		admit, forward := chainNames(s)
		services.Rules = append(services.Rules, dispatch(s, admit))
		chains = append(chains, Chain{Name: admit, Rules: admission(s, forward)}, Chain{Name: forward, Rules: forwarding(s, d.FlowMark)})
	}
	return append(chains, services)
}

// dispatch sends a new flow to a listener's address and port to its chain.
func dispatch(s Service, admit string) Rule {
	a := s.Addr.Addr().As4()
	return Rule{
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: a[:]},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{s.Proto}},
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.BigEndian.PutUint16(s.Addr.Port())},
		&expr.Verdict{Kind: expr.VerdictGoto, Chain: admit},
	}
}

// admission passes clients within the source ranges on to forward, and
// resets (TCP) or drops (UDP) the others.
func admission(s Service, forward string) []Rule {
	if s.AllSources {
		return []Rule{{&expr.Verdict{Kind: expr.VerdictGoto, Chain: forward}}}
	}
	var rules []Rule
	for _, p := range s.Sources {
		m := prefixMask(p.Bits())
		net4 := p.Addr().As4()
		rules = append(rules, Rule{
			&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: m[:], Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: net4[:]},
			&expr.Verdict{Kind: expr.VerdictGoto, Chain: forward},
		})
	}
	return append(rules, refuse(s))
}

// refuse resets a TCP flow or drops a UDP one, counting it.
func refuse(s Service) Rule {
	r := Rule{&expr.Objref{Type: objCtr, Name: resetCounter(s)}}
	if s.Proto == ipProtoTCP {
		return append(r, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
	}
	return append(r, &expr.Verdict{Kind: expr.VerdictDrop})
}

// prefixMask is the network mask of an IPv4 prefix length.
func prefixMask(bits int) [4]byte {
	var m [4]byte
	binary.BigEndian.PutUint32(m[:], ^uint32(0)<<(32-bits)) // 0 for bits 0
	return m
}

// forwarding marks a new flow as kelb's (mark, see FlowMark) and DNATs it
// to its Maglev target.
func forwarding(s Service, mark uint32) []Rule {
	var rules []Rule
	if s.Proto == ipProtoTCP {
		// A TCP packet that is not a SYN yet starts a conntrack entry: a
		// flow kelb terminated, or one that outlived its idle timeout.
		rules = append(rules, append(Rule{
			&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 1, Mask: []byte{0x12}, Xor: []byte{0}},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: []byte{0x02}},
		}, refuse(s)...))
	}
	if len(s.Slots) == 0 {
		return append(rules, refuse(s))
	}
	r := Rule{&expr.Objref{Type: objCtT, Name: TimeoutName(s.Proto, s.Timeout)}}
	if s.SNAT {
		r = append(r,
			&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(^uint32(snatMark)), Xor: binaryutil.NativeEndian.PutUint32(snatMark)},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg1},
		)
	}
	r = append(r,
		&expr.Ct{Key: expr.CtKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^uint32(flowMarkMask)), Xor: binaryutil.NativeEndian.PutUint32(mark)},
		&expr.Ct{Key: expr.CtKeyMARK, Register: reg1, SourceRegister: true},
		&expr.Objref{Type: objCtr, Name: s.Name},
		&expr.Payload{DestRegister: reg2, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4})
	length := uint32(4)
	if !s.SourceHash {
		r = append(r,
			&expr.Payload{DestRegister: reg13, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
			&expr.Payload{DestRegister: reg14, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Payload{DestRegister: reg15, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		)
		length = 16
	}
	r = append(r,
		&expr.Hash{SourceRegister: reg2, DestRegister: reg1, Length: length, Modulus: uint32(len(s.Slots)), Seed: hashSeed, Type: expr.HashTypeJenkins},
		&expr.Lookup{SourceRegister: reg1, DestRegister: reg1, IsDestRegSet: true, SetName: s.Name},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1, RegProtoMin: reg9, Specified: true},
	)
	return append(rules, r)
}

// postrouting SNATs marked flows (preserve_client_ip off) and hairpin flows
// to the load balancer's address (the original destination of the flow), or
// with d.Masquerade to the address of the interface they leave by.
func postrouting(d Description) []Rule {
	snat := []expr.Any{
		&expr.Ct{Register: reg1, Key: expr.CtKeyDST, Direction: 0},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1},
	}
	if d.Masquerade {
		snat = []expr.Any{&expr.Masq{}}
	}
	marked := Rule{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(snatMark), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^uint32(snatMark)), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg1},
	}
	rules := []Rule{append(marked, snat...)}
	if len(d.Hairpin) > 0 {
		rules = append(rules, append(Rule{
			&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Payload{DestRegister: reg9, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Lookup{SourceRegister: reg1, SetName: setHairpin},
			&expr.Ct{Register: reg1, Key: expr.CtKeySTATUS},
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(0x20), Xor: binaryutil.NativeEndian.PutUint32(0)}, // IPS_DST_NAT
			&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(0)},
		}, snat...))
	}
	return rules
}

// mapElements are the elements of a service's Maglev map: slot -> target
// address . port.
func mapElements(s Service) []nftables.SetElement {
	els := make([]nftables.SetElement, len(s.Slots))
	for i, t := range s.Slots {
		a := t.Addr().As4()
		val := make([]byte, 8)
		copy(val, a[:])
		binary.BigEndian.PutUint16(val[4:], t.Port())
		els[i] = nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(i)), Val: val}
	}
	return els
}

// hairpinElements are the elements of the hairpin set: target . target.
func hairpinElements(d Description) []nftables.SetElement {
	els := make([]nftables.SetElement, len(d.Hairpin))
	for i, a := range d.Hairpin {
		b := a.As4()
		els[i] = nftables.SetElement{Key: append(b[:], b[:]...)}
	}
	return els
}
