package server_test

import (
	"context"
	"regexp"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/google/go-cmp/cmp"
)

// What the AWS Load Balancer Controller v3.6.2 tripped on, each as AWS
// answers it (test/e2e/lbc runs the controller itself).

// TestConformanceDefaultRuleTags: the controller lists every rule of a
// listener (DescribeRules, the default rule among them, for network load
// balancers too) and asks for their tags; AWS answers the default rule's
// tags, and tags it.
func TestConformanceDefaultRuleTags(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	ctx := context.Background()
	st := createStack(t, s, stackSpec{name: "lbc-rules", port: 80, tgPort: 8080})
	rules, err := s.ELB.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: aws.String(st.Listener)})
	if err != nil || len(rules.Rules) != 1 || !aws.ToBool(rules.Rules[0].IsDefault) {
		t.Fatalf("DescribeRules of a network load balancer's listener = %+v, %v; want its default rule", rules, err)
	}
	rule := aws.ToString(rules.Rules[0].RuleArn)
	tags, err := s.ELB.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{rule, st.Listener}})
	if err != nil || len(tags.TagDescriptions) != 2 || len(tags.TagDescriptions[0].Tags) != 0 {
		t.Fatalf("DescribeTags of the default rule = %+v, %v; want it, untagged", tags, err)
	}
	if _, err := s.ELB.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{rule},
		Tags: []types.Tag{{Key: aws.String("elbv2.k8s.aws/cluster"), Value: aws.String("kelb")}}}); err != nil {
		t.Fatalf("AddTags to the default rule: %v", err)
	}
	tags, err = s.ELB.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{rule}})
	if err != nil || len(tags.TagDescriptions) != 1 {
		t.Fatalf("DescribeTags of the default rule = %+v, %v", tags, err)
	}
	var got []string
	for _, tg := range tags.TagDescriptions[0].Tags {
		got = append(got, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
	}
	if diff := cmp.Diff([]string{"elbv2.k8s.aws/cluster=kelb"}, got); diff != "" {
		t.Errorf("default rule tags (-want +got):\n%s", diff)
	}
	if _, err := s.ELB.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: []string{rule}, TagKeys: []string{"elbv2.k8s.aws/cluster"}}); err != nil {
		t.Errorf("RemoveTags from the default rule: %v", err)
	}
	// A rule ARN of the listener that is not its default rule is unknown.
	other := rule[:len(rule)-4] + "0000"
	if other == rule {
		other = rule[:len(rule)-4] + "ffff"
	}
	_, err = s.ELB.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{other}})
	wantCode(t, "DescribeTags of an unknown rule of the listener", err, "RuleNotFound")
}

// TestConformanceGroupPairRules: the controller opens a node's or a pod's
// security group to its load balancers' backend group with a rule whose
// peer is that group (UserIdGroupPairs, sent as IpPermissions.N.Groups.M
// on EC2's wire), and revokes it when the load balancer goes.
func TestConformanceGroupPairRules(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{extraArgs: []string{"--vpc-id", testVpcID}})
	c := s.ec2Client()
	ctx := context.Background()
	backend, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("k8s-traffic-kelb"),
		Description: aws.String("[k8s] Shared Backend SecurityGroup for LoadBalancer"), VpcId: aws.String(testVpcID)})
	if err != nil {
		t.Fatalf("CreateSecurityGroup: %v", err)
	}
	node, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("node"),
		Description: aws.String("node"), VpcId: aws.String(testVpcID)})
	if err != nil {
		t.Fatalf("CreateSecurityGroup: %v", err)
	}
	perm := ec2types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(8080), ToPort: aws.Int32(8080),
		UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: backend.GroupId, Description: aws.String("elbv2.k8s.aws/targetGroupBinding=shared")}}}
	if _, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: node.GroupId,
		IpPermissions: []ec2types.IpPermission{perm}}); err != nil {
		t.Fatalf("AuthorizeSecurityGroupIngress from a group: %v", err)
	}
	out, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{aws.ToString(node.GroupId)}})
	if err != nil || len(out.SecurityGroups) != 1 || len(out.SecurityGroups[0].IpPermissions) != 1 {
		t.Fatalf("DescribeSecurityGroups = %+v, %v", out, err)
	}
	p := out.SecurityGroups[0].IpPermissions[0]
	if len(p.UserIdGroupPairs) != 1 || aws.ToString(p.UserIdGroupPairs[0].GroupId) != aws.ToString(backend.GroupId) ||
		aws.ToString(p.UserIdGroupPairs[0].Description) != "elbv2.k8s.aws/targetGroupBinding=shared" || len(p.IpRanges) != 0 {
		t.Errorf("rule = %+v, want tcp 8080 from %s", p, aws.ToString(backend.GroupId))
	}
	_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: node.GroupId,
		IpPermissions: []ec2types.IpPermission{perm}})
	wantCode(t, "AuthorizeSecurityGroupIngress of the same group pair again", err, "InvalidPermission.Duplicate")
	_, err = c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: backend.GroupId})
	wantCode(t, "DeleteSecurityGroup of a group another's rule refers to", err, "DependencyViolation")
	if _, err := c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: node.GroupId,
		IpPermissions: []ec2types.IpPermission{perm}}); err != nil {
		t.Fatalf("RevokeSecurityGroupIngress from a group: %v", err)
	}
	if _, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: backend.GroupId}); err != nil {
		t.Errorf("DeleteSecurityGroup once no rule refers to it: %v", err)
	}
}

// TestConformanceDefaultVpcID: the controller's TargetGroupBinding
// validator refuses a VPC id not in AWS's form (vpc- and 8 or 17 hex
// digits); kelb server's default VPC, which load balancers and target
// groups report, has one.
func TestConformanceDefaultVpcID(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	ctx := context.Background()
	vpcs, err := s.ec2Client().DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	if err != nil || len(vpcs.Vpcs) != 1 {
		t.Fatalf("DescribeVpcs = %+v, %v", vpcs, err)
	}
	id := aws.ToString(vpcs.Vpcs[0].VpcId)
	if !regexp.MustCompile(`^vpc-([0-9a-f]{8}|[0-9a-f]{17})$`).MatchString(id) {
		t.Errorf("default VPC id %q is not in AWS's form", id)
	}
	st := createStack(t, s, stackSpec{name: "lbc-vpc", port: 80, tgPort: 8080})
	lbs, err := s.ELB.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{st.LB}})
	if err != nil || aws.ToString(lbs.LoadBalancers[0].VpcId) != id {
		t.Errorf("DescribeLoadBalancers VpcId = %+v, %v; want %s", lbs, err, id)
	}
}
