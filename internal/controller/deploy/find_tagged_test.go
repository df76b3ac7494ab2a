package deploy_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	rgt "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/elbapi"
	"github.com/kelb-io/kelb/internal/taggingapi"
)

const resourceTag = "service.k8s.aws/resource"

// taggingServer starts a kelb server API in process that serves the ELBv2
// and Resource Groups Tagging APIs on one address, as kelb server does,
// and returns a client of each.
func taggingServer(t *testing.T) (*elbv2.Client, *rgt.Client) {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "kelb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := elb.New(elb.Config{
		Store:    st,
		VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15")},
		Zones:    []elb.Zone{{Name: "us-west-2a", SubnetID: "subnet-a", Pool: netip.MustParsePrefix("198.19.1.0/24")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	creds := elbapi.StaticCredentials{keyID: secret}
	elbHandler := elbapi.NewHandler(elbapi.HandlerConfig{Ops: elbapi.Ops(svc), Credentials: creds, Region: svc.Region()})
	tagging := taggingapi.NewHandler(taggingapi.Config{
		Index:       taggingapi.NewIndex(st, taggingapi.Sources(svc.Region(), svc.AccountID())),
		Credentials: creds, Region: svc.Region(),
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if taggingapi.IsTaggingRequest(r) {
			tagging.ServeHTTP(w, r)
			return
		}
		elbHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c := credentials.NewStaticCredentialsProvider(keyID, secret, "")
	return elbv2.New(elbv2.Options{Region: svc.Region(), BaseEndpoint: aws.String(srv.URL), Credentials: c}),
		rgt.New(rgt.Options{Region: svc.Region(), BaseEndpoint: aws.String(srv.URL), Credentials: c})
}

// taggedStack makes stack's load balancer named lbName and target group
// tgName, tagged as a Service's are.
func taggedStack(t *testing.T, c *elbv2.Client, stack, cluster, lbName, tgName string) (lb, tg string) {
	t.Helper()
	ctx := context.Background()
	with := func(resource string) []types.Tag {
		return append(tags(stack, cluster), types.Tag{Key: aws.String(resourceTag), Value: aws.String(resource)})
	}
	lbOut, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String(lbName), Type: types.LoadBalancerTypeEnumNetwork, Scheme: types.LoadBalancerSchemeEnumInternal,
		Tags: with(deploy.ResourceLoadBalancer),
	})
	if err != nil {
		t.Fatalf("create load balancer %s: %v", lbName, err)
	}
	tgOut, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String(tgName), VpcId: aws.String("vpc-0ce1b000000000000"), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(8080),
		TargetType: types.TargetTypeEnumIp, Tags: with(stack + ":80"),
	})
	if err != nil {
		t.Fatalf("create target group %s: %v", tgName, err)
	}
	return aws.ToString(lbOut.LoadBalancers[0].LoadBalancerArn), aws.ToString(tgOut.TargetGroups[0].TargetGroupArn)
}

// taggedDescriber is the kelb server ELBv2 client, recording every ARN
// whose tags the deployer reads.
type taggedDescriber struct {
	*elbv2.Client
	mu   sync.Mutex
	arns []string
}

func (c *taggedDescriber) DescribeTags(ctx context.Context, in *elbv2.DescribeTagsInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeTagsOutput, error) {
	c.mu.Lock()
	c.arns = append(c.arns, in.ResourceArns...)
	c.mu.Unlock()
	return c.Client.DescribeTags(ctx, in, opts...)
}

// countingTagging is the kelb server tagging client, counting its calls.
type countingTagging struct {
	*rgt.Client
	calls int
}

func (c *countingTagging) GetResources(ctx context.Context, in *rgt.GetResourcesInput, opts ...func(*rgt.Options)) (*rgt.GetResourcesOutput, error) {
	c.calls++
	return c.Client.GetResources(ctx, in, opts...)
}

// TestFindByTags finds a stack's load balancers (the first by name, and a
// leftover) and target groups among those of 30 other stacks and of
// another cluster through one GetResources call, and reads the tags of
// the stack's resources only.
func TestFindByTags(t *testing.T) {
	c, tagging := taggingServer(t)
	ctx := context.Background()
	for i := range 30 {
		taggedStack(t, c, fmt.Sprintf("ui/other-%02d", i), "c1", fmt.Sprintf("other-%02d", i), fmt.Sprintf("other-%02d", i))
	}
	taggedStack(t, c, "ui/web", "c2", "web-c2", "web-c2")
	lb1, tg1 := taggedStack(t, c, "ui/web", "c1", "web-1", "web-1")
	lb2, tg2 := taggedStack(t, c, "ui/web", "c1", "web-2", "web-2")

	recorder := &taggedDescriber{Client: c}
	counter := &countingTagging{Client: tagging}
	d := &deploy.Deployer{Client: recorder, Tagging: counter, ClusterName: "c1",
		Frontend: deploy.Frontend{StackTag: stackTag, ResourceTag: resourceTag}}
	actual, err := d.Find(ctx, "ui/web", nil)
	if err != nil {
		t.Fatal(err)
	}
	if counter.calls != 1 {
		t.Errorf("%d GetResources calls, want 1", counter.calls)
	}
	if actual.LoadBalancer == nil || actual.LoadBalancer.ARN != lb1 || !cmp.Equal(actual.OtherLoadBalancers, []string{lb2}) {
		t.Errorf("load balancer %+v, others %v; want %s, others [%s]", actual.LoadBalancer, actual.OtherLoadBalancers, lb1, lb2)
	}
	var gotTGs []string
	for _, tg := range actual.TargetGroups {
		gotTGs = append(gotTGs, tg.ARN)
		if tg.ResourceID != "ui/web:80" || len(tg.Attributes) == 0 {
			t.Errorf("target group %s: resource %q, %d attributes", tg.Name, tg.ResourceID, len(tg.Attributes))
		}
	}
	sort.Strings(gotTGs)
	wantTGs := []string{tg1, tg2}
	sort.Strings(wantTGs)
	if diff := cmp.Diff(wantTGs, gotTGs); diff != "" {
		t.Errorf("target groups (-want +got):\n%s", diff)
	}
	for _, arn := range recorder.arns {
		if !slices.Contains([]string{lb1, lb2, tg1, tg2}, arn) {
			t.Errorf("read the tags of %s, which is not the stack's", arn)
		}
	}

	// Without a Tagging client, Find lists everything and finds the same.
	d.Tagging = nil
	listed, err := d.Find(ctx, "ui/web", nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(actual, listed); diff != "" {
		t.Errorf("found by listing everything (-by tags +listed):\n%s", diff)
	}
}

// staleTagging answers GetResources with what kelb server answered the
// first time it was asked, as a lookup that ran just before a deletion.
type staleTagging struct {
	*rgt.Client
	first map[string]*rgt.GetResourcesOutput
}

func (s *staleTagging) GetResources(ctx context.Context, in *rgt.GetResourcesInput, opts ...func(*rgt.Options)) (*rgt.GetResourcesOutput, error) {
	key := fmt.Sprint(in.ResourceTypeFilters, aws.ToString(in.PaginationToken))
	if out, ok := s.first[key]; ok {
		return out, nil
	}
	out, err := s.Client.GetResources(ctx, in, opts...)
	if err == nil {
		s.first[key] = out
	}
	return out, err
}

// TestFindByTagsDeletedMeanwhile finds a stack whose target group and
// leftover load balancer were deleted between GetResources and the
// describe calls: the rest is found, the deleted ones are not.
func TestFindByTagsDeletedMeanwhile(t *testing.T) {
	c, tagging := taggingServer(t)
	ctx := context.Background()
	lb1, tg1 := taggedStack(t, c, "ui/web", "c1", "web-1", "web-1")
	lb2, tg2 := taggedStack(t, c, "ui/web", "c1", "web-2", "web-2")
	stale := &staleTagging{Client: tagging, first: map[string]*rgt.GetResourcesOutput{}}
	d := &deploy.Deployer{Client: c, Tagging: stale, ClusterName: "c1", Frontend: deploy.Frontend{StackTag: stackTag, ResourceTag: resourceTag}}
	if _, err := d.Find(ctx, "ui/web", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: &lb2}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: &tg2}); err != nil {
		t.Fatal(err)
	}
	actual, err := d.Find(ctx, "ui/web", nil)
	if err != nil {
		t.Fatal(err)
	}
	if actual.LoadBalancer == nil || actual.LoadBalancer.ARN != lb1 || len(actual.OtherLoadBalancers) != 0 {
		t.Errorf("load balancer %+v, others %v; want %s alone", actual.LoadBalancer, actual.OtherLoadBalancers, lb1)
	}
	if len(actual.TargetGroups) != 1 || actual.TargetGroups[0].ARN != tg1 {
		t.Errorf("target groups %+v, want %s alone", actual.TargetGroups, tg1)
	}
}
