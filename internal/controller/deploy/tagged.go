package deploy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	rgt "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	rgttypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"
)

// Tagging is the part of the aws-sdk-go-v2 resourcegroupstaggingapi client
// the deployer finds a stack's resources with, by their tags (kelb server
// serves GetResources on its API address);
// *resourcegroupstaggingapi.Client implements it.
type Tagging interface {
	rgt.GetResourcesAPIClient
}

var _ Tagging = (*rgt.Client)(nil)

// The ResourceTypeFilters of a stack's load balancers and target groups.
const (
	resourceTypeLoadBalancer = "elasticloadbalancing:loadbalancer"
	resourceTypeTargetGroup  = "elasticloadbalancing:targetgroup"
)

// describeARNsBatch is how many ARNs one DescribeLoadBalancers or
// DescribeTargetGroups call names (DescribeLoadBalancers' limit).
const describeARNsBatch = 20

// TaggedARNs returns, by resource type and sorted, the ARNs of the
// resources of resourceTypes (service:resource-type, such as
// elasticloadbalancing:targetgroup) that carry the owner's stack tag and,
// when ClusterName is set, its cluster tag: one GetResources call per page
// for all the types, whatever else exists. Every type asked for has an
// entry, empty when nothing is tagged.
func (o Owner) TaggedARNs(ctx context.Context, t Tagging, resourceTypes ...string) (map[string][]string, error) {
	filters := []rgttypes.TagFilter{{Key: aws.String(o.StackTag), Values: []string{o.StackID}}}
	if o.ClusterName != "" {
		filters = append(filters, rgttypes.TagFilter{Key: aws.String(TagCluster), Values: []string{o.ClusterName}})
	}
	found := make(map[string][]string, len(resourceTypes))
	for _, rt := range resourceTypes {
		found[rt] = []string{}
	}
	pages := rgt.NewGetResourcesPaginator(t, &rgt.GetResourcesInput{TagFilters: filters, ResourceTypeFilters: resourceTypes})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("get %s resources tagged %s=%s: %w", strings.Join(resourceTypes, ", "), o.StackTag, o.StackID, err)
		}
		for _, m := range out.ResourceTagMappingList {
			arn := aws.ToString(m.ResourceARN)
			if rt := resourceType(arn); slices.Contains(resourceTypes, rt) {
				found[rt] = append(found[rt], arn)
			}
		}
	}
	for _, arns := range found {
		slices.Sort(arns)
	}
	return found, nil
}

// resourceType returns the service:resource-type of an ARN
// (arn:partition:service:region:account:type/id), as ResourceTypeFilters
// name it.
func resourceType(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 {
		return ""
	}
	res, _, _ := strings.Cut(parts[5], "/")
	return parts[2] + ":" + res
}

// stackTagged looks the stack's resources of resourceTypes up by their
// tags when the deployer has a Tagging client; nil otherwise.
func (d *Deployer) stackTagged(ctx context.Context, owner Owner, resourceTypes ...string) (map[string][]string, error) {
	if d.Tagging == nil {
		return nil, nil
	}
	return owner.TaggedARNs(ctx, d.Tagging, resourceTypes...)
}

// findLoadBalancers is FindLoadBalancers over the load balancers tagged as
// owner's (tagged, from stackTagged) when the deployer has a Tagging
// client, over every load balancer otherwise.
func (d *Deployer) findLoadBalancers(ctx context.Context, tagged map[string][]string, owns func(tags map[string]string) bool) (*ActualLoadBalancer, []string, error) {
	if tagged == nil {
		return FindLoadBalancers(ctx, d.Client, owns)
	}
	arns := tagged[resourceTypeLoadBalancer]
	lbs, err := describeByARN(ctx, arns, func(batch []string) ([]types.LoadBalancer, error) {
		out, err := d.Client.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: batch})
		if err != nil {
			return nil, err
		}
		return out.LoadBalancers, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("describe load balancers: %w", err)
	}
	// The first by name is the one kept, as when listing every one.
	slices.SortFunc(lbs, func(a, b types.LoadBalancer) int {
		return strings.Compare(aws.ToString(a.LoadBalancerName), aws.ToString(b.LoadBalancerName))
	})
	return ownedLoadBalancers(ctx, d.Client, lbs, owns)
}

// findTargetGroups is FindTargetGroups over the target groups tagged as
// owner's (tagged) when the deployer has a Tagging client, over every
// target group otherwise.
func (d *Deployer) findTargetGroups(ctx context.Context, tagged map[string][]string, owner Owner) ([]ActualTargetGroup, error) {
	if tagged == nil {
		return FindTargetGroups(ctx, d.Client, owner.Owns)
	}
	arns := tagged[resourceTypeTargetGroup]
	tgs, err := describeByARN(ctx, arns, func(batch []string) ([]types.TargetGroup, error) {
		out, err := d.Client.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: batch})
		if err != nil {
			return nil, err
		}
		return out.TargetGroups, nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe target groups: %w", err)
	}
	return ownedTargetGroups(ctx, d.Client, tgs, owner.Owns)
}

// describeByARN describes arns describeARNsBatch at a time. A batch that
// names a resource deleted since it was listed (NotFound) is described
// again one ARN at a time, without the deleted ones.
func describeByARN[T any](ctx context.Context, arns []string, describe func(batch []string) ([]T, error)) ([]T, error) {
	var out []T
	for start := 0; start < len(arns); start += describeARNsBatch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch := arns[start:min(start+describeARNsBatch, len(arns))]
		got, err := describe(batch)
		if err == nil {
			out = append(out, got...)
			continue
		}
		if !NotFound(err) {
			return nil, err
		}
		for _, arn := range batch {
			got, err := describe([]string{arn})
			if NotFound(err) {
				continue
			}
			if err != nil {
				return nil, err
			}
			out = append(out, got...)
		}
	}
	return out, nil
}
