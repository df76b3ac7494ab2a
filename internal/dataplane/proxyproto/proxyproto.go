// Package proxyproto writes and reads PROXY protocol version 2 headers, the
// binary preamble a network load balancer sends to a target, before any
// client data, to tell it the client's address and the address the client
// connected to (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt).
//
// kelb sends the header on every new target connection of a target group with
// proxy_protocol_v2.enabled=true. Append never fails: mixed IPv4/IPv6 pairs
// are written as IPv6 (IPv4-mapped), and an invalid address gives a LOCAL
// header that carries no addresses. Read is for targets and tests: it checks
// the signature, version and length, and returns an error that says which part
// was wrong; it consumes exactly the header and nothing after it.
package proxyproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// Signature starts every version 2 header.
const Signature = "\r\n\r\n\x00\r\nQUIT\n"

// Commands.
const (
	CommandLocal byte = 0x0
	CommandProxy byte = 0x1
)

// Transport protocols.
const (
	Unspec byte = 0x0
	Stream byte = 0x1 // TCP
	Dgram  byte = 0x2 // UDP
)

// Address families.
const (
	familyUnspec byte = 0x0
	familyInet   byte = 0x1
	familyInet6  byte = 0x2
)

// MaxHeaderLen is the longest header Append writes (IPv6 addresses, no TLVs).
const MaxHeaderLen = 16 + 36

// Header is a decoded version 2 header.
type Header struct {
	Command     byte
	Protocol    byte // Stream, Dgram or Unspec
	Source      netip.AddrPort
	Destination netip.AddrPort
}

// Append appends the header for a flow from src to dst over protocol (Stream
// or Dgram) to b and returns the extended slice. It does not allocate when b
// has MaxHeaderLen bytes of spare capacity.
func Append(b []byte, protocol byte, src, dst netip.AddrPort) []byte {
	b = append(b, Signature...)
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	if !sa.IsValid() || !da.IsValid() {
		return append(b, 0x20|CommandLocal, familyUnspec<<4|Unspec, 0, 0)
	}
	if sa.Is4() != da.Is4() {
		sa, da = as6(sa), as6(da)
	}
	if sa.Is4() {
		b = append(b, 0x20|CommandProxy, familyInet<<4|protocol, 0, 12)
		s4, d4 := sa.As4(), da.As4()
		b = append(b, s4[:]...)
		b = append(b, d4[:]...)
	} else {
		b = append(b, 0x20|CommandProxy, familyInet6<<4|protocol, 0, 36)
		s16, d16 := sa.As16(), da.As16()
		b = append(b, s16[:]...)
		b = append(b, d16[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}

func as6(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.AddrFrom16(a.As16())
	}
	return a
}

// ErrNoSignature is returned by Read when the stream does not start with a
// version 2 signature.
var ErrNoSignature = errors.New("proxy protocol: no v2 signature")

// Read reads one header from r. TLVs after the addresses are skipped.
func Read(r io.Reader) (Header, error) {
	var fixed [16]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return Header{}, fmt.Errorf("proxy protocol: read header: %w", err)
	}
	if string(fixed[:12]) != Signature {
		return Header{}, ErrNoSignature
	}
	if v := fixed[12] >> 4; v != 2 {
		return Header{}, fmt.Errorf("proxy protocol: version %d, want 2", v)
	}
	h := Header{Command: fixed[12] & 0xf, Protocol: fixed[13] & 0xf}
	if h.Command != CommandLocal && h.Command != CommandProxy {
		return Header{}, fmt.Errorf("proxy protocol: unknown command %#x", h.Command)
	}
	n := int(binary.BigEndian.Uint16(fixed[14:16]))
	rest := make([]byte, n)
	if _, err := io.ReadFull(r, rest); err != nil {
		return Header{}, fmt.Errorf("proxy protocol: read %d address bytes: %w", n, err)
	}
	if h.Command == CommandLocal {
		return h, nil
	}
	switch fam := fixed[13] >> 4; fam {
	case familyInet:
		if n < 12 {
			return Header{}, fmt.Errorf("proxy protocol: IPv4 addresses need 12 bytes, header has %d", n)
		}
		h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(rest[0:4])), binary.BigEndian.Uint16(rest[8:10]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom4([4]byte(rest[4:8])), binary.BigEndian.Uint16(rest[10:12]))
	case familyInet6:
		if n < 36 {
			return Header{}, fmt.Errorf("proxy protocol: IPv6 addresses need 36 bytes, header has %d", n)
		}
		h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(rest[0:16])), binary.BigEndian.Uint16(rest[32:34]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom16([16]byte(rest[16:32])), binary.BigEndian.Uint16(rest[34:36]))
	case familyUnspec:
	default:
		return Header{}, fmt.Errorf("proxy protocol: unsupported address family %#x", fam)
	}
	return h, nil
}
