package targetgroupbinding

import (
	"fmt"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
)

// ReasonIgnoredField: the binding sets a field kelb does not act on; the
// event names it.
const ReasonIgnoredField = "IgnoredField"

// ignoredFields names the fields of a binding that kelb accepts, as the
// AWS Load Balancer Controller does, without acting on them: kelb server is
// one account, so a role to assume for another account's target group has
// nothing to do, and the target group is looked up in that one account.
func ignoredFields(tgb *elbv2api.TargetGroupBinding) []string {
	var out []string
	s := &tgb.Spec
	if s.IamRoleArnToAssume != "" {
		out = append(out, fmt.Sprintf("spec.iamRoleArnToAssume %q is ignored: kelb server is one account", s.IamRoleArnToAssume))
	}
	if s.AssumeRoleExternalId != "" {
		out = append(out, "spec.assumeRoleExternalId is ignored: kelb server is one account")
	}
	if s.RegisterTargetsWithPodAvailabilityZone != nil && *s.RegisterTargetsWithPodAvailabilityZone {
		out = append(out, "spec.registerTargetsWithPodAvailabilityZone is ignored: kelb server is one account, targets are registered as in any binding")
	}
	return out
}
