// Package fleet holds the kelb server nodes that share one etcd store: who
// is alive, which zones each serves, in what state, and how each sees the
// health of the targets it checks.
//
// Each node keeps one key, <prefix>nodes/<name> (a JSON Node: name, zones,
// API address, state, since, started, version), attached to a lease of
// --node-lease-ttl that it keeps alive. A node whose lease expires (killed,
// cut off from etcd) loses its key and is gone for the others; a node that
// stops cleanly marks itself stopping and revokes its lease, so it is gone
// at once. Names are unique: a node whose name is held by a key under
// another lease waits up to a lease TTL for it to run out (a killed
// predecessor's) and otherwise refuses to run (ErrNameInUse: a live node
// has that name). Every node watches <prefix>nodes/ and <prefix>health/ and keeps
// the live nodes, their zones and their health views in memory.
//
// Health: every node checks the targets of the load balancers that have an
// address in its zones and publishes the verdicts under
// <prefix>health/<name>/<target-group-id>, attached to its lease, only when
// they change and at most about once a second. A target's health in the
// fleet (DescribeTargetHealth on any node, Health) merges the verdicts of
// the live nodes that check it (Merge): the worst state wins, unhealthy
// over initial over healthy; an unhealthy target's description names the
// nodes that see it fail. States that come from the configuration
// (draining, unused, unavailable) are the same on every node. A target no
// live node has a verdict for yet is in the initial state. DNS does not
// merge: it judges each zone by the verdicts of the live nodes serving
// that zone (ZoneHealth), the nodes that forward the zone's flows, so a
// node that cannot reach another zone's targets does not take that zone
// out.
//
// Failure: when etcd cannot be reached the node keeps its last view of the
// fleet (the same live nodes, zones and health views) and keeps serving; it
// never drops peers merely because it cannot hear from them. Meanwhile its
// own lease runs out in etcd and the others count it gone. When etcd
// answers again it registers anew with a new lease, republishes its state
// and health view, reads the whole fleet again and converges.
//
// With the bbolt store there is no etcd: the fleet is this one node, always
// live, and a target's health is the node's own verdict.
package fleet
