package devcluster

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// The fleet of kelb up --lb-nodes N: N kelb server nodes, each in a
// network namespace of its own, sharing their configuration in a
// three-member etcd cluster, behind a router namespace that spreads the
// load balancer addresses over them (ECMP). This file holds the plan:
// names, addresses, and the arguments of every process; fleetnet.go
// builds the network and fleetup.go starts the processes.
//
// The address plan of the fleet (all outside the ranges of the single
// environment: nodes 198.18.0.x, pods 198.18.1-239.0/24, cluster IPs
// 198.18.240.0/20, zone pools 198.19.1-249.0/24):
//
//	198.19.250.0/24   router <-> main namespace: router .1, main .2
//	198.19.251.0/24   router <-> lb node i: router 4i-3, node 4i-2 (a /30 each)
//	198.19.252.0/24   main <-> lb node i: main 4i-3, node 4i-2 (a /30 each)
//
// Node i's API, DNS and metrics listen on its main-link address.
const (
	// MaxLBNodes is the most lb nodes the plan has room for (a /30 per
	// node in one /24).
	MaxLBNodes = 63
	// MaxFleetZones keeps the zone pools (198.19.1-249.0/24) clear of the
	// fleet's links.
	MaxFleetZones = 249
	// FleetEtcdMembers is the size of the fleet's etcd cluster.
	FleetEtcdMembers = 3
	// RouterASN is the router's BGP autonomous system; LBNodeASN the lb
	// nodes' (kelb server's --bgp-asn default).
	RouterASN = 64513
	LBNodeASN = 64512
	// fleetMarkBase + i is the conntrack mark and firewall mark of flows
	// that came in from lb node i, and 100 + i its routing table.
	fleetMarkBase  = 0x100
	fleetTableBase = 100
)

// Interface names: the same in every namespace of an environment, so
// they fit IFNAMSIZ whatever the environment's name.
const (
	ifRouter = "rtr"  // towards the router
	ifMain   = "main" // towards the main namespace
)

// ifLB names the interface towards lb node i (in main and the router).
func ifLB(i int) string { return "lb" + strconv.Itoa(i) }

// LBNodeName is the --node-name of lb node i (1-based).
func LBNodeName(i int) string { return "lb" + strconv.Itoa(i) }

// LBProcessName is the name of lb node i's process in the state.
func LBProcessName(i int) string { return "kelb-server-" + LBNodeName(i) }

// FleetEtcdName is the name of etcd member m (1-based) in the state.
func FleetEtcdName(m int) string { return "kelb-etcd-" + strconv.Itoa(m) }

// RouterProcessName is BIRD's name in the state.
const RouterProcessName = "bird"

// LBNamespace returns the network namespace of lb node i of the
// environment whose namespace is ns.
func LBNamespace(ns string, i int) string { return ns + "-lb" + strconv.Itoa(i) }

// RouterNamespace returns the router's network namespace.
func RouterNamespace(ns string) string { return ns + "-rtr" }

// fleetNamespaces lists the namespaces of st's fleet, router first.
func fleetNamespaces(st *State) []string {
	if st.Options.LBNodes == 0 {
		return nil
	}
	nss := []string{RouterNamespace(st.Namespace)}
	for i := 1; i <= st.Options.LBNodes; i++ {
		nss = append(nss, LBNamespace(st.Namespace, i))
	}
	return nss
}

// Addresses of the fleet's links.
const (
	routerMainIP = "198.19.250.1"
	mainRouterIP = "198.19.250.2"
	// FleetCIDR holds the load balancer pools, which the main namespace
	// routes to the router.
	FleetCIDR = "198.19.0.0/16"
	// fleetMainLocalCIDR is local in the main namespace of a fleet: the
	// plan less the load balancer addresses.
	fleetMainLocalCIDR = "198.18.0.0/16"
)

func routerLBIP(i int) string { return fmt.Sprintf("198.19.251.%d", 4*i-3) }

// LBRouterIP is lb node i's address on its link to the router: its BGP
// router id and the next hop of its routes.
func LBRouterIP(i int) string { return fmt.Sprintf("198.19.251.%d", 4*i-2) }

func mainLBIP(i int) string { return fmt.Sprintf("198.19.252.%d", 4*i-3) }

// LBNodeIP is lb node i's address on its link to the main namespace,
// where its API, DNS and metrics listen.
func LBNodeIP(i int) string { return fmt.Sprintf("198.19.252.%d", 4*i-2) }

// LBZone is the one zone lb node i serves: round-robin over zones.
func LBZone(zones []string, i int) string { return zones[(i-1)%len(zones)] }

// LBEndpoint is the ELBv2 API endpoint of lb node i.
func LBEndpoint(i int) string {
	return "http://" + net.JoinHostPort(LBNodeIP(i), strconv.Itoa(ELBAPIPort))
}

// LBMetricsURL is the metrics endpoint of lb node i.
func LBMetricsURL(i int) string {
	return "http://" + net.JoinHostPort(LBNodeIP(i), strconv.Itoa(MetricsPort)) + "/metrics"
}

// APIEndpoint is the ELBv2 API endpoint users of st get: kelb server's,
// or lb node 1's in a fleet (every node answers the same).
func (st *State) APIEndpoint() string {
	if st.Options.LBNodes > 0 {
		return LBEndpoint(1)
	}
	return ELBEndpoint()
}

// nameservers are the DNS servers of the environment's shell: kelb
// server, or the first three lb nodes (resolv.conf holds three).
func (st *State) nameservers() []string {
	if st.Options.LBNodes == 0 {
		return []string{ControlPlaneIP}
	}
	var ns []string
	for i := 1; i <= min(st.Options.LBNodes, 3); i++ {
		ns = append(ns, LBNodeIP(i))
	}
	return ns
}

// Ports of the fleet's etcd members on ControlPlaneIP: client 2479, 2579,
// 2679 and peer one above.
func fleetEtcdClientURL(m int) string {
	return fmt.Sprintf("http://%s:%d", ControlPlaneIP, 2379+100*m)
}

func fleetEtcdPeerURL(m int) string {
	return fmt.Sprintf("http://%s:%d", ControlPlaneIP, 2380+100*m)
}

// FleetEtcdEndpoints are the client URLs of the fleet's etcd cluster.
func FleetEtcdEndpoints() []string {
	var urls []string
	for m := 1; m <= FleetEtcdMembers; m++ {
		urls = append(urls, fleetEtcdClientURL(m))
	}
	return urls
}

// FleetEtcdHealthURL is etcd member m's health endpoint.
func FleetEtcdHealthURL(m int) string { return fleetEtcdClientURL(m) + "/health" }

// FleetEtcdArgs returns the arguments of etcd member m (1-based). They
// also restart a member: etcd ignores the initial-cluster flags when its
// data directory exists.
func FleetEtcdArgs(st *State, m int) []string {
	var cluster []string
	for k := 1; k <= FleetEtcdMembers; k++ {
		cluster = append(cluster, fmt.Sprintf("m%d=%s", k, fleetEtcdPeerURL(k)))
	}
	return []string{
		fmt.Sprintf("--name=m%d", m),
		"--data-dir=" + filepath.Join(st.Dir, "kelb-etcd", fmt.Sprintf("m%d", m)),
		"--listen-client-urls=" + fleetEtcdClientURL(m),
		"--advertise-client-urls=" + fleetEtcdClientURL(m),
		"--listen-peer-urls=" + fleetEtcdPeerURL(m),
		"--initial-advertise-peer-urls=" + fleetEtcdPeerURL(m),
		"--initial-cluster=" + strings.Join(cluster, ","),
		"--initial-cluster-state=new",
		"--initial-cluster-token=kelb-" + st.Options.Name,
		"--listen-metrics-urls=",
	}
}

// FleetFeatures says which fleet flags this build's kelb server has;
// flags it lacks are left out (and said so by kelb up).
type FleetFeatures struct {
	// NodeName: --node-name and --node-zones.
	NodeName bool `json:"nodeName,omitempty"`
	// BGP: --announce bgp and the --bgp-* flags. Without it the router
	// gets static ECMP routes instead.
	BGP bool `json:"bgp,omitempty"`
	// SNATSource: --snat-source.
	SNATSource bool `json:"snatSource,omitempty"`
}

// LBDataDir is lb node i's data directory.
func LBDataDir(st *State, i int) string { return filepath.Join(st.Dir, LBNodeName(i)) }

// LBServerArgs returns the kelb server arguments of lb node i (1-based):
// the same zones and targets as the single kelb server, its API, DNS and
// metrics on its own address, the configuration in the fleet's etcd, and
// (when this build has the flags) its name, its one zone, BGP towards the
// router and SNAT to its own address, so that a target's replies come
// back to the node that holds the flow.
func LBServerArgs(st *State, i int) []string {
	args := serverArgs(st, LBNodeIP(i), LBDataDir(st, i))
	args = append(args, "--store", "etcd", "--etcd-endpoints", strings.Join(FleetEtcdEndpoints(), ","))
	f := st.Options.Fleet
	if f.NodeName {
		args = append(args, "--node-name", LBNodeName(i), "--node-zones", LBZone(st.Options.Zones, i))
	}
	if f.BGP {
		args = append(args, "--announce", "bgp",
			"--bgp-asn", strconv.Itoa(LBNodeASN),
			"--bgp-router-id", LBRouterIP(i),
			"--bgp-peer", fmt.Sprintf("%s,asn=%d", routerLBIP(i), RouterASN))
	}
	if f.SNATSource {
		args = append(args, "--snat-source", "node")
	}
	return args
}

// birdConfig is the router's BIRD 2 configuration: a passive eBGP session
// per lb node (kelb connects out), /32s of the fleet's pools accepted,
// and equal routes merged into ECMP routes in the kernel.
func birdConfig(st *State) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# written by kelb up: the router of environment %q
log stderr all;
router id %s;

protocol device {
	scan time 10;
}

protocol kernel {
	ipv4 {
		import none;
		export all;
	};
	merge paths on;
}

template bgp lbnode {
	local as %d;
	passive on;
	ipv4 {
		import filter {
			if net ~ [ %s{32,32} ] then accept;
			reject;
		};
		export none;
	};
}
`, st.Options.Name, routerMainIP, RouterASN, FleetCIDR)
	for i := 1; i <= st.Options.LBNodes; i++ {
		fmt.Fprintf(&b, "\nprotocol bgp %s from lbnode {\n\tlocal %s;\n\tneighbor %s as %d;\n}\n",
			LBNodeName(i), routerLBIP(i), LBRouterIP(i), LBNodeASN)
	}
	return b.String()
}

// staticRoutes are the router's routes when kelb server cannot announce
// (a build without --announce bgp): each zone's pool to every lb node of
// that zone, as one ECMP route. A dead node is not withdrawn.
func staticRoutes(st *State) [][]string {
	var routes [][]string
	for z, zone := range st.Options.Zones {
		args := []string{"route", "add", ZoneCIDR(z)}
		for i := 1; i <= st.Options.LBNodes; i++ {
			if LBZone(st.Options.Zones, i) == zone {
				args = append(args, "nexthop", "via", LBRouterIP(i), "dev", ifLB(i))
			}
		}
		if len(args) > 3 {
			routes = append(routes, args)
		}
	}
	return routes
}

// mainRuleset is the main namespace's nftables ruleset: a flow that comes
// in from lb node i gets conntrack mark base+i, and every packet of a
// marked flow that the main namespace sends (a target's reply) gets it as
// its firewall mark, which routes it back to node i (ip rule fwmark ->
// table 100+i). The client address a node kept is thus answered through
// that node, not delivered locally or sent to another node.
func mainRuleset(lbNodes int) string {
	var b strings.Builder
	b.WriteString("table inet kelb-fleet {\n\tchain prerouting {\n\t\ttype filter hook prerouting priority mangle; policy accept;\n")
	for i := 1; i <= lbNodes; i++ {
		fmt.Fprintf(&b, "\t\tiifname %q ct state new ct mark set %#x\n", ifLB(i), fleetMarkBase+i)
	}
	fmt.Fprintf(&b, "\t}\n\tchain output {\n\t\ttype route hook output priority mangle; policy accept;\n\t\tct mark %#x-%#x meta mark set ct mark\n\t}\n}\n",
		fleetMarkBase+1, fleetMarkBase+lbNodes)
	return b.String()
}
