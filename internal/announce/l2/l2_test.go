package l2_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/kelb-io/kelb/internal/announce/l2"
	"github.com/kelb-io/kelb/internal/devcluster/kubelet/netnstest"
	"github.com/kelb-io/kelb/internal/elb/store/etcdtest"
)

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

var lladdrRE = regexp.MustCompile(`lladdr (\S+)`)

// neighbour returns the MAC the client namespace's neighbour table has for
// addr, after sending it a datagram so that the kernel resolves it.
func neighbour(t *testing.T, ns string, addr netip.Addr) string {
	t.Helper()
	if err := netnstest.In(ns, func() error {
		c, err := net.Dial("udp", netip.AddrPortFrom(addr, 9).String())
		if err != nil {
			return err
		}
		defer c.Close()
		_, _ = c.Write([]byte("who"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ip", "-n", ns, "neigh", "show", "to", addr.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("ip neigh show: %v\n%s", err, out)
	}
	if m := lladdrRE.FindStringSubmatch(string(out)); m != nil {
		return m[1]
	}
	return ""
}

// sessions hands out sessions on new leases of 2s, as the fleet hands out
// the node's registration.
func sessions(cli *clientv3.Client) func(ctx context.Context) (*concurrency.Session, error) {
	return func(ctx context.Context) (*concurrency.Session, error) {
		lease, err := cli.Grant(ctx, 2)
		if err != nil {
			return nil, err
		}
		return concurrency.NewSession(cli, concurrency.WithLease(lease.ID))
	}
}

// eventually polls cond for up to a minute.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestOwnerElectionAndTakeover runs two announcers on one etcd, each on
// its own interface into a bridged LAN with a client namespace: exactly
// one holds the address and answers the client's ARP; when it stops the
// other takes the address over and its gratuitous ARP moves the client's
// neighbour entry to its MAC; an address no longer wanted is given up.
func TestOwnerElectionAndTakeover(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	ip(t, "route", "del", "local", netnstest.Range, "dev", "lo", "table", "local")
	// Both interfaces are in this namespace: each answers ARP only for its
	// own addresses.
	if out, err := exec.Command("sysctl", "-w", "net.ipv4.conf.all.arp_ignore=1").CombinedOutput(); err != nil {
		t.Fatalf("sysctl: %v\n%s", err, out)
	}
	lan, client := fmt.Sprintf("kelblan-%d", os.Getpid()), fmt.Sprintf("kelbcli-%d", os.Getpid())
	for _, ns := range []string{lan, client} {
		ip(t, "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		ip(t, "-n", ns, "link", "set", "lo", "up")
	}
	ip(t, "-n", lan, "link", "add", "br0", "type", "bridge")
	ip(t, "-n", lan, "link", "set", "br0", "up")
	for i, dev := range []string{"l2a", "l2b"} {
		peer := fmt.Sprintf("p%d", i)
		ip(t, "link", "add", dev, "type", "veth", "peer", "name", peer, "netns", lan)
		ip(t, "link", "set", dev, "up")
		ip(t, "-n", lan, "link", "set", peer, "master", "br0", "up")
	}
	ip(t, "-n", client, "link", "add", "eth0", "type", "veth", "peer", "name", "pc", "netns", lan)
	ip(t, "-n", lan, "link", "set", "pc", "master", "br0", "up")
	ip(t, "-n", client, "addr", "add", "198.18.0.100/24", "dev", "eth0")
	ip(t, "-n", client, "link", "set", "eth0", "up")
	ip(t, "-n", client, "route", "add", "198.19.1.0/24", "dev", "eth0")
	mac := map[string]string{}
	for _, dev := range []string{"l2a", "l2b"} {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			t.Fatal(err)
		}
		mac[dev] = ifi.HardwareAddr.String()
	}

	srv := etcdtest.Start(t, etcdtest.Options{})
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() }) // after the announcers' cleanups

	addr := netip.MustParseAddr("198.19.1.10")
	type node struct {
		a    *l2.Announcer
		stop context.CancelFunc
		done chan struct{}
	}
	start := func(dev string) *node {
		a, err := l2.New(l2.Config{Session: sessions(cli), Prefix: "/kelb-l2/", Name: dev, Interface: dev})
		if err != nil {
			t.Fatal(err)
		}
		a.Set([]netip.Addr{addr})
		ctx, cancel := context.WithCancel(context.Background())
		n := &node{a: a, stop: cancel, done: make(chan struct{})}
		go func() { defer close(n.done); _ = a.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-n.done })
		return n
	}
	nodes := map[string]*node{"l2a": start("l2a"), "l2b": start("l2b")}
	owner := func() (string, error) {
		var owners []string
		for dev, n := range nodes {
			if slices.Contains(n.a.Owned(), addr) {
				owners = append(owners, dev)
			}
		}
		if len(owners) != 1 {
			return "", fmt.Errorf("owners %v, want exactly one", owners)
		}
		return owners[0], nil
	}
	var first string
	eventually(t, "one owner", func() (err error) { first, err = owner(); return err })
	other := map[string]string{"l2a": "l2b", "l2b": "l2a"}[first]
	eventually(t, "client resolves the owner", func() error {
		if got := neighbour(t, client, addr); got != mac[first] {
			return fmt.Errorf("client has %q for %s, want %s's %s", got, addr, first, mac[first])
		}
		return nil
	})
	// Still exactly one owner once settled.
	if o, err := owner(); err != nil || o != first {
		t.Fatalf("owner %q, %v; want %s", o, err, first)
	}

	// The owner stops (resigning): the other takes over, and its
	// gratuitous ARP updates the client's entry without the client asking.
	time.Sleep(1100 * time.Millisecond) // past the neighbour table's locktime
	nodes[first].stop()
	<-nodes[first].done
	if got := nodes[first].a.Owned(); len(got) != 0 {
		t.Errorf("stopped owner still holds %v", got)
	}
	eventually(t, "takeover", func() error {
		if !slices.Contains(nodes[other].a.Owned(), addr) {
			return fmt.Errorf("%s does not hold %s", other, addr)
		}
		return nil
	})
	eventually(t, "client's entry moved by gratuitous ARP", func() error {
		out, err := exec.Command("ip", "-n", client, "neigh", "show", "to", addr.String()).CombinedOutput()
		if err != nil {
			return err
		}
		if m := lladdrRE.FindStringSubmatch(string(out)); m == nil || m[1] != mac[other] {
			return fmt.Errorf("client has %q, want %s's %s", out, other, mac[other])
		}
		return nil
	})

	// An address no longer wanted is given up.
	nodes[other].a.Set(nil)
	eventually(t, "address given up", func() error {
		if got := nodes[other].a.Owned(); len(got) != 0 {
			return fmt.Errorf("%s still holds %v", other, got)
		}
		return nil
	})
}
