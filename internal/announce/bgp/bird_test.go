package bgp_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kelb-io/kelb/internal/announce/bgp"
	"github.com/kelb-io/kelb/internal/announce/bgp/birdtest"
	"github.com/kelb-io/kelb/internal/devcluster/kubelet/netnstest"
)

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestECMPThroughBIRD runs two speakers (in the test's namespace, each on
// its own address) peering with a real BIRD in a router namespace, and
// checks the router's kernel table: an address both announce is an ECMP
// route over both, a new address appears, a withdrawn one disappears, and
// a stopped speaker's next hop leaves the route.
func TestECMPThroughBIRD(t *testing.T) {
	if _, err := exec.LookPath("bird"); err != nil {
		t.Skip("bird (Debian package bird2) is not installed: BGP tests need a real router")
	}
	if !netnstest.Enter(t) {
		return
	}
	// The test namespace routes the whole range to loopback; here it is a
	// real link to the router.
	ip(t, "route", "del", "local", netnstest.Range, "dev", "lo", "table", "local")
	rtr := fmt.Sprintf("kelbrtr-%d", os.Getpid())
	ip(t, "netns", "add", rtr)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", rtr).Run() })
	ip(t, "-n", rtr, "link", "set", "lo", "up")
	ip(t, "link", "add", "kelb0", "type", "veth", "peer", "name", "rtr0", "netns", rtr)
	ip(t, "addr", "add", "198.18.0.11/24", "dev", "kelb0")
	ip(t, "addr", "add", "198.18.0.12/24", "dev", "kelb0")
	ip(t, "link", "set", "kelb0", "up")
	ip(t, "-n", rtr, "addr", "add", "198.18.0.1/24", "dev", "rtr0")
	ip(t, "-n", rtr, "link", "set", "rtr0", "up")

	router := birdtest.Start(t, birdtest.Config{
		Namespace: rtr, RouterID: netip.MustParseAddr("198.18.0.1"), ASN: 64513,
		Neighbors: []birdtest.Neighbor{
			{Address: netip.MustParseAddr("198.18.0.11"), ASN: bgp.DefaultASN},
			{Address: netip.MustParseAddr("198.18.0.12"), ASN: bgp.DefaultASN},
		},
	})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := func(local string) *bgp.Speaker {
		t.Helper()
		sp, err := bgp.Start(ctx, bgp.Config{
			RouterID: netip.MustParseAddr(local), ListenPort: -1, ConnectRetry: time.Second,
			Peers: []bgp.Peer{{Address: netip.MustParseAddr("198.18.0.1"), ASN: 64513, LocalAddress: netip.MustParseAddr(local)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sp.Stop(context.Background()) })
		return sp
	}
	a, b := start("198.18.0.11"), start("198.18.0.12")
	announce := func(sp *bgp.Speaker, addrs ...string) {
		t.Helper()
		var list []netip.Addr
		for _, s := range addrs {
			list = append(list, netip.MustParseAddr(s))
		}
		if err := sp.Announce(ctx, list); err != nil {
			t.Fatal(err)
		}
	}

	announce(a, "198.19.1.10")
	announce(b, "198.19.1.10")
	router.WaitNextHops(t, "198.19.1.10/32", "198.18.0.11", "198.18.0.12")
	if a.Established() != 1 || b.Established() != 1 {
		t.Errorf("established sessions: %d and %d, want 1 each", a.Established(), b.Established())
	}

	// A new load balancer's address appears.
	announce(a, "198.19.1.10", "198.19.1.11")
	announce(b, "198.19.1.10", "198.19.1.11")
	router.WaitNextHops(t, "198.19.1.11/32", "198.18.0.11", "198.18.0.12")

	// A deleted one's disappears; the other stays.
	announce(a, "198.19.1.11")
	announce(b, "198.19.1.11")
	router.WaitNextHops(t, "198.19.1.10/32")
	router.WaitNextHops(t, "198.19.1.11/32", "198.18.0.11", "198.18.0.12")
	if got := fmt.Sprint(a.Announced()); got != "[198.19.1.11]" {
		t.Errorf("announced %s, want [198.19.1.11]", got)
	}

	// A node whose data plane fails withdraws everything.
	announce(b)
	router.WaitNextHops(t, "198.19.1.11/32", "198.18.0.11")
	announce(b, "198.19.1.11")
	router.WaitNextHops(t, "198.19.1.11/32", "198.18.0.11", "198.18.0.12")

	// A speaker that stops leaves the other as the only next hop.
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	router.WaitNextHops(t, "198.19.1.11/32", "198.18.0.12")
	if err := a.Announce(ctx, nil); err == nil {
		t.Error("Announce after Stop: no error")
	}
}
