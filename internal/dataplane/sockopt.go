package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenControl makes a listening socket bindable to an address the host
// does not have yet (IP_FREEBIND: load balancer addresses may be configured
// after the listener opens) and rebindable at once after a restart
// (SO_REUSEADDR).
func listenControl(network, address string, c syscall.RawConn) error {
	var opErr error
	err := c.Control(func(fd uintptr) {
		if opErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); opErr != nil {
			opErr = fmt.Errorf("set SO_REUSEADDR on %s %s: %w", network, address, opErr)
			return
		}
		if opErr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1); opErr != nil {
			opErr = fmt.Errorf("set IP_FREEBIND on %s %s: %w", network, address, opErr)
		}
	})
	return errors.Join(err, opErr)
}

// bindControl sets IP_BIND_ADDRESS_NO_PORT on a target connection bound to a
// chosen source address: the kernel then picks the source port at connect
// time, per destination, instead of at bind time, so that many connections
// from one load balancer address do not run out of ephemeral ports.
func bindControl(network, address string, c syscall.RawConn) error {
	return c.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1) // an optimisation only
	})
}

// transparentControl asks for IP_TRANSPARENT so that a target connection may
// use the client's (non-local) address as source. It needs CAP_NET_ADMIN;
// without it the bind still works when the client address is local (as in
// kelb's local environment, where the whole range is on loopback) and fails
// otherwise, which the caller counts and falls back from.
func transparentControl(network, address string, c syscall.RawConn) error {
	_ = c.Control(func(fd uintptr) {
		level, opt := unix.SOL_IP, unix.IP_TRANSPARENT
		if network == "tcp6" || network == "udp6" {
			level, opt = unix.SOL_IPV6, unix.IPV6_TRANSPARENT
		}
		_ = unix.SetsockoptInt(int(fd), level, opt, 1) // best effort, see above
	})
	return bindControl(network, address, c)
}

// isBindError reports whether err is a failure to use a local address,
// rather than a failure to reach the target.
func isBindError(err error) bool {
	return errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EADDRINUSE) ||
		errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EINVAL)
}

// network returns "tcp4"/"tcp6" (or "udp4"/"udp6") for addr, so that IPv4
// addresses get AF_INET sockets.
func network(proto string, addr netip.Addr) string {
	if addr.Unmap().Is4() {
		return proto + "4"
	}
	return proto + "6"
}

func sameFamily(a, b netip.Addr) bool { return a.Unmap().Is4() == b.Unmap().Is4() }

// tcpStats reads the kernel's view of a TCP connection: its state and the
// milliseconds since it last received data.
func tcpStats(c *net.TCPConn) (state uint8, sinceRecvMs uint32, err error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var info *unix.TCPInfo
	var sockErr error
	if err := raw.Control(func(fd uintptr) {
		info, sockErr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return 0, 0, err
	}
	if sockErr != nil {
		return 0, 0, sockErr
	}
	return info.State, info.Last_data_recv, nil
}

// tcpStateClose is TCP_CLOSE in tcpi_state: the connection was reset or
// fully closed.
const tcpStateClose = 7

// listenConfig is shared; it holds no per-socket state. Go's default TCP
// keep-alive probes are off on both sides of a flow (KeepAlive -1 here and
// in the dialers), as NLB sends none: the idle timeout ends dead flows, and
// each connection saves eight setsockopt calls.
var listenConfig = net.ListenConfig{Control: listenControl, KeepAlive: -1}

func listenTCP(ctx context.Context, addr netip.AddrPort) (*net.TCPListener, error) {
	ln, err := listenConfig.Listen(ctx, network("tcp", addr.Addr()), addr.String())
	if err != nil {
		return nil, err
	}
	return ln.(*net.TCPListener), nil
}

func listenUDP(ctx context.Context, addr netip.AddrPort) (*net.UDPConn, error) {
	c, err := listenConfig.ListenPacket(ctx, network("udp", addr.Addr()), addr.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.UDPConn), nil
}
