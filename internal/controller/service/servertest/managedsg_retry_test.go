package servertest

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/service"
	"github.com/kelb-io/kelb/internal/elb"
)

// stackGroups lists the security groups tagged for a Service's stack.
func stackGroups(t *testing.T, c *ec2.Client, stackID string) []string {
	t.Helper()
	out, err := c.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{
		Filters: []ec2types.Filter{{Name: aws.String("tag:" + service.TagStack), Values: []string{stackID}}}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, g := range out.SecurityGroups {
		ids = append(ids, aws.ToString(g.GroupId))
	}
	return ids
}

// While kelb server refuses the load balancer (its quota of network load
// balancers is reached), every retry of the deploy reuses the managed
// group the first attempt made, found by its tags: one group, however many
// retries; once the quota frees, the load balancer is made with it.
func TestManagedSecurityGroupCreateFails(t *testing.T) {
	ctx := context.Background()
	elbClient, ec2Client := serverWithEC2(t, func(c *elb.Config) { c.MaxLoadBalancersPerType = 1 })
	d := &deploy.Deployer{Client: elbClient, EC2: ec2Client, ClusterName: opts.ClusterName, Frontend: service.Frontend}

	// Another load balancer takes the only one the quota allows.
	other, err := elbClient.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String("other"), Type: elbv2types.LoadBalancerTypeEnumNetwork, Scheme: elbv2types.LoadBalancerSchemeEnumInternal,
	})
	if err != nil {
		t.Fatal(err)
	}

	st := build(t, testService(nil))
	var first []string
	for attempt := 1; attempt <= 3; attempt++ {
		if _, err := d.Deploy(ctx, st); err == nil || !strings.Contains(err.Error(), "TooManyLoadBalancers") {
			t.Fatalf("deploy %d over the quota: %v, want TooManyLoadBalancers", attempt, err)
		}
		groups := stackGroups(t, ec2Client, st.ID)
		if attempt == 1 {
			first = groups
		}
		if len(groups) != 1 || groups[0] != first[0] {
			t.Fatalf("after deploy %d the stack has groups %v, want the first attempt's one, %v", attempt, groups, first)
		}
	}

	if _, err := elbClient.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: other.LoadBalancers[0].LoadBalancerArn}); err != nil {
		t.Fatal(err)
	}
	res, err := d.Deploy(ctx, st)
	if err != nil {
		t.Fatalf("deploy once the quota frees: %v", err)
	}
	lbs, err := elbClient.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{res.LoadBalancerARN}})
	if err != nil {
		t.Fatal(err)
	}
	if got := lbs.LoadBalancers[0].SecurityGroups; len(got) != 1 || got[0] != first[0] {
		t.Errorf("load balancer groups %v, want the group made by the first attempt, %s", got, first[0])
	}
	if groups := stackGroups(t, ec2Client, st.ID); len(groups) != 1 {
		t.Errorf("the stack has groups %v, want one", groups)
	}
}
