package server_test

import (
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/kelb-io/kelb/internal/devcluster/kubelet/netnstest"
)

// linkMAC returns the MAC of dev in namespace ns.
func linkMAC(t *testing.T, ns, dev string) string {
	t.Helper()
	h, link := nsLink(t, ns, dev)
	h.Close()
	return link.Attrs().HardwareAddr.String()
}

var neighMACRE = regexp.MustCompile(`lladdr (\S+)`)

// neighMAC returns the MAC namespace ns's neighbour table has for addr
// ("" when none); with resolve it first sends addr a datagram, so that the
// kernel resolves it.
func neighMAC(t *testing.T, ns, addr string, resolve bool) string {
	t.Helper()
	if resolve {
		_ = netnstest.In(ns, func() error {
			c, err := net.Dial("udp", net.JoinHostPort(addr, "9"))
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write([]byte("who has it"))
			return err
		})
	}
	out, err := exec.Command("ip", "-n", ns, "neigh", "show", "to", addr).CombinedOutput()
	if err != nil {
		t.Fatalf("ip neigh show: %v\n%s", err, out)
	}
	if m := neighMACRE.FindStringSubmatch(string(out)); m != nil {
		return m[1]
	}
	return ""
}

// l2Fleet is two kelb server processes with --announce l2 on one etcd,
// each with its eth0 on the fleet's bridge, serving zone a (198.19.1.0/24,
// routed by the router namespace onto the bridge), the bridge's network
// (198.18.0.0/24) their VPC.
type l2Fleet struct {
	*bgpFleet
	servers []*kelbServer
}

// newL2Fleet makes the namespaces and starts the two nodes on etcd prefix.
func newL2Fleet(t *testing.T, prefix string) *l2Fleet {
	t.Helper()
	l := &l2Fleet{bgpFleet: newFleetNets(t, 2, false)}
	route := exec.Command("ip", "-n", l.rtr, "route", "add", "198.19.1.0/24", "dev", "br0")
	if out, err := route.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", route, err, out)
	}
	for i, ns := range l.nodes {
		// The kernel data plane forwards (NAT) to the targets.
		if out, err := exec.Command("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1").CombinedOutput(); err != nil {
			t.Fatalf("ip_forward in %s: %v\n%s", ns, err, out)
		}
		l.servers = append(l.servers, startServer(t, testNet{}, serverOptions{
			netns:     ns,
			zoneFlags: []string{"--zone", region + "a=198.19.1.0/24"},
			extraArgs: []string{
				"--store", "etcd", "--etcd-endpoints", l.etcd, "--etcd-prefix", prefix,
				"--announce", "l2", "--l2-interface", "eth0", "--node-name", fmt.Sprintf("lb%d", i+1),
				// Targets on the bridge are addresses of the VPC.
				"--vpc-cidr", "198.18.0.0/24",
			},
		}))
	}
	return l
}

// held is how addr shows on an owner's eth0.
func held(addr string) string { return addr + "/32 eth0:kelb" }

// holders returns the nodes whose eth0 holds addr.
func (l *l2Fleet) holders(t *testing.T, addr string) []int {
	t.Helper()
	var out []int
	for i, ns := range l.nodes {
		if slices.Contains(interfaceAddrs(t, ns, "eth0"), held(addr)) {
			out = append(out, i)
		}
	}
	return out
}

// waitOwner waits until exactly one node holds addr and returns it.
func (l *l2Fleet) waitOwner(t *testing.T, addr string) int {
	t.Helper()
	var owner int
	eventually(t, 30*time.Second, "one owner of "+addr, func() error {
		h := l.holders(t, addr)
		if len(h) != 1 {
			return fmt.Errorf("holders %v, want exactly one", h)
		}
		owner = h[0]
		return nil
	})
	return owner
}

// TestL2Announce runs two kelb server processes with --announce l2 on one
// etcd, each with its eth0 on one bridge with a client namespace: exactly
// one holds a load balancer's address and answers ARP for it; killed, the
// other takes the address over and its gratuitous ARP moves the client's
// neighbour entry to its MAC; restarted, the killed node gives up the
// address it left behind; a deleted load balancer's address goes.
func TestL2Announce(t *testing.T) {
	t.Parallel()
	f := newL2Fleet(t, "/kelb-l2/")
	servers := f.servers
	arn, addrs := createNLB(t, servers[0], "l2-one")
	addr := addrs[region+"a"]
	held := held(addr)
	holders := func() []int { return f.holders(t, addr) }
	owner := f.waitOwner(t, addr)
	other := 1 - owner
	ownerMAC, otherMAC := linkMAC(t, f.nodes[owner], "eth0"), linkMAC(t, f.nodes[other], "eth0")
	eventually(t, 30*time.Second, "the client resolves the owner", func() error {
		if got := neighMAC(t, f.rtr, addr, true); got != ownerMAC {
			return fmt.Errorf("client has %q for %s, want node %d's %s", got, addr, owner, ownerMAC)
		}
		return nil
	})
	if h := holders(); !slices.Equal(h, []int{owner}) {
		t.Fatalf("holders %v, want [%d]", h, owner)
	}

	// Killed, the owner's lease runs out and the other node takes over,
	// telling the client by gratuitous ARP (the client sends nothing).
	killed := time.Now()
	servers[owner].stop(syscall.SIGKILL)
	eventually(t, 30*time.Second, "takeover", func() error {
		if !slices.Contains(interfaceAddrs(t, f.nodes[other], "eth0"), held) {
			return fmt.Errorf("node %d does not hold %s", other, addr)
		}
		return nil
	})
	// Reported, not asserted: bounded by --node-lease-ttl (3s).
	t.Logf("takeover %v after the kill", time.Since(killed).Round(10*time.Millisecond))
	eventually(t, 30*time.Second, "the client's entry moved by gratuitous ARP", func() error {
		if got := neighMAC(t, f.rtr, addr, false); got != otherMAC {
			return fmt.Errorf("client has %q for %s, want node %d's %s", got, addr, other, otherMAC)
		}
		return nil
	})

	// The killed node left the address on its interface (nothing ran to
	// take it off); restarted, it adopts it, sees the other node owning it
	// and gives it up.
	if !slices.Contains(interfaceAddrs(t, f.nodes[owner], "eth0"), held) {
		t.Errorf("the killed node's interface lost %s with nothing running", addr)
	}
	servers[owner].restart()
	eventually(t, 30*time.Second, "the restarted node gives the address up", func() error {
		if h := holders(); !slices.Equal(h, []int{other}) {
			return fmt.Errorf("holders %v, want [%d]", h, other)
		}
		return nil
	})

	// A deleted load balancer's address goes from its owner.
	deleteLB(t, servers[other], arn)
	eventually(t, 30*time.Second, "address gone", func() error {
		if slices.Contains(interfaceAddrs(t, f.nodes[other], "eth0"), held) {
			return fmt.Errorf("node %d still holds %s", other, addr)
		}
		return nil
	})
}
