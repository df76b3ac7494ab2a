// Package kernel is kelb's kernel L4 data plane: it programs the listeners of
// a dataplane.Config into an nftables table of its own (ip kelb, or the name
// Options.Table gives: one per kelb server in a network namespace) through
// netlink, so that TCP and UDP flows are forwarded by the kernel's NAT and
// connection tracking, with no socket, goroutine or heap per flow, the way
// kube-proxy's nftables mode forwards Services. Metrics come from the
// table's counters (new flows, kelb's resets) and from the conntrack entries
// that carry kelb's mark (active flows, processed bytes: each read zeroes
// their counters), read every Options.MetricsInterval.
//
// Describe turns a Config into a pure description of the table (one service
// per listener: its address, source ranges, Maglev slots, SNAT and timeouts);
// Plane.Apply reconciles the table with it in netlink transactions. The
// rules: a nat chain on prerouting (clients in other namespaces and hosts)
// and on output (local clients) sends a new flow to its listener's chain,
// which resets (TCP) or drops (UDP) clients outside the source ranges and
// non-SYN TCP packets of unknown flows, sets the conntrack timeout
// (tcp.idle_timeout.seconds for TCP, the UDP flow timeout for UDP), and DNATs
// to the target found in the listener's Maglev map under
// jhash(5-tuple) mod Slots (jhash(saddr) mod Slots with source_ip
// stickiness). The map holds the Maglev lookup table that package maglev
// builds for the listener's target set, so a target leaving moves only its
// own flows. The kernel's jhash differs from the userspace plane's flow hash:
// a flow may pick another target on the kernel plane than on the userspace
// plane, but every kelb node running the kernel plane picks the same one. A
// postrouting chain SNATs to the load balancer's address the flows of
// listeners without preserve_client_ip and hairpin flows (a target that is
// its own client); with Options.SNATSource SNATNode it masquerades them to
// the address of the interface they leave by instead, so that a target's
// replies come back to the node holding the flow when several nodes share
// the load balancer's address behind ECMP.
//
// Established flows live in conntrack: their NAT binding is in the
// conntrack entry, so rewriting rules and maps (Apply) and kelb being down
// (even killed) do not touch them. Apply rewrites every chain and changed map
// in one transaction. A clean stop (Stop) leaves the table with its hooks and
// no listener: new flows stop, established ones go on (NAT applies their
// bindings only while a nat hook is registered in the namespace, which is
// why the table is emptied rather than deleted), and the next start
// reconciles it. Remove deletes the table; kelb down deletes the namespace
// with it. Flows that Config says to close (unhealthy targets
// with connection termination, deregistered targets with
// deregistration_delay.connection_termination.enabled) are deleted from
// conntrack; their next packet is a non-SYN packet of an unknown flow, which
// the table answers with a reset.
//
// Switch runs a Config on both planes, as kelb server --dataplane says:
// auto (the default) runs the kernel plane wherever Probe succeeds (kelb has
// CAP_NET_ADMIN and the kernel has nftables NAT), else logs why not and
// runs every listener on the userspace plane; kernel requires the kernel
// plane; userspace never starts it. Choose decides per listener which plane
// runs it: the kernel cannot terminate TLS nor add a PROXY protocol v2
// header, and the table is IPv4 only, so TLS listeners, listeners with
// PROXY protocol v2 and IPv6 listeners stay on the userspace plane. Each
// listener's plane and the reason are logged when it starts or moves, and
// exported as kelb_nlb_listener_plane.
//
// Failure behaviour: a transaction the kernel refuses changes nothing (the
// previous table keeps forwarding) and is reported by Apply; a conntrack
// dump or delete that fails is logged and retried on the next Apply.
package kernel
