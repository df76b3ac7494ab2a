// Package dataplane is kelb's L4 data plane: it runs every TCP, UDP,
// TCP_UDP and TLS listener of every network load balancer and forwards
// flows to the healthy targets of the listener's target group.
//
// Build turns the store's state and the health view into a Config: one
// Listener per socket (listener port × load balancer zone address × socket
// protocol) with the targets its new flows may go to, chosen by NLB's rules
// (zone-local unless cross-zone load balancing is on; failover to other
// zones' healthy targets when the zone has none; fail open to every
// registered, non-draining target when none is healthy). Plane.Apply makes a
// Config run: it binds new sockets (IP_FREEBIND, so load balancer addresses
// need not be configured yet), closes removed ones, and swaps each listener's
// target set with one atomic pointer store. Established flows survive
// Apply; only flows Config says to close are reset: those of unhealthy
// targets (target_health_state.unhealthy.connection_termination.enabled) and
// of targets that left the configuration at the end of their deregistration
// delay (deregistration_delay.connection_termination.enabled).
//
// A new flow's target is chosen by Maglev consistent hashing of its 5-tuple
// (of the client address alone with source_ip stickiness), so a change of the
// target set moves few existing clients' future flows, and kelb nodes agree.
//
// TCP: each accepted connection is forwarded to a new connection to the
// target, tried on up to three targets of the set (each attempt bounded by
// Options.DialTimeout) before the client is reset. Bytes move with splice(2)
// between the two sockets, never through user space: each direction waits
// for readability holding nothing (a syscall.RawConn callback), then
// borrows a pipe from a bounded pool only while data moves, so an idle flow
// costs its two sockets and no other descriptor (with every pipe in use, a
// direction copies through a pooled buffer instead). A half-close on one
// side is passed on with CloseWrite. A flow idle in both directions for the
// listener's idle timeout is reset on both sides; idleness is read from the
// kernel (TCP_INFO). With proxy_protocol_v2 a
// PROXY v2 header precedes the client's data. With preserve_client_ip the
// target connection is bound to the client's address (IP_TRANSPARENT); if
// that fails kelb uses the load balancer's address and counts a fallback.
//
// TLS: a TLS listener is a TCP listener that terminates its clients' TLS
// first (always on this plane: the kernel plane cannot). The handshake,
// bounded by 10 seconds, uses the listener's certificates from
// Options.Certificates (kelb's certificate store), the one chosen by SNI
// as ELB chooses (package tlspolicy: the best match the client supports,
// else the default), and its security policy's versions and ciphers and
// ALPN policy's protocols; session tickets resume sessions, also across
// an Apply that leaves the listener's TLS settings and certificates as
// they were. A client whose handshake fails is closed before any target is
// chosen (kelb_nlb_client_tls_negotiation_errors_total). Then, as for TCP:
// a target, the PROXY v2 header, client address preservation, idle
// timeout, half-close (a close_notify, then the FIN), resets. A TLS
// target group gets TLS again: kelb does not verify the target's
// certificate, as NLB does not, sends no SNI, offers the protocol the
// client negotiated, and resumes sessions with each target; a failed
// handshake resets the client
// (kelb_nlb_target_tls_negotiation_errors_total). Bytes move through a
// buffer, since Go decrypts them: 32 KiB per direction from a TLS
// connection, held for the flow; a plain target's direction waits for
// data holding nothing and borrows a pooled buffer while data moves.
//
// UDP: each client address:port is a flow with its own connected socket to
// its target; replies go back from the listener's address. Flows end after
// Options.UDPFlowTimeout without a datagram either way (Run expires them).
// Datagrams of known flows are forwarded without allocation. Replies longer
// than 9 KiB (a jumbo frame) are truncated.
//
// Bounds: flows are counted per listening socket (Bounds.MaxFlowsPerListener)
// and in all (Bounds.MaxFlows). A new flow at a bound evicts the flow of
// that scope that has carried no data for the longest, if for at least a
// second: a TCP flow is reset on both sides, a UDP flow closed
// (kelb_nlb_evicted_flows_total). With no flow idle that long the new flow
// is refused: its TCP connection reset, its UDP datagram dropped
// (kelb_nlb_refused_flows_total). Eviction candidates come from one scan of
// the tracked flows per batch, so a flood of new flows does not cost a scan
// each. DeriveBounds fits the bounds into the process's descriptor limit
// (a TCP flow takes two descriptors, a UDP flow one, the splice pipes at
// most Bounds.Pipes pairs) so that a reserve stays free for the rest of
// kelb server; RaiseDescriptorLimit lifts the soft limit to the hard one.
// What the reserve leaves is one budget (Bounds.Slots, a connlimit.Budget
// in Options.Budget) that the flows share with the application load
// balancers' client connections, DescriptorsPerFlow descriptors a slot:
// at the budget a new flow evicts the plane's oldest flow idle a second or
// more, else an idle ALB connection, else it is refused; an ALB listener
// at the budget evicts likewise, its own idle connection first.
// With the defaults and a limit of 1,048,576, kelb holds 100,000 flows,
// 20,000 on one listening socket.
//
// A listener admits the clients that the ingress rules of its load
// balancer's security groups allow for its protocol and port, within its
// kelb.source_ranges.cidrs when it has that attribute (elb.Admission); it
// resets TCP connections and drops UDP datagrams from every other client
// before any target is chosen. A listener whose groups allow nobody
// admits nobody.
//
// Failure behaviour: a listener that cannot be bound is reported by Apply
// while the rest of the Config applies; a TLS listener whose certificate
// cannot be loaded is reported and its open socket goes on serving its
// previous configuration; a target that refuses or times out
// is skipped for the next one; with no target at all, TCP connections are
// reset and UDP datagrams dropped, and both are counted in the metrics.
package dataplane
