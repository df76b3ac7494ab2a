package bgp

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Peer is a BGP neighbour kelb connects to.
type Peer struct {
	// Address is the neighbour's address.
	Address netip.Addr
	// ASN is the neighbour's autonomous system number.
	ASN uint32
	// Port is the neighbour's BGP port (DefaultPort when zero).
	Port uint16
	// HoldTime is the hold time kelb proposes (DefaultHoldTime when
	// zero); the session uses the smaller of both sides'.
	HoldTime time.Duration
	// Password enables TCP MD5 signatures (RFC 2385) with this key.
	Password string
	// LocalAddress is the address kelb connects from; unset lets the
	// kernel pick by route. It is the next hop of the announced routes.
	LocalAddress netip.Addr
}

const (
	// DefaultPort is BGP's port.
	DefaultPort = 179
	// DefaultHoldTime is short, so that a router drops the routes of a
	// node that vanished without closing its sessions within seconds.
	DefaultHoldTime = 9 * time.Second
	// DefaultASN is kelb's autonomous system number unless --bgp-asn says
	// otherwise (the first private 16-bit ASN).
	DefaultASN = 64512
)

// ParsePeer parses a --bgp-peer value: ADDR,asn=N[,port=P][,hold=D][,password=S].
// D is a duration of whole seconds from 3s to 65535s (RFC 4271's bounds; a
// hold time of 0, no keepalives at all, is not offered).
func ParsePeer(s string) (Peer, error) {
	fields := strings.Split(s, ",")
	addr, err := netip.ParseAddr(fields[0])
	if err != nil {
		return Peer{}, fmt.Errorf("peer %q: address %q: want an IP address", s, fields[0])
	}
	p := Peer{Address: addr.Unmap()}
	seen := map[string]bool{}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok || v == "" {
			return Peer{}, fmt.Errorf("peer %q: option %q: want KEY=VALUE", s, f)
		}
		if seen[k] {
			return Peer{}, fmt.Errorf("peer %q: option %s given twice", s, k)
		}
		seen[k] = true
		switch k {
		case "asn":
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil || n == 0 {
				return Peer{}, fmt.Errorf("peer %q: asn %q: want a number from 1 to 4294967295", s, v)
			}
			p.ASN = uint32(n)
		case "port":
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil || n == 0 {
				return Peer{}, fmt.Errorf("peer %q: port %q: want a number from 1 to 65535", s, v)
			}
			p.Port = uint16(n)
		case "hold":
			d, err := time.ParseDuration(v)
			if err != nil {
				return Peer{}, fmt.Errorf("peer %q: hold %q: want a duration such as 9s", s, v)
			}
			if err := checkHoldTime(d); err != nil {
				return Peer{}, fmt.Errorf("peer %q: %w", s, err)
			}
			p.HoldTime = d
		case "password":
			if len(v) > 80 {
				return Peer{}, fmt.Errorf("peer %q: password longer than 80 bytes (the TCP MD5 key limit)", s)
			}
			p.Password = v
		default:
			return Peer{}, fmt.Errorf("peer %q: unknown option %q (want asn, port, hold or password)", s, k)
		}
	}
	if p.ASN == 0 {
		return Peer{}, fmt.Errorf("peer %q: asn=N is required", s)
	}
	return p, nil
}

// checkHoldTime enforces the hold times kelb offers: whole seconds from 3
// to 65535.
func checkHoldTime(d time.Duration) error {
	switch {
	case d%time.Second != 0:
		return fmt.Errorf("hold %s: must be whole seconds", d)
	case d < 3*time.Second:
		return fmt.Errorf("hold %s: must be at least 3s", d)
	case d > 65535*time.Second:
		return fmt.Errorf("hold %s: must be at most 65535s", d)
	}
	return nil
}

// String renders p in --bgp-peer syntax, without the password.
func (p Peer) String() string {
	s := fmt.Sprintf("%s,asn=%d", p.Address, p.ASN)
	if p.Port != 0 {
		s += fmt.Sprintf(",port=%d", p.Port)
	}
	return s
}

// DefaultRouterID picks a router id from the node's addresses: the first
// IPv4 address that is not loopback, link-local or unspecified.
func DefaultRouterID(addrs []netip.Addr) (netip.Addr, bool) {
	for _, a := range addrs {
		a = a.Unmap()
		if a.Is4() && !a.IsLoopback() && !a.IsLinkLocalUnicast() && !a.IsUnspecified() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// InterfaceAddrs lists the addresses of the host's interfaces, in the
// kernel's order.
func InterfaceAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list interface addresses: %w", err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out, nil
}
