package targetgroupbinding

import (
	"strings"
	"testing"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
)

func TestIgnoredFields(t *testing.T) {
	on := true
	tgb := &elbv2api.TargetGroupBinding{Spec: elbv2api.TargetGroupBindingSpec{
		IamRoleArnToAssume: "arn:aws:iam::111122223333:role/lb", AssumeRoleExternalId: "x", RegisterTargetsWithPodAvailabilityZone: &on,
	}}
	got := ignoredFields(tgb)
	for i, field := range []string{"spec.iamRoleArnToAssume", "spec.assumeRoleExternalId", "spec.registerTargetsWithPodAvailabilityZone"} {
		if i >= len(got) || !strings.HasPrefix(got[i], field) {
			t.Errorf("warnings %q lack %s", got, field)
		}
	}
	if got := ignoredFields(&elbv2api.TargetGroupBinding{}); len(got) != 0 {
		t.Errorf("a plain binding: %q", got)
	}
}
