package devcluster

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFleetAddressPlan checks that the fleet's addresses, for the most
// lb nodes, are distinct and lie outside every other range of the plan:
// nodes, pods, cluster IPs and the zone pools.
func TestFleetAddressPlan(t *testing.T) {
	taken := []netip.Prefix{
		netip.MustParsePrefix("198.18.0.0/24"), // control plane and nodes
		netip.MustParsePrefix(ServiceCIDR),
	}
	for n := 1; n <= 239; n++ {
		taken = append(taken, netip.MustParsePrefix(PodCIDR(n)))
	}
	for z := 0; z < MaxFleetZones; z++ {
		taken = append(taken, netip.MustParsePrefix(ZoneCIDR(z)))
	}
	addrs := []string{routerMainIP, mainRouterIP}
	for i := 1; i <= MaxLBNodes; i++ {
		addrs = append(addrs, routerLBIP(i), LBRouterIP(i), mainLBIP(i), LBNodeIP(i))
	}
	seen := map[netip.Addr]bool{}
	for _, s := range addrs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			t.Fatalf("address %q: %v", s, err)
		}
		if seen[a] {
			t.Errorf("%s is used twice", a)
		}
		seen[a] = true
		for _, p := range taken {
			if p.Contains(a) {
				t.Errorf("%s lies in %s, which the plan uses", a, p)
			}
		}
		if !netip.MustParsePrefix(FleetCIDR).Contains(a) {
			t.Errorf("%s is outside %s", a, FleetCIDR)
		}
	}
	// Each lb node's two links are /30s: its address and its peer's share
	// one, and differ from every other node's.
	for i := 1; i <= MaxLBNodes; i++ {
		for _, pair := range [][2]string{{routerLBIP(i), LBRouterIP(i)}, {mainLBIP(i), LBNodeIP(i)}} {
			p := netip.PrefixFrom(netip.MustParseAddr(pair[0]), 30).Masked()
			if !p.Contains(netip.MustParseAddr(pair[1])) || p.Addr() == netip.MustParseAddr(pair[0]) {
				t.Errorf("lb node %d: %s and %s are not the two hosts of one /30", i, pair[0], pair[1])
			}
		}
	}
}

func TestLBServerArgs(t *testing.T) {
	st := &State{Dir: "/state", Options: Options{Name: "dev", Nodes: 1, Zones: []string{"us-west-2a", "us-west-2b"}, LBNodes: 3}}
	common := []string{"server",
		"--api-addr", "198.19.252.10:9400",
		"--dns-addr", "198.19.252.10:53",
		"--metrics-addr", "198.19.252.10:9401",
		"--data-dir", "/state/lb3",
		"--region", "us-west-2",
		"--credentials-file", "/state/credentials",
		"--dns-domain", "kelb.local",
		"--vpc-cidr", "198.18.0.0/15",
		"--max-load-balancers-per-type", "500",
		"--zone", "us-west-2a=198.19.1.0/24",
		"--zone", "us-west-2b=198.19.2.0/24",
		"--zone-targets", "us-west-2a=198.18.1.0/24", "--zone-targets", "us-west-2a=198.18.0.11/32",
		"--instance", "i-e65a0bb4bbcd7f477=198.18.0.11,prefix=198.18.1.0/24",
		"--store", "etcd", "--etcd-endpoints", "http://198.18.0.1:2479,http://198.18.0.1:2579,http://198.18.0.1:2679",
	}
	if diff := cmp.Diff(common, LBServerArgs(st, 3)); diff != "" {
		t.Errorf("without fleet flags (-want +got):\n%s", diff)
	}
	st.Options.Fleet = FleetFeatures{NodeName: true, BGP: true, SNATSource: true}
	want := append(slices.Clone(common),
		"--node-name", "lb3", "--node-zones", "us-west-2a",
		"--announce", "bgp", "--bgp-asn", "64512", "--bgp-router-id", "198.19.251.10", "--bgp-peer", "198.19.251.9,asn=64513",
		"--snat-source", "node")
	if diff := cmp.Diff(want, LBServerArgs(st, 3)); diff != "" {
		t.Errorf("with fleet flags (-want +got):\n%s", diff)
	}
}

func TestFleetEtcdArgs(t *testing.T) {
	st := &State{Dir: "/state", Options: Options{Name: "dev"}}
	want := []string{
		"--name=m2",
		"--data-dir=/state/kelb-etcd/m2",
		"--listen-client-urls=http://198.18.0.1:2579",
		"--advertise-client-urls=http://198.18.0.1:2579",
		"--listen-peer-urls=http://198.18.0.1:2580",
		"--initial-advertise-peer-urls=http://198.18.0.1:2580",
		"--initial-cluster=m1=http://198.18.0.1:2480,m2=http://198.18.0.1:2580,m3=http://198.18.0.1:2680",
		"--initial-cluster-state=new",
		"--initial-cluster-token=kelb-dev",
		"--listen-metrics-urls=",
	}
	if diff := cmp.Diff(want, FleetEtcdArgs(st, 2)); diff != "" {
		t.Errorf("FleetEtcdArgs (-want +got):\n%s", diff)
	}
}

func TestAPIEndpointAndNameservers(t *testing.T) {
	single := &State{}
	if got := single.APIEndpoint(); got != "http://198.18.0.1:9400" {
		t.Errorf("single APIEndpoint = %s", got)
	}
	if got := single.nameservers(); !slices.Equal(got, []string{"198.18.0.1"}) {
		t.Errorf("single nameservers = %v", got)
	}
	fleet := &State{Options: Options{LBNodes: 5}}
	if got := fleet.APIEndpoint(); got != "http://198.19.252.2:9400" {
		t.Errorf("fleet APIEndpoint = %s, want lb node 1's", got)
	}
	if got := fleet.nameservers(); !slices.Equal(got, []string{"198.19.252.2", "198.19.252.6", "198.19.252.10"}) {
		t.Errorf("fleet nameservers = %v, want the first three nodes", got)
	}
	if rc := resolvConf("kelb-x", fleet.nameservers()); !strings.Contains(rc, "nameserver 198.19.252.10\n") || !strings.Contains(rc, "timeout:1") {
		t.Errorf("fleet resolv.conf:\n%s", rc)
	}
}

func TestStaticRoutes(t *testing.T) {
	st := &State{Options: Options{Zones: []string{"a", "b", "c"}, LBNodes: 4}}
	want := [][]string{
		{"route", "add", "198.19.1.0/24", "nexthop", "via", "198.19.251.2", "dev", "lb1", "nexthop", "via", "198.19.251.14", "dev", "lb4"},
		{"route", "add", "198.19.2.0/24", "nexthop", "via", "198.19.251.6", "dev", "lb2"},
		{"route", "add", "198.19.3.0/24", "nexthop", "via", "198.19.251.10", "dev", "lb3"},
	}
	if diff := cmp.Diff(want, staticRoutes(st)); diff != "" {
		t.Errorf("staticRoutes (-want +got):\n%s", diff)
	}
}

func TestParseBirdProtocols(t *testing.T) {
	out := `BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     18:30:01.123  
kernel1    Kernel     master4    up     18:30:01.123  
lb1        BGP        ---        up     18:30:02.456  Established   
lb2        BGP        ---        start  18:30:01.123  Active        Socket: Connection refused
lb3        BGP        ---        start  2026-12-03    Connect
`
	want := map[string]string{"lb1": "Established", "lb2": "Active", "lb3": "Connect"}
	if diff := cmp.Diff(want, parseBirdProtocols(out)); diff != "" {
		t.Errorf("parseBirdProtocols (-want +got):\n%s", diff)
	}
}

// TestBirdConfigParses has BIRD itself check the router's configuration.
func TestBirdConfigParses(t *testing.T) {
	bird, err := exec.LookPath("bird")
	if err != nil {
		t.Skip("bird is not installed (apt-get install bird2)")
	}
	st := &State{Options: Options{Name: "dev", LBNodes: 3}}
	path := filepath.Join(t.TempDir(), "bird.conf")
	if err := os.WriteFile(path, []byte(birdConfig(st)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bird, "-p", "-c", path).CombinedOutput(); err != nil {
		t.Fatalf("bird -p rejects the configuration: %v\n%s\n%s", err, out, birdConfig(st))
	}
}

// TestMainRulesetParses has nft check the main namespace's ruleset in a
// namespace of its own.
func TestMainRulesetParses(t *testing.T) {
	if err := checkPrivileges(); err != nil {
		t.Skip(err)
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft is not installed")
	}
	cmd := exec.Command("unshare", "--net", "nft", "-c", "-f", "-")
	cmd.Stdin = strings.NewReader(mainRuleset(3))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -c rejects the ruleset: %v\n%s\n%s", err, out, mainRuleset(3))
	}
}

// TestFleetNetwork builds a fleet's network for two lb nodes of one zone
// (static routes in the router, no processes) and checks its paths: main
// reaches a zone address through the router on both nodes (ECMP, L4
// hashing), reaches each node's own address directly, and each node
// reaches main's plan. Deleting the namespaces leaves nothing behind.
func TestFleetNetwork(t *testing.T) {
	if err := checkPrivileges(); err != nil {
		t.Skip(err)
	}
	if err := checkFleetCommands(Options{}); err != nil {
		t.Skip(err)
	}
	ctx := t.Context()
	st := &State{Namespace: fmt.Sprintf("kelb-ft%d", os.Getpid()), Options: Options{Name: "ft", Zones: []string{"us-west-2a"}, LBNodes: 2}}
	t.Cleanup(func() {
		for _, ns := range append(fleetNamespaces(st), st.Namespace) {
			_ = deleteNamespace(context.Background(), ns)
		}
	})
	if err := createNamespace(ctx, st.Namespace, fleetMainLocalCIDR, st.nameservers()); err != nil {
		t.Fatal(err)
	}
	if err := createFleetNetwork(ctx, st); err != nil {
		t.Fatal(err)
	}
	// Each node answers on the zone address with its name, and on its own
	// address.
	server := `import socket, sys, threading
def serve(addr):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((addr, 8080)); s.listen(64)
    while True:
        c, _ = s.accept(); c.sendall(sys.argv[1].encode()); c.close()
for a in sys.argv[2:]:
    threading.Thread(target=serve, args=(a,), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()`
	for i := 1; i <= 2; i++ {
		cmd := inNamespace(ctx, LBNamespace(st.Namespace, i), "python3", "-c", server, LBNodeName(i), "198.19.1.5", LBNodeIP(i))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		buf := make([]byte, 6)
		if _, err := io.ReadFull(out, buf); err != nil {
			t.Fatalf("lb node %d's server: %v", i, err)
		}
	}
	client := `import socket, sys
seen = {}
base = int(sys.argv[2])
for port in range(base, base + 64):
    c = socket.socket(); c.settimeout(2); c.bind(("0.0.0.0", port)); c.connect((sys.argv[1], 8080))
    name = c.recv(16).decode(); c.close()
    seen[name] = seen.get(name, 0) + 1
print(" ".join(sorted(seen)))`
	got, err := inNamespace(ctx, st.Namespace, "python3", "-c", client, "198.19.1.5", "40000").CombinedOutput()
	if err != nil {
		t.Fatalf("connect to the zone address from main: %v\n%s", err, got)
	}
	if strings.TrimSpace(string(got)) != "lb1 lb2" {
		t.Errorf("64 connections to 198.19.1.5 from main reached %q, want both lb1 and lb2 (ECMP)", got)
	}
	for i := 1; i <= 2; i++ {
		got, err := inNamespace(ctx, st.Namespace, "python3", "-c", client, LBNodeIP(i), fmt.Sprint(40000+64*i)).CombinedOutput()
		if err != nil || strings.TrimSpace(string(got)) != LBNodeName(i) {
			t.Errorf("connections to %s from main: %q, %v; want %s", LBNodeIP(i), got, err, LBNodeName(i))
		}
	}
	// A node reaches main's plan (targets, etcd) over its own link.
	if out, err := exec.CommandContext(ctx, "ip", "-n", LBNamespace(st.Namespace, 1), "route", "get", "198.18.3.7").CombinedOutput(); err != nil || !strings.Contains(string(out), "via "+mainLBIP(1)) {
		t.Errorf("lb1's route to the targets: %s %v; want via %s", out, err, mainLBIP(1))
	}
	for _, ns := range append(fleetNamespaces(st), st.Namespace) {
		if err := deleteNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
		if namespaceExists(ns) {
			t.Errorf("%s still exists", ns)
		}
	}
}
