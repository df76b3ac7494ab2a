package dataplane

import (
	"encoding/binary"
	"net/netip"

	"github.com/kelb-io/kelb/internal/dataplane/maglev"
)

// IP protocol numbers, as the flow hash takes them.
const (
	ipProtoTCP = 6
	ipProtoUDP = 17
)

// flowHash hashes a flow's 5-tuple. It is deterministic (the same flow hashes
// the same on every kelb node and after a restart) and does not allocate.
func flowHash(proto uint8, src, dst netip.AddrPort) uint64 {
	s, d := src.Addr().As16(), dst.Addr().As16()
	h := maglev.Mix(uint64(proto)<<32 | uint64(src.Port())<<16 | uint64(dst.Port()))
	h = maglev.Mix(h ^ binary.LittleEndian.Uint64(s[0:8]))
	h = maglev.Mix(h ^ binary.LittleEndian.Uint64(s[8:16]))
	h = maglev.Mix(h ^ binary.LittleEndian.Uint64(d[0:8]))
	return maglev.Mix(h ^ binary.LittleEndian.Uint64(d[8:16]))
}

// sourceHash hashes only the client's address, for source_ip stickiness.
func sourceHash(src netip.Addr) uint64 {
	s := src.As16()
	h := maglev.Mix(binary.LittleEndian.Uint64(s[0:8]) ^ 0x736f75726365)
	return maglev.Mix(h ^ binary.LittleEndian.Uint64(s[8:16]))
}
