package server_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/kelb-io/kelb/internal/devcluster/kubelet/netnstest"
)

// nsDialer dials from inside the named network namespace.
func nsDialer(name string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := netnstest.In(name, func() error {
			var d net.Dialer
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// newNetns creates a network namespace with loopback up and a dummy
// interface (a bridge without ports where the kernel has no dummy driver:
// it holds local addresses just the same), and deletes it when t ends.
func newNetns(t *testing.T, dummy string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (iproute2) not installed")
	}
	name := fmt.Sprintf("kelb-e2e-%d-%d", os.Getpid(), netCounter.Add(1))
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	ip("-n", name, "link", "set", "lo", "up")
	if err := exec.Command("ip", "-n", name, "link", "add", dummy, "type", "dummy").Run(); err != nil {
		ip("-n", name, "link", "add", dummy, "type", "bridge")
	}
	ip("-n", name, "link", "set", dummy, "up")
	return name
}

// nsLink returns a netlink handle of namespace ns (the caller closes it)
// and its link dev.
func nsLink(t *testing.T, ns, dev string) (*netlink.Handle, netlink.Link) {
	t.Helper()
	nsh, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer nsh.Close()
	h, err := netlink.NewHandleAt(nsh)
	if err != nil {
		t.Fatal(err)
	}
	link, err := h.LinkByName(dev)
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	return h, link
}

// interfaceAddrs lists the addresses of dev in the namespace as
// "addr/bits label".
func interfaceAddrs(t *testing.T, ns, dev string) []string {
	t.Helper()
	h, link := nsLink(t, ns, dev)
	defer h.Close()
	list, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range list {
		ones, _ := a.Mask.Size()
		out = append(out, fmt.Sprintf("%s/%d %s", a.IP, ones, a.Label))
	}
	slices.Sort(out)
	return out
}

// TestManageAddresses runs kelb server with --manage-addresses in a network
// namespace of its own: a load balancer's addresses appear on the interface
// and carry traffic, survive a restart as kelb's own, and go away with the
// load balancer, while an address kelb did not add stays.
func TestManageAddresses(t *testing.T) {
	t.Parallel()
	const dev = "kelb0"
	ns := newNetns(t, dev)
	// An address in a zone pool that kelb did not add.
	if out, err := exec.Command("ip", "-n", ns, "addr", "add", "198.19.1.200/32", "dev", dev).CombinedOutput(); err != nil {
		t.Fatalf("ip addr add: %v\n%s", err, out)
	}
	s := startServer(t, testNet{}, serverOptions{
		netns: ns,
		zoneFlags: []string{
			"--zone", region + "a=198.19.1.0/24",
			"--zone", region + "b=198.19.2.0/24",
		},
		extraArgs: []string{"--manage-addresses", dev},
	})

	// A backend on the namespace's loopback.
	var ln net.Listener
	if err := netnstest.In(ns, func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.10:7000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	b := serveEcho(t, "ns-target", ln)

	if got, want := interfaceAddrs(t, ns, dev), []string{"198.19.1.200/32 " + dev}; !cmp.Equal(got, want) {
		t.Fatalf("before any load balancer, %s has %v, want %v", dev, got, want)
	}
	st := createStack(t, s, stackSpec{
		name: "managed", port: 7000, tgPort: 7000,
		targets: []types.TargetDescription{ipTarget(t, b.Addr)},
		lbAttrs: map[string]string{"load_balancing.cross_zone.enabled": "true"},
	})
	withLB := []string{
		st.Addr[region+"a"] + "/32 " + dev + ":kelb",
		"198.19.1.200/32 " + dev,
		st.Addr[region+"b"] + "/32 " + dev + ":kelb",
	}
	slices.Sort(withLB)
	eventually(t, 10*time.Second, "load balancer addresses on "+dev, func() error {
		if got := interfaceAddrs(t, ns, dev); !cmp.Equal(got, withLB) {
			return errNotYetf("%s has %v, want %v", dev, got, withLB)
		}
		return nil
	})
	for _, z := range []string{"a", "b"} {
		addr := st.listenerAddr(z, 7000)
		if !netip.MustParsePrefix("198.19.0.0/16").Contains(netip.MustParseAddrPort(addr).Addr()) {
			t.Fatalf("zone %s address %s outside its pool", z, addr)
		}
		eventually(t, 20*time.Second, "traffic through "+addr, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			c, err := dialEchoWith(ctx, s.dial, addr)
			if err != nil {
				return err
			}
			defer c.Close()
			if c.Target != b.Name {
				return fmt.Errorf("greeting %q", c.Target)
			}
			return c.roundTrip("hello")
		})
	}

	// Killed and restarted, kelb recognises its addresses by their label
	// and still removes them with the load balancer.
	s.stop(syscall.SIGKILL)
	s.restart()
	if got := interfaceAddrs(t, ns, dev); !cmp.Equal(got, withLB) {
		t.Errorf("after the restart %s has %v, want %v", dev, got, withLB)
	}
	if _, err := s.ELB.DeleteLoadBalancer(context.Background(), &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(st.LB)}); err != nil {
		t.Fatalf("DeleteLoadBalancer: %v", err)
	}
	eventually(t, 10*time.Second, "load balancer addresses gone from "+dev, func() error {
		if got, want := interfaceAddrs(t, ns, dev), []string{"198.19.1.200/32 " + dev}; !cmp.Equal(got, want) {
			return errNotYetf("%s has %v, want %v", dev, got, want)
		}
		return nil
	})
}
