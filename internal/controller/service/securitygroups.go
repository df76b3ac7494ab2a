package service

import (
	"fmt"
	"slices"

	"github.com/kelb-io/kelb/internal/controller/deploy"
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
	return b.ann.List(AnnotationSecurityGroups)
}

// managedSecurityGroup gives st the frontend group the AWS Load Balancer
// Controller makes for a Service that names no security group: its ingress
// rules admit the source ranges (every source by default) to each
// listener port. Source ranges beside the security-groups annotation have
// no effect, as in the AWS Load Balancer Controller, and are warned of.
func (b *builder) managedSecurityGroup(st *Stack, ports []servicePortGroup, field string, ranges []string) error {
	named := len(st.LoadBalancer.SecurityGroups) > 0
	// Named groups leave the address family to their rules.
	cidrs, err := deploy.SourceCIDRs(ranges, named || st.LoadBalancer.IPAddressType == "dualstack")
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
	tags, err := b.resourceTags(st.ID, deploy.ResourceManagedSecurityGroup)
	if err != nil {
		return err
	}
	g := &deploy.ManagedSecurityGroup{
		Name:        deploy.ManagedSecurityGroupName([]string{b.svc.Namespace, b.svc.Name}, b.opts.ClusterName, b.svc.Name, b.svc.Namespace, string(b.svc.UID)),
		Description: deploy.ManagedSecurityGroupDescription,
		Tags:        tags,
	}
	for _, p := range ports {
		g.Ingress = append(g.Ingress, model.IngressRules(p.protocol, p.port.Port, cidrs)...)
	}
	st.LoadBalancer.ManagedSecurityGroup = g
	return nil
}
