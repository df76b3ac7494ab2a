package service

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/kelb-io/kelb/internal/controller/elbv2deploy"
	"github.com/kelb-io/kelb/internal/controller/model"
)

// AnnotationSecurityGroups names the security groups (IDs, or names
// matched against the Name tag, then the group name) of the load
// balancer; kelb server admits to its listeners only the clients their
// ingress rules allow.
const AnnotationSecurityGroups = AnnotationPrefix + "aws-load-balancer-security-groups"

// securityGroups reads the security-groups annotation: the names or IDs
// as written, resolved at deploy.
func (b *builder) securityGroups() ([]string, error) {
	return b.ann.list(AnnotationSecurityGroups)
}

// managedSecurityGroup gives st the frontend group the AWS Load Balancer
// Controller makes for a Service that names no security group: its ingress
// rules admit the source ranges (every source by default) to each
// listener port. Source ranges beside the security-groups annotation have
// no effect, as in the AWS Load Balancer Controller, and are warned of.
func (b *builder) managedSecurityGroup(st *Stack, ports []servicePortGroup, field string, ranges []string) error {
	named := len(st.LoadBalancer.SecurityGroups) > 0
	// Named groups leave the address family to their rules.
	cidrs, err := elbv2deploy.SourceCIDRs(ranges, named || st.LoadBalancer.IPAddressType == "dualstack")
	if err != nil {
		if field != fieldSourceRanges {
			return &AnnotationError{Key: AnnotationSourceRanges, Value: b.ann[AnnotationSourceRanges], Reason: err.Error()}
		}
		return fmt.Errorf("%s: %w", field, err)
	}
	if named {
		if len(ranges) > 0 {
			st.Warnings = append(st.Warnings, fmt.Sprintf("%s is ignored: the load balancer's groups come from annotation %s, whose rules decide which sources it admits", field, AnnotationSecurityGroups))
			slices.Sort(st.Warnings)
		}
		return nil
	}
	tags, err := b.resourceTags(st.ID, elbv2deploy.ResourceManagedSecurityGroup)
	if err != nil {
		return err
	}
	g := &elbv2deploy.ManagedSecurityGroup{
		Name:        elbv2deploy.ManagedSecurityGroupName([]string{b.svc.Namespace, b.svc.Name}, b.opts.ClusterName, b.svc.Name, b.svc.Namespace, string(b.svc.UID)),
		Description: elbv2deploy.ManagedSecurityGroupDescription,
		Tags:        tags,
	}
	for _, p := range ports {
		g.Ingress = append(g.Ingress, model.IngressRules(p.protocol, p.port.Port, cidrs)...)
	}
	st.LoadBalancer.ManagedSecurityGroup = g
	return nil
}

// frontend is what deploy does with the load balancer's security groups.
type frontend struct {
	// ids are the groups the load balancer gets; nil for none.
	ids []string
	// stackID is the stack whose managed groups these are.
	stackID string
	// managed is the ID of the managed group among ids, if any.
	managed string
	// stale are managed groups to delete once the load balancer has ids;
	// with sweep, every managed group of the stack but managed is.
	stale []string
	sweep bool
}

// carriesManagedGroup reports whether the load balancer the plan leaves
// can carry the managed group: kelb controller has an EC2 API, and the
// load balancer is to be made or is not a network load balancer made
// without security groups, to which ELBv2 adds none.
func (d *Deployer) carriesManagedGroup(actual *Actual, p *Plan) bool {
	return d.EC2 != nil && (p.CreateLoadBalancer || elbv2deploy.CarriesGroups(actual.LoadBalancer))
}

// withSourceRanges returns st whose listeners carry the managed group's
// source ranges in the kelb.source_ranges.cidrs attribute, for a load
// balancer that cannot carry the group: kelb server enforces them there,
// as the AWS Load Balancer Controller enforces them on the nodes' groups
// for such a load balancer. st itself is not changed.
func withSourceRanges(st *Stack) *Stack {
	g := st.LoadBalancer.ManagedSecurityGroup
	if g == nil {
		return st
	}
	out := *st
	out.Listeners = slices.Clone(st.Listeners)
	for i, l := range out.Listeners {
		v := g.SourceRangesAttribute(l.Port, st.LoadBalancer.IPAddressType)
		if v == "" {
			continue
		}
		attrs := maps.Clone(l.Attributes)
		if attrs == nil {
			attrs = map[string]string{}
		}
		attrs[ListenerAttributeSourceRanges] = v
		out.Listeners[i].Attributes = attrs
	}
	return &out
}

// frontendGroups resolves the stack's security groups before anything is
// written, so that a group that does not exist changes nothing, and makes
// the managed group what the stack says when the load balancer can carry
// it. Groups named by annotation for a network load balancer made without
// any are left out with a warning: ELBv2 cannot add them, the Service must
// be made again.
func (d *Deployer) frontendGroups(ctx context.Context, stackID string, st *Stack, actual *Actual, p *Plan, res *Result) (frontend, error) {
	fg := frontend{stackID: stackID, sweep: d.EC2 != nil}
	if st == nil {
		return fg, nil
	}
	if mg := st.LoadBalancer.ManagedSecurityGroup; mg != nil {
		if !d.carriesManagedGroup(actual, p) {
			return fg, nil
		}
		id, stale, changed, err := elbv2deploy.EnsureManagedSecurityGroup(ctx, d.EC2, d.owner(stackID), TagResource, mg)
		if err != nil {
			return fg, err
		}
		res.Changed = res.Changed || changed
		return frontend{ids: []string{id}, stackID: stackID, managed: id, stale: stale}, nil
	}
	ids, err := d.resolveSecurityGroups(ctx, st)
	if err != nil {
		return fg, err
	}
	if len(ids) > 0 && !p.CreateLoadBalancer && !elbv2deploy.CarriesGroups(actual.LoadBalancer) {
		res.Warnings = append(res.Warnings, fmt.Sprintf("annotation %s is not applied: network load balancer %s was made without security groups, and ELBv2 cannot add any to it; delete and create the Service again to give its load balancer security groups",
			AnnotationSecurityGroups, actual.LoadBalancer.Name))
		ids = nil
	}
	fg.ids = ids
	return fg, nil
}

// sweepManagedGroups deletes the managed groups fg no longer uses, once
// the load balancer has let go of them.
func (d *Deployer) sweepManagedGroups(ctx context.Context, fg frontend, res *Result) error {
	if fg.sweep {
		changed, err := elbv2deploy.DeleteManagedSecurityGroups(ctx, d.EC2, d.owner(fg.stackID), TagResource, fg.managed)
		res.Changed = res.Changed || changed
		return err
	}
	if len(fg.stale) > 0 {
		res.Changed = true
	}
	return elbv2deploy.DeleteSecurityGroups(ctx, d.EC2, fg.stale)
}

// resolveSecurityGroups resolves the stack's security groups before
// anything is written, so that a group that does not exist changes
// nothing.
func (d *Deployer) resolveSecurityGroups(ctx context.Context, st *Stack) ([]string, error) {
	if st == nil {
		return nil, nil
	}
	ids, err := elbv2deploy.ResolveSecurityGroups(ctx, d.EC2, st.LoadBalancer.SecurityGroups)
	if err != nil {
		return nil, fmt.Errorf("annotation %s: %w", AnnotationSecurityGroups, err)
	}
	return ids, nil
}
