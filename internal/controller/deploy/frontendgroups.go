package deploy

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/kelb-io/kelb/internal/controller/model"
)

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
	return d.EC2 != nil && (p.CreateLoadBalancer || CarriesGroups(actual.LoadBalancer))
}

// WithSourceRanges returns st whose listeners carry the managed group's
// source ranges in the kelb.source_ranges.cidrs attribute, for a load
// balancer that cannot carry the group: kelb server enforces them there,
// as the AWS Load Balancer Controller enforces them on the nodes' groups
// for such a load balancer. st itself is not changed.
func WithSourceRanges(st *model.Stack) *model.Stack {
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
		attrs[model.ListenerAttributeSourceRanges] = v
		out.Listeners[i].Attributes = attrs
	}
	return &out
}

// frontendGroups resolves the stack's security groups before anything is
// written, so that a group that does not exist changes nothing, and makes
// the managed group what the stack says when the load balancer can carry
// it. Groups named by annotation for a network load balancer made without
// any are left out with a warning: ELBv2 cannot add them, the object must
// be made again.
func (d *Deployer) frontendGroups(ctx context.Context, stackID string, st *model.Stack, actual *Actual, p *Plan, res *Result) (frontend, error) {
	fg := frontend{stackID: stackID, sweep: d.EC2 != nil}
	if st == nil {
		return fg, nil
	}
	if mg := st.LoadBalancer.ManagedSecurityGroup; mg != nil {
		if !d.carriesManagedGroup(actual, p) {
			return fg, nil
		}
		id, stale, changed, err := EnsureManagedSecurityGroup(ctx, d.EC2, d.owner(stackID), d.Frontend.ResourceTag, mg)
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
	if len(ids) > 0 && !p.CreateLoadBalancer && !CarriesGroups(actual.LoadBalancer) {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s is not applied: network load balancer %s was made without security groups, and ELBv2 cannot add any to it; delete and create the %s again to give its load balancer security groups",
			d.Frontend.SecurityGroupsFrom, actual.LoadBalancer.Name, d.Frontend.Kind))
		ids = nil
	}
	fg.ids = ids
	return fg, nil
}

// sweepManagedGroups deletes the managed groups fg no longer uses, once
// the load balancer has let go of them.
func (d *Deployer) sweepManagedGroups(ctx context.Context, fg frontend, res *Result) error {
	if fg.sweep {
		changed, err := DeleteManagedSecurityGroups(ctx, d.EC2, d.owner(fg.stackID), d.Frontend.ResourceTag, fg.managed)
		res.Changed = res.Changed || changed
		return err
	}
	if len(fg.stale) > 0 {
		res.Changed = true
	}
	return DeleteSecurityGroups(ctx, d.EC2, fg.stale)
}
