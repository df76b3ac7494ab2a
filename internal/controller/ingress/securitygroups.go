package ingress

import (
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
		list, err := ann.List(AnnotationSecurityGroups)
		if err != nil {
			return "", err
		}
		if len(list) == 0 {
			return "", ann.Fail(AnnotationSecurityGroups, "names no security group")
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
