package ingress

import (
	"context"
	"fmt"
	"strings"

	"github.com/kelb-io/kelb/internal/controller/deploy"
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
