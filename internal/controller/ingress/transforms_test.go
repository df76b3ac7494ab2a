package ingress

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kelb-io/kelb/internal/controller/deploy"
)

// The transforms, regex conditions, target group names and listener
// attributes of testdata/transforms-regex.yaml reach kelb server; a second
// deploy writes nothing; removing the annotations resets the transforms
// and attributes; a target group name that does not exist fails the
// deploy before anything is written.
func TestDeployTransformsAndListenerAttributes(t *testing.T) {
	ctx := context.Background()
	client, log := elbServer(t)
	d := &deploy.Deployer{Frontend: Frontend, Client: client, ClusterName: testOptions.ClusterName}
	id := GroupID{Namespace: "default", Name: "rewrites"}
	st := buildGroup(t, "testdata/transforms-regex.yaml", id, nil)

	if _, err := d.Deploy(ctx, st); err == nil || !strings.Contains(err.Error(), `"legacy-app"`) {
		t.Fatalf("deploy without the named target group: %v, want an error naming it", err)
	}
	if w := log.writes(); len(w) != 0 {
		t.Errorf("a failed name lookup wrote %v", w)
	}
	legacy, err := client.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("legacy-app"), Protocol: types.ProtocolEnumHttp,
		Port: aws.Int32(80), TargetType: types.TargetTypeEnumIp, VpcId: aws.String("vpc-0ce1b000000000000")})
	if err != nil {
		t.Fatal(err)
	}
	legacyARN := aws.ToString(legacy.TargetGroups[0].TargetGroupArn)
	res, err := d.Deploy(ctx, st)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	listenerARN, rules := listenerRules(t, client, res.LoadBalancerARN)
	if got := rules[1].Action.Forward.TargetGroups[0].ARN; got != legacyARN {
		t.Errorf("rule 2 forwards to %s, want the named group %s", got, legacyARN)
	}
	wantTransforms := st.Listeners[0].Rules[2].Transforms
	if diff := cmp.Diff(wantTransforms, rules[2].Transforms); diff != "" {
		t.Errorf("transforms (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(st.Listeners[0].Rules[2].Conditions, rules[2].Conditions, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("regex conditions (-want +got):\n%s", diff)
	}
	attrs := listenerAttrs(t, client, listenerARN)
	for k, v := range st.Listeners[0].Attributes {
		if attrs[k] != v {
			t.Errorf("listener attribute %s = %q, want %q", k, attrs[k], v)
		}
	}
	log.writes()
	if again, err := d.Deploy(ctx, st); err != nil || again.Changed {
		t.Errorf("second deploy: changed %v, err %v, wrote %v", again != nil && again.Changed, err, log.writes())
	}

	// Without the transforms and listener-attributes annotations.
	st = buildGroup(t, "testdata/transforms-regex.yaml", id, func(w *world) {
		for _, ing := range w.ingresses {
			delete(ing.Annotations, AnnotationTransformsPrefix+"api")
			delete(ing.Annotations, AnnotationListenerAttributesPrefix+"HTTP-80")
		}
	})
	if _, err := d.Deploy(ctx, st); err != nil {
		t.Fatalf("deploy without transforms: %v", err)
	}
	_, rules = listenerRules(t, client, res.LoadBalancerARN)
	if len(rules[2].Transforms) != 0 {
		t.Errorf("transforms after the annotation went = %+v", rules[2].Transforms)
	}
	attrs = listenerAttrs(t, client, listenerARN)
	if attrs["routing.http.response.server.enabled"] != "true" || attrs["routing.http.response.x_frame_options.header_value"] != "" {
		t.Errorf("listener attributes after the annotation went = %v", attrs)
	}
}

// listenerRules returns the ARN of the load balancer's first listener and
// its non-default rules.
func listenerRules(t *testing.T, c *elbv2.Client, lbARN string) (string, []deploy.ActualRule) {
	t.Helper()
	ls, err := c.DescribeListeners(context.Background(), &elbv2.DescribeListenersInput{LoadBalancerArn: &lbARN})
	if err != nil || len(ls.Listeners) == 0 {
		t.Fatalf("listeners of %s: %v", lbARN, err)
	}
	arn := aws.ToString(ls.Listeners[0].ListenerArn)
	rules, err := deploy.FindRules(context.Background(), c, arn)
	if err != nil {
		t.Fatal(err)
	}
	return arn, rules
}

func listenerAttrs(t *testing.T, c *elbv2.Client, arn string) map[string]string {
	t.Helper()
	out, err := c.DescribeListenerAttributes(context.Background(), &elbv2.DescribeListenerAttributesInput{ListenerArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, a := range out.Attributes {
		m[aws.ToString(a.Key)] = aws.ToString(a.Value)
	}
	return m
}
