// Package confview is kelb server's one view of a configuration snapshot
// (elb.State): an index, built once per snapshot in time linear in the
// number of resources, that answers what the data planes, DNS and the
// health checker ask of the configuration: the listeners of a load
// balancer, the rules of a listener in evaluation order, the load
// balancers that forward to a target group and the target groups a load
// balancer forwards to, and a target group's effective cross-zone setting.
//
// A View never fails: a reference to a resource that the snapshot does not
// hold (a rule of a deleted listener, a forward to a deleted target group,
// as a hand-built State may have) is left out of every answer. The View
// and what it returns point into the snapshot and are read-only.
//
// Which target groups one action forwards to is elb.Action's
// ForwardTargetGroups, since the ELBv2 service answers it too.
package confview
