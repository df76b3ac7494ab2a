package service

import (
	"context"
	"fmt"

	"github.com/kelb-io/kelb/internal/controller/elbv2deploy"
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
