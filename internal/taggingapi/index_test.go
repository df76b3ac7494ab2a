package taggingapi

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kelb-io/kelb/internal/elb/store"
)

func TestResourceType(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/net/a/0123456789abcdef": "elasticloadbalancing:loadbalancer",
		"arn:aws:elasticloadbalancing:us-west-2:123456789012:listener-rule/app/a/0123/4567/89ab":  "elasticloadbalancing:listener-rule",
		"arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/tg/0123456789abcdef":     "elasticloadbalancing:targetgroup",
		"arn:aws:ec2:us-west-2:123456789012:security-group/sg-0123456789abcdef0":                  "ec2:security-group",
		"arn:aws:acm:us-west-2:123456789012:certificate/0c1c2f9e-0000-4000-8000-000000000000":     "acm:certificate",
		"arn:aws:sns:us-west-2:123456789012:topic:name":                                           "sns:topic",
		"arn:aws:ec2:ap-northeast-1:433616233360:i-0825a83d29e870145":                             "ec2:i-0825a83d29e870145",
		"arn:aws:elasticloadbalancing:us-west-2:123456789012":                                     "",
		"not-an-arn":                          "",
		"arn:aws::us-west-2:123456789012:x/y": "",
	} {
		if got := ResourceType(arn); got != want {
			t.Errorf("ResourceType(%q) = %q, want %q", arn, got, want)
		}
	}
}

func TestMatchesTypes(t *testing.T) {
	for _, c := range []struct {
		typ     string
		filters []string
		want    bool
	}{
		{"elasticloadbalancing:loadbalancer", nil, true},
		{"elasticloadbalancing:loadbalancer", []string{"elasticloadbalancing"}, true},
		{"elasticloadbalancing:loadbalancer", []string{"elasticloadbalancing:loadbalancer"}, true},
		{"elasticloadbalancing:loadbalancer", []string{"elasticloadbalancing:targetgroup"}, false},
		{"elasticloadbalancing:loadbalancer", []string{"ec2", "elasticloadbalancing:targetgroup"}, false},
		{"ec2:security-group", []string{"ec2", "elasticloadbalancing:targetgroup"}, true},
		{"elasticloadbalancing:listener-rule", []string{"elasticloadbalancing:listener"}, false},
	} {
		if got := matchesTypes(c.typ, c.filters); got != c.want {
			t.Errorf("matchesTypes(%q, %q) = %v, want %v", c.typ, c.filters, got, c.want)
		}
	}
}

// TestIndexFollowsStore writes random tag sets into a real store, change
// after change, and checks every query against a scan of every record:
// the incremental index answers what a full scan answers.
func TestIndexFollowsStore(t *testing.T) {
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "kelb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	const kind = "targetgroup"
	x := NewIndex(st, Sources("us-west-2", "123456789012"))
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"elbv2.k8s.aws/cluster", "service.k8s.aws/stack", "service.k8s.aws/resource", "team"}
	values := []string{"a", "b", "c", ""}
	want := map[string][]Tag{} // ARN -> tags
	randomTags := func() []Tag {
		var tags []Tag
		for _, k := range keys {
			if rng.IntN(3) > 0 {
				tags = append(tags, Tag{Key: k, Value: values[rng.IntN(len(values))]})
			}
		}
		return tags
	}
	for step := range 300 {
		// Change a few records in one transaction.
		err := st.Update(ctx, func(tx store.Tx) error {
			for range 1 + rng.IntN(3) {
				arn := fmt.Sprintf("arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/tg%d/0123456789abcdef", rng.IntN(40))
				if rng.IntN(5) == 0 {
					delete(want, arn)
					if err := tx.Delete(kind, arn); err != nil {
						return err
					}
					continue
				}
				tags := randomTags()
				b, _ := json.Marshal(map[string]any{"ARN": arn, "Name": "x", "Tags": tags})
				if len(tags) == 0 {
					delete(want, arn)
				} else {
					want[arn] = tags
				}
				if err := tx.Put(kind, arn, b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var q Query
		for range rng.IntN(3) {
			f := TagFilter{Key: keys[rng.IntN(len(keys))]}
			for range rng.IntN(3) {
				f.Values = append(f.Values, values[rng.IntN(len(values))])
			}
			q.TagFilters = append(q.TagFilters, f)
		}
		if rng.IntN(4) == 0 {
			q.Types = []string{"ec2"}
		}
		got, err := x.Find(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var scan []Resource
		for arn, tags := range want {
			if matchesFilters(tags, q.TagFilters) && matchesTypes("elasticloadbalancing:targetgroup", q.Types) {
				scan = append(scan, Resource{ARN: arn, Type: "elasticloadbalancing:targetgroup", Tags: tags})
			}
		}
		slices.SortFunc(scan, func(a, b Resource) int { return strings.Compare(a.ARN, b.ARN) })
		if diff := cmp.Diff(scan, got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("step %d, query %+v (-scan +index):\n%s", step, q, diff)
		}
	}
}
