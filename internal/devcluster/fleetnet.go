package devcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// netStep is one command that builds the fleet's network, run in the
// caller's namespace (ip -n, ip netns exec), with stdin if given.
type netStep struct {
	args  []string
	stdin string
}

func (s netStep) String() string { return strings.Join(s.args, " ") }

// fleetNetwork returns the commands that build st's fleet network once
// the main namespace exists (created with fleetMainLocalCIDR local):
//
//   - the router namespace, linked to main and to every lb node, forwarding
//     with L4 hashing of multipath routes, its default route to main;
//   - lb node i's namespace: its links to the router and to main, the
//     zone pools local (its listeners bind them), forwarding on, its
//     default route to main (targets, clients, etcd);
//   - in main: the fleet's pools routed to the router, and the replies of
//     flows that came in from node i routed back to node i (mainRuleset,
//     a fwmark rule and table per node, consulted before the local table,
//     since the kept client address may be one of main's own), with
//     accept_local and no reverse-path filter on the nodes' links.
func fleetNetwork(st *State) []netStep {
	main, rtr := st.Namespace, RouterNamespace(st.Namespace)
	var steps []netStep
	ipn := func(ns string, args ...string) {
		steps = append(steps, netStep{args: append([]string{"ip", "-n", ns}, args...)})
	}
	sysctl := func(ns string, kv ...string) {
		steps = append(steps, netStep{args: append([]string{"ip", "netns", "exec", ns, "sysctl", "-qw"}, kv...)})
	}
	// veth links a in ns1 to b in ns2, with addresses addrA and addrB.
	veth := func(ns1, a, addrA, ns2, b, addrB string) {
		ipn(ns1, "link", "add", a, "type", "veth", "peer", "name", b, "netns", ns2)
		ipn(ns1, "addr", "add", addrA, "dev", a)
		ipn(ns2, "addr", "add", addrB, "dev", b)
		ipn(ns1, "link", "set", a, "up")
		ipn(ns2, "link", "set", b, "up")
	}
	noRPFilter := []string{"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"}

	steps = append(steps, netStep{args: []string{"ip", "netns", "add", rtr}})
	ipn(rtr, "link", "set", "lo", "up")
	sysctl(rtr, append([]string{"net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1"}, noRPFilter...)...)
	veth(rtr, ifMain, routerMainIP+"/24", main, ifRouter, mainRouterIP+"/24")
	ipn(rtr, "route", "add", "default", "via", mainRouterIP, "dev", ifMain)
	ipn(main, "route", "add", FleetCIDR, "via", routerMainIP, "dev", ifRouter)
	sysctl(main, noRPFilter...)

	for i := 1; i <= st.Options.LBNodes; i++ {
		lb := LBNamespace(st.Namespace, i)
		steps = append(steps, netStep{args: []string{"ip", "netns", "add", lb}})
		ipn(lb, "link", "set", "lo", "up")
		sysctl(lb, append([]string{"net.ipv4.ip_forward=1"}, noRPFilter...)...)
		veth(rtr, ifLB(i), routerLBIP(i)+"/30", lb, ifRouter, LBRouterIP(i)+"/30")
		veth(main, ifLB(i), mainLBIP(i)+"/30", lb, ifMain, LBNodeIP(i)+"/30")
		for z := range st.Options.Zones {
			ipn(lb, "route", "add", "local", ZoneCIDR(z), "dev", "lo")
		}
		ipn(lb, "route", "add", "default", "via", mainLBIP(i), "dev", ifMain)
		sysctl(main, "net.ipv4.conf."+ifLB(i)+".rp_filter=0", "net.ipv4.conf."+ifLB(i)+".accept_local=1")
		table := strconv.Itoa(fleetTableBase + i)
		ipn(main, "route", "add", "default", "via", LBNodeIP(i), "dev", ifLB(i), "table", table)
		ipn(main, "rule", "add", "pref", "100", "fwmark", fmt.Sprintf("%#x", fleetMarkBase+i), "lookup", table)
	}
	// The local table after the fwmark rules: a reply to a kept client
	// address of main's own goes back through the node, not to a socket.
	ipn(main, "rule", "add", "pref", "200", "lookup", "local")
	ipn(main, "rule", "del", "pref", "0", "lookup", "local")
	steps = append(steps, netStep{args: []string{"ip", "netns", "exec", main, "nft", "-f", "-"}, stdin: mainRuleset(st.Options.LBNodes)})
	if !st.Options.Fleet.BGP {
		for _, r := range staticRoutes(st) {
			ipn(rtr, r...)
		}
	}
	return steps
}

// createFleetNetwork runs fleetNetwork's commands. It fails at the first
// one that fails; Down removes what was made.
func createFleetNetwork(ctx context.Context, st *State) error {
	for _, s := range fleetNetwork(st) {
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, s.args[0], s.args[1:]...)
		cmd.Stderr = &stderr
		if s.stdin != "" {
			cmd.Stdin = strings.NewReader(s.stdin)
		}
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("fleet network: %s: %w: %s", s, err, strings.TrimSpace(stderr.String()))
		}
	}
	return nil
}

// checkFleetCommands says how to install what a fleet needs and is
// missing: nft and sysctl for its network, BIRD 2 (bird, birdc) for its
// router when kelb server can announce by BGP.
func checkFleetCommands(opts Options) error {
	if _, err := exec.LookPath("nft"); err != nil {
		return errors.New("kelb up --lb-nodes needs the nft command (Debian/Ubuntu: apt-get install nftables)")
	}
	if _, err := exec.LookPath("sysctl"); err != nil {
		return errors.New("kelb up --lb-nodes needs the sysctl command (Debian/Ubuntu: apt-get install procps)")
	}
	if !opts.Fleet.BGP {
		return nil
	}
	for _, c := range []string{"bird", "birdc"} {
		if _, err := exec.LookPath(c); err != nil {
			return fmt.Errorf("kelb up --lb-nodes needs BIRD 2 for its router (the %s command): on Debian/Ubuntu, apt-get install bird2 (the bird service it enables is not needed: systemctl disable --now bird)", c)
		}
	}
	return nil
}
