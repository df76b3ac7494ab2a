package deploy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/kelb-io/kelb/internal/controller/model"
)

// EC2 is the part of the EC2 API deployers call to resolve security
// groups and to keep the managed ones; *ec2.Client implements it.
type EC2 interface {
	DescribeSecurityGroups(context.Context, *ec2.DescribeSecurityGroupsInput, ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	CreateSecurityGroup(context.Context, *ec2.CreateSecurityGroupInput, ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error)
	DeleteSecurityGroup(context.Context, *ec2.DeleteSecurityGroupInput, ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error)
	AuthorizeSecurityGroupIngress(context.Context, *ec2.AuthorizeSecurityGroupIngressInput, ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error)
	RevokeSecurityGroupIngress(context.Context, *ec2.RevokeSecurityGroupIngressInput, ...func(*ec2.Options)) (*ec2.RevokeSecurityGroupIngressOutput, error)
	CreateTags(context.Context, *ec2.CreateTagsInput, ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
	DeleteTags(context.Context, *ec2.DeleteTagsInput, ...func(*ec2.Options)) (*ec2.DeleteTagsOutput, error)
}

var _ EC2 = (*ec2.Client)(nil)

// ResolveSecurityGroups turns the names and IDs of a security-groups
// annotation into group IDs, in the annotation's order, as the AWS Load
// Balancer Controller does: an item starting with sg- is an ID, which must
// exist; any other is a name, matched against the groups' Name tag and,
// for a name no Name tag carries, their group name (kelb's groups are
// often made without a Name tag). Every missing group is named in the
// error, and nothing is resolved then.
func ResolveSecurityGroups(ctx context.Context, c EC2, namesOrIDs []string) ([]string, error) {
	if len(namesOrIDs) == 0 {
		return nil, nil
	}
	if c == nil {
		return nil, fmt.Errorf("security groups %v: kelb controller has no EC2 API client", namesOrIDs)
	}
	var ids, names []string
	for _, v := range namesOrIDs {
		if strings.HasPrefix(v, "sg-") {
			ids = append(ids, v)
		} else if !slices.Contains(names, v) {
			names = append(names, v)
		}
	}
	byName := map[string]string{}
	var missing []string
	if len(ids) > 0 {
		groups, err := describeGroups(ctx, c, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{{Name: aws.String("group-id"), Values: ids}}})
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if !slices.ContainsFunc(groups, func(g ec2types.SecurityGroup) bool { return aws.ToString(g.GroupId) == id }) {
				missing = append(missing, id)
			}
		}
	}
	if len(names) > 0 {
		groups, err := describeGroups(ctx, c, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{{Name: aws.String("tag:Name"), Values: names}}})
		if err != nil {
			return nil, err
		}
		for _, g := range groups {
			for _, t := range g.Tags {
				if aws.ToString(t.Key) == "Name" {
					byName[aws.ToString(t.Value)] = aws.ToString(g.GroupId)
				}
			}
		}
		var rest []string
		for _, n := range names {
			if _, ok := byName[n]; !ok {
				rest = append(rest, n)
			}
		}
		if len(rest) > 0 {
			groups, err := describeGroups(ctx, c, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{{Name: aws.String("group-name"), Values: rest}}})
			if err != nil {
				return nil, err
			}
			for _, g := range groups {
				byName[aws.ToString(g.GroupName)] = aws.ToString(g.GroupId)
			}
		}
		for _, n := range names {
			if _, ok := byName[n]; !ok {
				missing = append(missing, n)
			}
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("couldn't find all security groups: %s not found", strings.Join(missing, ", "))
	}
	var out []string
	for _, v := range namesOrIDs {
		id := v
		if !strings.HasPrefix(v, "sg-") {
			id = byName[v]
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

func describeGroups(ctx context.Context, c EC2, in *ec2.DescribeSecurityGroupsInput) ([]ec2types.SecurityGroup, error) {
	var out []ec2types.SecurityGroup
	for {
		page, err := c.DescribeSecurityGroups(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("describe security groups: %w", err)
		}
		out = append(out, page.SecurityGroups...)
		if aws.ToString(page.NextToken) == "" {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}

// SameGroups reports whether two lists hold the same groups, in any order.
func SameGroups(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// SyncSecurityGroups gives the load balancer the groups want (IDs) when it
// has others. With want empty (the annotation removed), a network load
// balancer's groups are removed; an application load balancer keeps its
// groups, since ELBv2 (and kelb server) keep at least one on it. Kelb
// server's errors are returned as they are: a network load balancer made
// without groups cannot be given any.
func SyncSecurityGroups(ctx context.Context, c ELBv2, lb *ActualLoadBalancer, want []string) (bool, error) {
	if SameGroups(want, lb.SecurityGroups) || len(want) == 0 && lb.Type == "application" {
		return false, nil
	}
	if want == nil {
		want = []string{}
	}
	if _, err := c.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: &lb.ARN, SecurityGroups: want}); err != nil {
		return false, fmt.Errorf("set security groups %v of %s: %w", want, lb.ARN, err)
	}
	return true, nil
}

// resolveSecurityGroups resolves the stack's security groups before
// anything is written, so that a group that does not exist changes
// nothing.
func (d *Deployer) resolveSecurityGroups(ctx context.Context, st *model.Stack) ([]string, error) {
	if st == nil {
		return nil, nil
	}
	ids, err := ResolveSecurityGroups(ctx, d.EC2, st.LoadBalancer.SecurityGroups)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Frontend.SecurityGroupsFrom, err)
	}
	return ids, nil
}
