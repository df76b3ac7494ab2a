package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// managedGroups lists the stack's managed security groups: those tagged
// for it (o) with resourceTag (the stack kind's resource tag key) set to
// ResourceManagedSecurityGroup.
func managedGroups(ctx context.Context, c EC2, o Owner, resourceTag string) ([]ec2types.SecurityGroup, error) {
	filters := []ec2types.Filter{
		{Name: aws.String("tag:" + o.StackTag), Values: []string{o.StackID}},
		{Name: aws.String("tag:" + resourceTag), Values: []string{ResourceManagedSecurityGroup}},
	}
	if o.ClusterName != "" {
		filters = append(filters, ec2types.Filter{Name: aws.String("tag:" + TagCluster), Values: []string{o.ClusterName}})
	}
	return describeGroups(ctx, c, &ec2.DescribeSecurityGroupsInput{Filters: filters})
}

// EnsureManagedSecurityGroup makes the stack's managed group (o, with
// resourceTag as in managedGroups) what want says and returns its ID: it is
// found by its tags and name, created with them when missing, retagged,
// and given exactly want's ingress rules (missing ones authorized in one
// call, others revoked in one call). stale are the stack's other managed
// groups (made under another name), for DeleteSecurityGroups once the load
// balancer has let go of them. changed reports a write. A failed call
// returns its error; what was written before it stays, and the next deploy
// continues from there.
func EnsureManagedSecurityGroup(ctx context.Context, c EC2, o Owner, resourceTag string, want *ManagedSecurityGroup) (id string, stale []string, changed bool, err error) {
	groups, err := managedGroups(ctx, c, o, resourceTag)
	if err != nil {
		return "", nil, false, err
	}
	i := slices.IndexFunc(groups, func(g ec2types.SecurityGroup) bool { return aws.ToString(g.GroupName) == want.Name })
	for j, g := range groups {
		if j != i {
			stale = append(stale, aws.ToString(g.GroupId))
		}
	}
	var have ec2types.SecurityGroup
	if i < 0 {
		out, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
			GroupName:   aws.String(want.Name),
			Description: aws.String(want.Description),
			TagSpecifications: []ec2types.TagSpecification{{
				ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: ec2Tags(want.Tags),
			}},
		})
		if err != nil {
			return "", nil, false, fmt.Errorf("create security group %s: %w", want.Name, err)
		}
		// A new group has no ingress rules (and all egress).
		have = ec2types.SecurityGroup{GroupId: out.GroupId, GroupName: aws.String(want.Name), Tags: out.Tags}
		changed = true
	} else {
		have = groups[i]
	}
	id = aws.ToString(have.GroupId)
	set, remove := DiffTags(want.Tags, tagMap(have.Tags))
	if len(set) > 0 {
		changed = true
		if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: ec2Tags(set)}); err != nil {
			return "", nil, changed, fmt.Errorf("tag security group %s: %w", id, err)
		}
	}
	if len(remove) > 0 {
		changed = true
		var tags []ec2types.Tag
		for _, k := range remove {
			tags = append(tags, ec2types.Tag{Key: aws.String(k)})
		}
		if _, err := c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{id}, Tags: tags}); err != nil {
			return "", nil, changed, fmt.Errorf("untag security group %s: %w", id, err)
		}
	}
	authorize, revoke := diffIngress(want.Ingress, have.IpPermissions)
	if len(revoke) > 0 {
		changed = true
		if _, err := c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: &id, IpPermissions: revoke}); err != nil {
			return "", nil, changed, fmt.Errorf("revoke ingress rules of security group %s: %w", id, err)
		}
	}
	if len(authorize) > 0 {
		changed = true
		if _, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &id, IpPermissions: authorize}); err != nil {
			return "", nil, changed, fmt.Errorf("authorize ingress rules of security group %s: %w", id, err)
		}
	}
	return id, stale, changed, nil
}

// DeleteManagedSecurityGroups deletes the stack's managed groups other than
// keep ("" deletes them all). Call it once no load balancer of the stack
// uses them: kelb server refuses to delete a group in use
// (DependencyViolation), and that error is returned.
func DeleteManagedSecurityGroups(ctx context.Context, c EC2, o Owner, resourceTag, keep string) (bool, error) {
	groups, err := managedGroups(ctx, c, o, resourceTag)
	if err != nil {
		return false, err
	}
	var ids []string
	for _, g := range groups {
		if id := aws.ToString(g.GroupId); id != keep {
			ids = append(ids, id)
		}
	}
	return len(ids) > 0, DeleteSecurityGroups(ctx, c, ids)
}

// DeleteSecurityGroups deletes groups ids; one already gone is no error.
func DeleteSecurityGroups(ctx context.Context, c EC2, ids []string) error {
	for _, id := range ids {
		if _, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: &id}); err != nil && !groupNotFound(err) {
			return fmt.Errorf("delete security group %s: %w", id, err)
		}
	}
	return nil
}

func groupNotFound(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "InvalidGroup.NotFound"
}

// diffIngress returns the permissions to authorize and to revoke so that a
// group with permissions have admits exactly want. Permissions that name
// groups or prefix lists are revoked whole: a managed group has none.
func diffIngress(want []IngressRule, have []ec2types.IpPermission) (authorize, revoke []ec2types.IpPermission) {
	held := map[IngressRule]bool{}
	wanted := map[IngressRule]bool{}
	for _, r := range want {
		wanted[r] = true
	}
	for _, p := range have {
		proto := strings.ToLower(aws.ToString(p.IpProtocol))
		from, to := aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort)
		if len(p.UserIdGroupPairs) > 0 || len(p.PrefixListIds) > 0 {
			revoke = append(revoke, ec2types.IpPermission{IpProtocol: p.IpProtocol, FromPort: p.FromPort, ToPort: p.ToPort,
				UserIdGroupPairs: p.UserIdGroupPairs, PrefixListIds: p.PrefixListIds})
		}
		for _, r := range p.IpRanges {
			rule := IngressRule{Protocol: proto, Port: from, CIDR: aws.ToString(r.CidrIp)}
			if from == to && wanted[rule] {
				held[rule] = true
				continue
			}
			revoke = append(revoke, ec2types.IpPermission{IpProtocol: p.IpProtocol, FromPort: p.FromPort, ToPort: p.ToPort,
				IpRanges: []ec2types.IpRange{{CidrIp: r.CidrIp}}})
		}
		for _, r := range p.Ipv6Ranges {
			rule := IngressRule{Protocol: proto, Port: from, CIDR: aws.ToString(r.CidrIpv6)}
			if from == to && wanted[rule] {
				held[rule] = true
				continue
			}
			revoke = append(revoke, ec2types.IpPermission{IpProtocol: p.IpProtocol, FromPort: p.FromPort, ToPort: p.ToPort,
				Ipv6Ranges: []ec2types.Ipv6Range{{CidrIpv6: r.CidrIpv6}}})
		}
	}
	for _, r := range want {
		if held[r] {
			continue
		}
		held[r] = true
		p := ec2types.IpPermission{IpProtocol: aws.String(r.Protocol), FromPort: aws.Int32(r.Port), ToPort: aws.Int32(r.Port)}
		if strings.Contains(r.CIDR, ":") {
			p.Ipv6Ranges = []ec2types.Ipv6Range{{CidrIpv6: aws.String(r.CIDR)}}
		} else {
			p.IpRanges = []ec2types.IpRange{{CidrIp: aws.String(r.CIDR)}}
		}
		authorize = append(authorize, p)
	}
	return authorize, revoke
}

func ec2Tags(m map[string]string) []ec2types.Tag {
	var out []ec2types.Tag
	for _, k := range SortedKeys(m) {
		out = append(out, ec2types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

func tagMap(tags []ec2types.Tag) map[string]string {
	out := map[string]string{}
	for _, t := range tags {
		out[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}
