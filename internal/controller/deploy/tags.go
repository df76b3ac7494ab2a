package deploy

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/kelb-io/kelb/internal/controller/model"
)

// TagCluster is the tag naming the cluster a resource was made for, the
// AWS Load Balancer Controller's.
const TagCluster = model.TagCluster

// describeTagsBatch is the most ARNs one DescribeTags call accepts.
const describeTagsBatch = 20

// Owner tells which resources belong to one stack: those tagged with the
// stack's ID under StackTag and, when ClusterName is set, with the cluster.
type Owner struct {
	// StackTag is the tag key holding the stack ID, such as
	// "service.k8s.aws/stack".
	StackTag    string
	StackID     string
	ClusterName string
}

// Owns reports whether a resource with tags belongs to the stack.
func (o Owner) Owns(tags map[string]string) bool {
	if tags[o.StackTag] != o.StackID {
		return false
	}
	return o.ClusterName == "" || tags[TagCluster] == o.ClusterName
}

// DescribeTags describes the tags of arns, 20 at a time (the API's limit),
// and returns them by ARN.
func DescribeTags(ctx context.Context, c ELBv2, arns []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for start := 0; start < len(arns); start += describeTagsBatch {
		batch := arns[start:min(start+describeTagsBatch, len(arns))]
		res, err := c.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: batch})
		if err != nil {
			return nil, fmt.Errorf("describe tags: %w", err)
		}
		for _, td := range res.TagDescriptions {
			m := map[string]string{}
			for _, t := range td.Tags {
				m[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
			out[aws.ToString(td.ResourceArn)] = m
		}
	}
	return out, nil
}

// describeTagsOf describes the tags of items, whose ARNs arn returns.
func describeTagsOf[T any](ctx context.Context, c ELBv2, items []T, arn func(T) *string) (map[string]map[string]string, error) {
	arns := make([]string, len(items))
	for i, it := range items {
		arns[i] = aws.ToString(arn(it))
	}
	return DescribeTags(ctx, c, arns)
}

// SDKTags is m as API tags, in key order.
func SDKTags(m map[string]string) []types.Tag {
	var out []types.Tag
	for _, k := range SortedKeys(m) {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

// SortedKeys returns the keys of m in order.
func SortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// DiffTags returns the tags to add or change and the keys to remove, in
// order, so that have becomes want.
func DiffTags(want, have map[string]string) (set map[string]string, remove []string) {
	set = ChangedAttributes(want, have)
	for k := range have {
		if _, ok := want[k]; !ok {
			remove = append(remove, k)
		}
	}
	sort.Strings(remove)
	return set, remove
}

// TagChange is the tags to set and the keys to remove on one resource.
type TagChange struct {
	Set    map[string]string `json:"set,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}

// diffTags returns the tags to add or change and the keys to remove so that
// have becomes want.
func diffTags(want, have map[string]string) TagChange {
	set, remove := DiffTags(want, have)
	return TagChange{Set: set, Remove: remove}
}

func (d *Deployer) retag(ctx context.Context, arn string, c TagChange) error {
	if len(c.Set) > 0 {
		if _, err := d.Client.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{arn}, Tags: SDKTags(c.Set)}); err != nil {
			return fmt.Errorf("tag %s: %w", arn, err)
		}
	}
	if len(c.Remove) > 0 {
		if _, err := d.Client.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: []string{arn}, TagKeys: c.Remove}); err != nil {
			return fmt.Errorf("untag %s: %w", arn, err)
		}
	}
	return nil
}
