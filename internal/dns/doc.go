// Package dns serves the DNS names of kelb's load balancers, the way
// Route 53 answers for ELB names.
//
// Update turns a configuration and the current target health into an
// immutable set of records (buildRecords, a pure function) that replaces the
// previous one at once; queries never wait on an update. Each load
// balancer's DNSName answers A records (and AAAA records for dualstack load
// balancers, which also answer under "dualstack.<DNSName>") with the
// addresses of its zones.
//
// As Route 53 does for network load balancers, a zone whose load balancer
// node has no healthy target to send to is taken out of DNS: without
// cross-zone load balancing that is a zone with no healthy target of its
// own, with cross-zone load balancing (always on for application load
// balancers) a zone is out only when no target anywhere is healthy.
// Healthy is as the zone's own kelb server nodes see it (ZoneHealth): a
// zone is in while some live node serving it sees a target it would send
// the zone's flows to healthy, whatever nodes of other zones see. A zone
// with no live node is out, unless no zone of the load balancer has one
// (then every zone is a candidate, judged by every live node). When every
// candidate would be out, all of them are answered (fail open), so that a
// load balancer whose targets are all unhealthy still resolves. The
// dns_record.client_routing_policy attribute is accepted; kelb does not know
// a client's zone, so every policy answers like any_availability_zone.
//
// Names are matched case-insensitively. Under Domain, a name that is not a
// load balancer's is NXDOMAIN, with the zone's SOA in the authority section
// so resolvers cache the negative answer. Other names are forwarded to the
// Upstream servers in order when there are any (an upstream that fails or
// times out is skipped; when all fail the answer is SERVFAIL), and REFUSED
// otherwise. UDP answers that do not fit the client's buffer are truncated
// with TC set, and the client retries over TCP, which is served on the same
// port. A TCP connection must send each query whole within 2 s, closes
// after 8 s without one or after 128 queries, and at most MaxTCPConns are
// open at once (more wait to be accepted).
package dns
