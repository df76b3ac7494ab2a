package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/ifaddr"
)

// addressManager keeps the addresses of kelb's load balancers on one
// network interface (--manage-addresses), so that traffic to them is
// delivered locally without any other network setup.
//
// Each pass compares the addresses load balancers hold in the zone pools
// with those on the interface: a missing one is added as a /32 (/128), one
// that kelb added and no load balancer holds any more is removed. Addresses
// outside the zone pools, and addresses in a pool that someone else put on
// the interface, are never touched. IPv4 addresses kelb adds carry the
// label <iface>:kelb (when it fits the kernel's 15 characters), so a
// restarted kelb recognises them as its own; without a label (IPv6, long
// interface names) ownership is known only to the running process.
// Addresses are left in place when kelb stops, so that a restart serves
// again at once. A failure to add or remove one address is logged and
// retried on the next pass; the others still apply.
type addressManager struct {
	link  netlink.Link
	pools []netip.Prefix
	label string
	log   *slog.Logger
	// owned are the addresses on the interface that kelb added.
	owned map[netip.Addr]bool
}

// newAddressManager looks up iface and adopts the addresses kelb left on it
// before.
func newAddressManager(iface string, zones []elb.Zone, log *slog.Logger) (*addressManager, error) {
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return nil, fmt.Errorf("--manage-addresses %s: %w", iface, err)
	}
	m := &addressManager{link: link, log: log, owned: map[netip.Addr]bool{}}
	m.pools = zonePools(zones)
	m.label = ifaddr.Label(iface)
	present, err := m.list()
	if err != nil {
		return nil, err
	}
	for a, label := range present {
		if m.label != "" && label == m.label && m.inPools(a) {
			m.owned[a] = true
		}
	}
	return m, nil
}

// list returns the addresses on the interface with their labels.
func (m *addressManager) list() (map[netip.Addr]string, error) {
	return ifaddr.List(m.link)
}

func (m *addressManager) inPools(a netip.Addr) bool {
	return slices.ContainsFunc(m.pools, func(p netip.Prefix) bool { return p.Contains(a) })
}

// sync brings the interface in line with the load balancers of st.
func (m *addressManager) sync(st elb.State) error {
	present, err := m.list()
	if err != nil {
		return err
	}
	want := lbAddresses(st, m.pools)
	add, remove := planAddresses(want, present, m.owned)
	// An address of kelb's that someone else removed is no longer kelb's
	// to remove.
	for a := range m.owned {
		if _, ok := present[a]; !ok && !slices.Contains(want, a) {
			delete(m.owned, a)
		}
	}
	var errs []error
	for _, a := range add {
		if err := netlink.AddrAdd(m.link, m.netlinkAddr(a)); err != nil {
			errs = append(errs, fmt.Errorf("add %s to %s: %w", a, m.link.Attrs().Name, err))
			continue
		}
		m.owned[a] = true
		m.log.Info("load balancer address added", "address", a, "interface", m.link.Attrs().Name)
	}
	for _, a := range remove {
		if err := netlink.AddrDel(m.link, m.netlinkAddr(a)); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("remove %s from %s: %w", a, m.link.Attrs().Name, err))
			continue
		}
		delete(m.owned, a)
		m.log.Info("load balancer address removed", "address", a, "interface", m.link.Attrs().Name)
	}
	return errors.Join(errs...)
}

func (m *addressManager) netlinkAddr(a netip.Addr) *netlink.Addr {
	return ifaddr.Host(a, m.label)
}

// zonePools returns the address pools of zones, IPv4 and IPv6.
func zonePools(zones []elb.Zone) []netip.Prefix {
	var out []netip.Prefix
	for _, z := range zones {
		out = append(out, z.Pool)
		if z.IPv6Pool.IsValid() {
			out = append(out, z.IPv6Pool)
		}
	}
	return out
}

// lbAddresses returns the addresses that load balancers of st hold in the
// pools, sorted.
func lbAddresses(st elb.State, pools []netip.Prefix) []netip.Addr {
	var out []netip.Addr
	for _, lb := range st.LoadBalancers {
		for _, z := range lb.Zones {
			for _, a := range z.Addresses() {
				a = a.Unmap()
				if slices.ContainsFunc(pools, func(p netip.Prefix) bool { return p.Contains(a) }) {
					out = append(out, a)
				}
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// planAddresses decides which of want to add (those not present) and which
// addresses to remove: those kelb owns that are no longer wanted. Both are
// sorted.
func planAddresses(want []netip.Addr, present map[netip.Addr]string, owned map[netip.Addr]bool) (add, remove []netip.Addr) {
	for _, a := range want {
		if _, ok := present[a]; !ok {
			add = append(add, a)
		}
	}
	for a := range owned {
		if _, ok := present[a]; ok && !slices.Contains(want, a) {
			remove = append(remove, a)
		}
	}
	slices.SortFunc(add, netip.Addr.Compare)
	slices.SortFunc(remove, netip.Addr.Compare)
	return add, remove
}
