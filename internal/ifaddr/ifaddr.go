// Package ifaddr holds how kelb puts load balancer addresses on a network
// interface: as host addresses (/32, /128), IPv4 ones labelled
// <iface>:kelb so that a restarted kelb recognises them as its own. Both
// --manage-addresses and --announce l2 add addresses this way.
//
// Failure behaviour: Add and Remove return netlink's errors with the
// address and interface named; removing an address that is not there is
// not an error.
package ifaddr

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LabelSuffix marks the IPv4 addresses kelb adds.
const LabelSuffix = ":kelb"

// Label is the label of the IPv4 addresses kelb adds to iface; empty when
// it would not fit the kernel's 15 characters (then kelb's addresses are
// known only to the running process).
func Label(iface string) string {
	if label := iface + LabelSuffix; len(label) < unix.IFNAMSIZ {
		return label
	}
	return ""
}

// Host is a as a host address, labelled with label when IPv4.
func Host(a netip.Addr, label string) *netlink.Addr {
	bits := a.BitLen()
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, bits)}}
	if a.Is4() {
		addr.Label = label
	}
	return addr
}

// Add puts a on link as a host address labelled for kelb; an address
// already there is left as it is.
func Add(link netlink.Link, a netip.Addr) error {
	if err := netlink.AddrAdd(link, Host(a, Label(link.Attrs().Name))); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add %s to %s: %w", a, link.Attrs().Name, err)
	}
	return nil
}

// Remove takes the host address a off link.
func Remove(link netlink.Link, a netip.Addr) error {
	if err := netlink.AddrDel(link, Host(a, Label(link.Attrs().Name))); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("remove %s from %s: %w", a, link.Attrs().Name, err)
	}
	return nil
}

// List returns the addresses on link with their labels.
func List(link netlink.Link) (map[netip.Addr]string, error) {
	addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", link.Attrs().Name, err)
	}
	present := make(map[netip.Addr]string, len(addrs))
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			present[ip.Unmap()] = a.Label
		}
	}
	return present, nil
}
