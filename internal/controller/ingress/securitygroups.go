package ingress

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/model"
)

// AnnotationSecurityGroups names the security groups (IDs, or names
// matched against the Name tag, then the group name) of the group's load
// balancer; kelb server admits to its listeners only the clients their
// ingress rules allow. Members that set it must agree.
const AnnotationSecurityGroups = AnnotationPrefix + "security-groups"

// securityGroups reads the security-groups annotation: the names or IDs
// as written, resolved at deploy.
func (b *builder) securityGroups() ([]string, error) {
	v, ok, err := b.exclusive(AnnotationSecurityGroups, func(ann annotations) (string, error) {
		list, err := ann.list(AnnotationSecurityGroups)
		if err != nil {
			return "", err
		}
		if len(list) == 0 {
			return "", ann.fail(AnnotationSecurityGroups, "names no security group")
		}
		return strings.Join(list, ","), nil
	})
	if err != nil || !ok {
		return nil, err
	}
	return strings.Split(v, ","), nil
}

// managedSecurityGroup gives st the frontend group the AWS Load Balancer
// Controller makes for a group that names no security group, named
// k8s-<namespace>-<name>-<hash> (k8s-<group>-<hash> for an explicit
// group), its ingress rules admitting the listeners' inbound CIDRs. Inbound
// CIDRs beside the security-groups annotation have no effect, as in the
// AWS Load Balancer Controller, and are warned of.
func (b *builder) managedSecurityGroup(st *Stack) {
	if len(st.LoadBalancer.SecurityGroups) > 0 {
		if b.inboundSet {
			st.Warnings = append(st.Warnings, fmt.Sprintf("%s and IngressClassParams inboundCIDRs are ignored: the load balancer's groups come from annotation %s, whose rules decide which sources it admits", AnnotationInboundCIDRs, AnnotationSecurityGroups))
			slices.Sort(st.Warnings)
		}
		return
	}
	labels := []string{b.in.Group.Namespace, b.in.Group.Name}
	if b.in.Group.Explicit() {
		labels = labels[1:]
	}
	st.LoadBalancer.ManagedSecurityGroup = &model.ManagedSecurityGroup{
		Name:        deploy.ManagedSecurityGroupName(labels, b.opts.ClusterName, b.in.Group.String()),
		Description: model.ManagedSecurityGroupDescription,
		Tags:        b.tags(model.ResourceManagedSecurityGroup),
		Ingress:     b.inbound,
	}
}

// resolveSecurityGroups resolves the stack's security groups before
// anything is written, so that a group that does not exist changes
// nothing.
func (d *Deployer) resolveSecurityGroups(ctx context.Context, st *Stack) ([]string, error) {
	ids, err := deploy.ResolveSecurityGroups(ctx, d.EC2, st.LoadBalancer.SecurityGroups)
	if err != nil {
		return nil, fmt.Errorf("annotation %s: %w", AnnotationSecurityGroups, err)
	}
	return ids, nil
}

// owner tells the resources of stack stackID.
func (d *Deployer) owner(stackID string) deploy.Owner {
	return deploy.Owner{StackTag: TagStack, StackID: stackID, ClusterName: d.ClusterName}
}

// frontendGroups sets res.securityGroups before anything else is written:
// the annotation's groups, resolved, so that a group that does not exist
// changes nothing; or the managed group, made what the stack says (with no
// EC2 API, Deploy has put its rules on the listeners instead).
func (d *Deployer) frontendGroups(ctx context.Context, st *Stack, res *Result) error {
	mg := st.LoadBalancer.ManagedSecurityGroup
	if mg == nil || d.EC2 == nil {
		ids, err := d.resolveSecurityGroups(ctx, st)
		res.securityGroups = ids
		return err
	}
	id, stale, changed, err := deploy.EnsureManagedSecurityGroup(ctx, d.EC2, d.owner(st.ID), TagResource, mg)
	if err != nil {
		return err
	}
	res.Changed = res.Changed || changed
	res.securityGroups, res.managedGroup, res.staleGroups = []string{id}, id, stale
	return nil
}

// sweepManagedGroups deletes the stack's managed groups the load balancer
// no longer uses, once it has let go of them.
func (d *Deployer) sweepManagedGroups(ctx context.Context, stackID string, res *Result) error {
	if d.EC2 == nil {
		return nil
	}
	if res.managedGroup == "" {
		changed, err := deploy.DeleteManagedSecurityGroups(ctx, d.EC2, d.owner(stackID), TagResource, "")
		res.Changed = res.Changed || changed
		return err
	}
	res.Changed = res.Changed || len(res.staleGroups) > 0
	return deploy.DeleteSecurityGroups(ctx, d.EC2, res.staleGroups)
}
