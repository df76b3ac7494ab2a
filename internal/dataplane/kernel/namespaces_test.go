package kernel

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kelb-io/kelb/internal/dataplane"
	"github.com/kelb-io/kelb/internal/devcluster/kubelet/netnstest"
)

// TestForwardBetweenNamespaces is the layout of kelb up: the client and the
// target are in namespaces of their own, linked to the load balancer's
// namespace (this test's) by veth pairs, so flows arrive through prerouting
// and are routed on. The target sees the client's address with
// preserve_client_ip; without, it sees the load balancer's address, or with
// SNATNode the address of the load balancer node's link to the target. A
// target that is its own client (hairpin) sees the same SNAT address.
func TestForwardBetweenNamespaces(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	client, target := "kelbc-"+id, "kelbt-"+id
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// 198.18.0.0/16 stays local here; 198.19.0.0/24 and 198.19.1.0/24 are
	// the links to the client and the target.
	sh("ip", "route", "del", "local", netnstest.Range, "dev", "lo")
	sh("ip", "route", "add", "local", "198.18.0.0/16", "dev", "lo")
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, ns := range []string{client, target} {
		sh("ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		host, peer := fmt.Sprintf("h%s%d", id, i), fmt.Sprintf("p%s%d", id, i)
		sh("ip", "link", "add", host, "type", "veth", "peer", "name", peer, "netns", ns)
		sh("ip", "addr", "add", fmt.Sprintf("198.19.%d.1/24", i), "dev", host)
		sh("ip", "link", "set", host, "up")
		sh("ip", "-n", ns, "addr", "add", fmt.Sprintf("198.19.%d.2/24", i), "dev", peer)
		sh("ip", "-n", ns, "link", "set", peer, "up")
		sh("ip", "-n", ns, "link", "set", "lo", "up")
		sh("ip", "-n", ns, "route", "add", "default", "via", fmt.Sprintf("198.19.%d.1", i))
	}

	var ln net.Listener
	if err := netnstest.In(target, func() (err error) {
		ln, err = net.Listen("tcp4", "198.19.1.2:8080")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "%s\n", c.RemoteAddr())
				_, _ = bufio.NewReader(c).ReadString('\n')
			}()
		}
	}()

	lb := netip.AddrPortFrom(lbAddr, 80)
	// seen connects from ns to the load balancer and returns the address
	// the target saw.
	seen := func(ns string) (string, error) {
		var line string
		err := netnstest.In(ns, func() error {
			c, err := net.DialTimeout("tcp4", lb.String(), 3*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			line, err = bufio.NewReader(c).ReadString('\n')
			return err
		})
		src, _, _ := strings.Cut(strings.TrimSpace(line), ":")
		return src, err
	}
	for _, tt := range []struct {
		snat     string
		preserve bool
		from     string
		want     string
	}{
		{SNATLoadBalancer, true, client, "198.19.0.2"},
		{SNATLoadBalancer, false, client, lbAddr.String()},
		{SNATLoadBalancer, true, target, lbAddr.String()},
		{SNATNode, true, client, "198.19.0.2"},
		{SNATNode, false, client, "198.19.1.1"},
		{SNATNode, true, target, "198.19.1.1"},
		{"", false, client, lbAddr.String()}, // the default
	} {
		name := fmt.Sprintf("snat source %q, preserve %v, from %s", tt.snat, tt.preserve, tt.from)
		p := newPlane(t, Options{SNATSource: tt.snat})
		cfg := dataplane.Config{Listeners: []dataplane.Listener{{Protocol: dataplane.ProtocolTCP, Address: lb.String(),
			Targets: []string{"198.19.1.2:8080"}, PreserveClientIP: tt.preserve}}}
		if err := p.Apply(cfg); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := seen(tt.from)
		if err := p.Remove(); err != nil {
			t.Fatalf("%s: remove the table: %v", name, err)
		}
		if err != nil {
			t.Fatalf("%s: connect: %v", name, err)
		}
		if got != tt.want {
			t.Errorf("%s: target saw %q, want %s", name, got, tt.want)
		}
	}
	if _, err := New(Options{SNATSource: "client"}); err == nil || !strings.Contains(err.Error(), `"client"`) {
		t.Errorf("New with SNAT source client: %v, want an error naming it", err)
	}
}
