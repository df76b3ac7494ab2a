package taggingapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	rgt "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	"github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/schemas"
	rgttypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/elbapi"
	"github.com/kelb-io/kelb/internal/secgroup"
)

const (
	testKeyID  = "AKIDTAGGINGTEST"
	testSecret = "tagging-test-secret"
	region     = "us-west-2"
	account    = "123456789012"
)

// testAPI is the ELBv2 and tagging APIs of one service on one store,
// served over HTTP as kelb server routes them.
type testAPI struct {
	ELB    *elbv2.Client
	Tags   *rgt.Client
	Groups *secgroup.Groups
	URL    string
	vpcID  string
	// protocol sets the tagging client's protocol.
	protocol func(*rgt.Options)
}

// protocols are the client protocols of aws-sdk-go-v2's tagging client:
// its default (Smithy RPC v2 CBOR) and AWS JSON 1.1, which the aws CLI
// speaks.
var protocols = map[string]func(*rgt.Options){
	"rpc-v2-cbor": func(*rgt.Options) {},
	"json-1.1":    func(o *rgt.Options) { o.Protocol = awsjson.New11(schemas.ResourceGroupsTaggingAPI_20170126) },
}

func startAPI(t *testing.T, protocol func(*rgt.Options)) *testAPI {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "kelb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := elb.New(elb.Config{Store: st, Region: region, AccountID: account,
		VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.42.0.0/16")},
		Zones: []elb.Zone{{Name: "us-west-2a", SubnetID: "subnet-0a", Pool: netip.MustParsePrefix("198.19.1.0/24"),
			TargetCIDRs: []netip.Prefix{netip.MustParsePrefix("10.42.128.0/19")}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	a := &testAPI{Groups: secgroup.New(secgroup.Config{Store: st, VpcID: svc.VpcID(), AccountID: account}), vpcID: svc.VpcID(), protocol: protocol}
	creds := elbapi.StaticCredentials{testKeyID: testSecret}
	tagging := NewHandler(Config{Index: NewIndex(st, Sources(region, account)), Credentials: creds, Region: region})
	elbHandler := elbapi.NewHandler(elbapi.HandlerConfig{Ops: elbapi.Ops(svc), Credentials: creds, Region: region})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsTaggingRequest(r) {
			tagging.ServeHTTP(w, r)
			return
		}
		elbHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	cp := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}, nil
	})
	a.ELB = elbv2.New(elbv2.Options{Region: region, BaseEndpoint: aws.String(srv.URL), Credentials: cp, RetryMaxAttempts: 1})
	a.Tags = rgt.New(rgt.Options{Region: region, BaseEndpoint: aws.String(srv.URL), Credentials: cp, RetryMaxAttempts: 1}, protocol)
	return a
}

func elbTags(kv ...string) []elbtypes.Tag {
	var out []elbtypes.Tag
	for i := 0; i < len(kv); i += 2 {
		out = append(out, elbtypes.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}

func (a *testAPI) targetGroup(t *testing.T, name string, tags ...string) string {
	t.Helper()
	out, err := a.ELB.CreateTargetGroup(context.Background(), &elbv2.CreateTargetGroupInput{
		Name: aws.String(name), Protocol: elbtypes.ProtocolEnumTcp, Port: aws.Int32(80),
		TargetType: elbtypes.TargetTypeEnumIp, VpcId: aws.String(a.vpcID), Tags: elbTags(tags...),
	})
	if err != nil {
		t.Fatalf("CreateTargetGroup %s: %v", name, err)
	}
	return aws.ToString(out.TargetGroups[0].TargetGroupArn)
}

// getAll lists every resource of in with the SDK's paginator and counts
// the pages.
func (a *testAPI) getAll(t *testing.T, in *rgt.GetResourcesInput) (map[string][]string, []string, int) {
	t.Helper()
	tags := map[string][]string{}
	var order []string
	pages := 0
	p := rgt.NewGetResourcesPaginator(a.Tags, in)
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("GetResources %+v: %v", in, err)
		}
		pages++
		for _, m := range out.ResourceTagMappingList {
			arn := aws.ToString(m.ResourceARN)
			order = append(order, arn)
			for _, tg := range m.Tags {
				tags[arn] = append(tags[arn], aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
			}
		}
	}
	return tags, order, pages
}

func arns(tags map[string][]string) []string {
	var out []string
	for arn := range tags {
		out = append(out, arn)
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func filter(key string, values ...string) rgttypes.TagFilter {
	return rgttypes.TagFilter{Key: aws.String(key), Values: values}
}

// TestGetResources drives GetResources with aws-sdk-go-v2's client over
// HTTP: filters, resource types, ARN lists, pages, and the index
// following tag changes and deletions.
func TestGetResources(t *testing.T) {
	for name, protocol := range protocols {
		t.Run(name, func(t *testing.T) { testGetResources(t, startAPI(t, protocol)) })
	}
}

func testGetResources(t *testing.T, a *testAPI) {
	ctx := context.Background()
	const cluster, stack = "elbv2.k8s.aws/cluster", "service.k8s.aws/stack"
	tgA := a.targetGroup(t, "tg-a", cluster, "c1", stack, "ns/a")
	tgB := a.targetGroup(t, "tg-b", cluster, "c1", stack, "ns/b")
	tgC := a.targetGroup(t, "tg-c", cluster, "c2", stack, "ns/a")
	tgD := a.targetGroup(t, "tg-d", "team", "")
	a.targetGroup(t, "tg-untagged")
	lb, err := a.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("lb-a"),
		Type: elbtypes.LoadBalancerTypeEnumNetwork, Scheme: elbtypes.LoadBalancerSchemeEnumInternal, Tags: elbTags(cluster, "c1", stack, "ns/a")})
	if err != nil {
		t.Fatal(err)
	}
	lbA := aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)
	l, err := a.ELB.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(lbA), Protocol: elbtypes.ProtocolEnumTcp,
		Port: aws.Int32(80), DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(tgA)}},
		Tags: elbTags(cluster, "c1")})
	if err != nil {
		t.Fatal(err)
	}
	listener := aws.ToString(l.Listeners[0].ListenerArn)
	sg, err := a.Groups.Create(ctx, secgroup.CreateInput{Name: "k8s-ns-a", Description: "frontend", Tags: []secgroup.Tag{{Key: cluster, Value: "c1"}}})
	if err != nil {
		t.Fatal(err)
	}
	sgARN := "arn:aws:ec2:" + region + ":" + account + ":security-group/" + sg.ID

	for _, c := range []struct {
		name string
		in   rgt.GetResourcesInput
		want []string
	}{
		{"everything tagged", rgt.GetResourcesInput{}, sorted(tgA, tgB, tgC, tgD, lbA, listener, sgARN)},
		{"one value", rgt.GetResourcesInput{TagFilters: []rgttypes.TagFilter{filter(cluster, "c1")}}, sorted(tgA, tgB, lbA, listener, sgARN)},
		{"AND across filters", rgt.GetResourcesInput{TagFilters: []rgttypes.TagFilter{filter(cluster, "c1"), filter(stack, "ns/a")}}, sorted(tgA, lbA)},
		{"OR within values", rgt.GetResourcesInput{TagFilters: []rgttypes.TagFilter{filter(stack, "ns/a", "ns/b")}}, sorted(tgA, tgB, tgC, lbA)},
		{"key only", rgt.GetResourcesInput{TagFilters: []rgttypes.TagFilter{filter(stack)}}, sorted(tgA, tgB, tgC, lbA)},
		{"empty value", rgt.GetResourcesInput{TagFilters: []rgttypes.TagFilter{filter("team", "")}}, []string{tgD}},
		{"no match", rgt.GetResourcesInput{TagFilters: []rgttypes.TagFilter{filter(cluster, "c1"), filter("team")}}, nil},
		{"target groups", rgt.GetResourcesInput{TagFilters: []rgttypes.TagFilter{filter(cluster, "c1")},
			ResourceTypeFilters: []string{"elasticloadbalancing:targetgroup"}}, sorted(tgA, tgB)},
		{"load balancers", rgt.GetResourcesInput{ResourceTypeFilters: []string{"elasticloadbalancing:loadbalancer"}}, []string{lbA}},
		{"listeners and security groups", rgt.GetResourcesInput{ResourceTypeFilters: []string{"elasticloadbalancing:listener", "ec2:security-group"}},
			sorted(listener, sgARN)},
		{"a service", rgt.GetResourcesInput{ResourceTypeFilters: []string{"elasticloadbalancing"}, TagFilters: []rgttypes.TagFilter{filter(cluster, "c1")}},
			sorted(tgA, tgB, lbA, listener)},
		{"a service kelb has none of", rgt.GetResourcesInput{ResourceTypeFilters: []string{"s3"}}, nil},
	} {
		tags, order, _ := a.getAll(t, &c.in)
		if diff := cmp.Diff(c.want, order); diff != "" {
			t.Errorf("%s: ARNs (-want +got):\n%s", c.name, diff)
		}
		_ = tags
	}

	// Tags come back whole, in the order they were given.
	tags, _, _ := a.getAll(t, &rgt.GetResourcesInput{ResourceARNList: []string{lbA}})
	if diff := cmp.Diff(map[string][]string{lbA: {cluster + "=c1", stack + "=ns/a"}}, tags); diff != "" {
		t.Errorf("tags of the load balancer (-want +got):\n%s", diff)
	}
	// An ARN list answers in its order, once each, without the unknown
	// and the untagged.
	unknown := "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/gone/0123456789abcdef"
	_, order, _ := a.getAll(t, &rgt.GetResourcesInput{ResourceARNList: []string{tgC, unknown, tgA, tgC}})
	if diff := cmp.Diff([]string{tgC, tgA}, order); diff != "" {
		t.Errorf("ResourceARNList (-want +got):\n%s", diff)
	}

	// Pages: 7 resources, 2 a page, none twice, none lost.
	_, order, pages := a.getAll(t, &rgt.GetResourcesInput{ResourcesPerPage: aws.Int32(2)})
	if pages != 4 || !slices.Equal(order, sorted(tgA, tgB, tgC, tgD, lbA, listener, sgARN)) {
		t.Errorf("2 a page: %d pages of %v", pages, order)
	}
	_, order, pages = a.getAll(t, &rgt.GetResourcesInput{ResourcesPerPage: aws.Int32(7)})
	if pages != 1 || len(order) != 7 {
		t.Errorf("7 a page: %d pages of %v", pages, order)
	}
	// TagsPerPage 100 over resources of 50 tags: two a page.
	var fifty []string
	for i := range 49 {
		fifty = append(fifty, fmt.Sprintf("k%02d", i), "v")
	}
	for i := range 3 {
		a.targetGroup(t, fmt.Sprintf("tg-fifty-%d", i), append(slices.Clone(fifty), "fifty", "yes")...)
	}
	_, order, pages = a.getAll(t, &rgt.GetResourcesInput{TagsPerPage: aws.Int32(100), TagFilters: []rgttypes.TagFilter{filter("fifty")}})
	if pages != 2 || len(order) != 3 {
		t.Errorf("TagsPerPage 100 over 3 resources of 50 tags: %d pages of %v", pages, order)
	}

	// The index follows changes: tags removed, added, resources deleted.
	if _, err := a.ELB.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: []string{tgA}, TagKeys: []string{stack}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ELB.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{tgC}, Tags: elbTags(cluster, "c1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ELB.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(tgB)}); err != nil {
		t.Fatal(err)
	}
	_, order, _ = a.getAll(t, &rgt.GetResourcesInput{TagFilters: []rgttypes.TagFilter{filter(cluster, "c1"), filter(stack)}})
	if diff := cmp.Diff(sorted(tgC, lbA), order); diff != "" {
		t.Errorf("after changes (-want +got):\n%s", diff)
	}

	// Compliance: kelb has no tag policies.
	out, err := a.Tags.GetResources(ctx, &rgt.GetResourcesInput{IncludeComplianceDetails: aws.Bool(true), ResourceTypeFilters: []string{"elasticloadbalancing:loadbalancer"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ResourceTagMappingList) != 1 || !aws.ToBool(out.ResourceTagMappingList[0].ComplianceDetails.ComplianceStatus) {
		t.Errorf("IncludeComplianceDetails: %+v", out.ResourceTagMappingList)
	}
	out, err = a.Tags.GetResources(ctx, &rgt.GetResourcesInput{IncludeComplianceDetails: aws.Bool(true), ExcludeCompliantResources: aws.Bool(true)})
	if err != nil || len(out.ResourceTagMappingList) != 0 {
		t.Errorf("ExcludeCompliantResources: %v, %+v", err, out)
	}

	keys, err := a.Tags.GetTagKeys(ctx, &rgt.GetTagKeysInput{})
	if err != nil || !slices.Contains(keys.TagKeys, cluster) || !slices.Contains(keys.TagKeys, "team") || slices.Contains(keys.TagKeys, "") {
		t.Errorf("GetTagKeys = %v, %v", keys, err)
	}
	values, err := a.Tags.GetTagValues(ctx, &rgt.GetTagValuesInput{Key: aws.String(cluster)})
	if err != nil || !slices.Equal(values.TagValues, []string{"c1"}) {
		t.Errorf("GetTagValues(%s) = %v, %v", cluster, values, err)
	}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestGetResourcesErrors checks the InvalidParameterException of every
// bad request, the pagination token's checks, and authentication.
func TestGetResourcesErrors(t *testing.T) {
	for name, protocol := range protocols {
		t.Run(name, func(t *testing.T) { testGetResourcesErrors(t, startAPI(t, protocol)) })
	}
}

func testGetResourcesErrors(t *testing.T, a *testAPI) {
	ctx := context.Background()
	for i := range 3 {
		a.targetGroup(t, fmt.Sprintf("tg-%d", i), "k", "v")
	}
	tooManyFilters := make([]rgttypes.TagFilter, 51)
	for i := range tooManyFilters {
		tooManyFilters[i] = filter(fmt.Sprint("k", i))
	}
	tooManyValues := filter("k")
	for i := range 21 {
		tooManyValues.Values = append(tooManyValues.Values, fmt.Sprint(i))
	}
	arn := "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/tg-0/0123456789abcdef"
	const invalid = "InvalidParameterException: "
	for _, c := range []struct {
		name string
		in   rgt.GetResourcesInput
		want string
	}{
		{"ResourcesPerPage 0", rgt.GetResourcesInput{ResourcesPerPage: aws.Int32(0)}, invalid + "ResourcesPerPage must be between 1 and 100; it is 0."},
		{"ResourcesPerPage 101", rgt.GetResourcesInput{ResourcesPerPage: aws.Int32(101)}, invalid + "ResourcesPerPage must be between 1 and 100; it is 101."},
		{"TagsPerPage 99", rgt.GetResourcesInput{TagsPerPage: aws.Int32(99)}, invalid + "TagsPerPage must be between 100 and 500; it is 99."},
		{"ARNs and filters", rgt.GetResourcesInput{ResourceARNList: []string{arn}, TagFilters: []rgttypes.TagFilter{filter("k")}},
			invalid + "You can't specify both ResourceARNList and TagFilters in the same request."},
		{"ARNs and types", rgt.GetResourcesInput{ResourceARNList: []string{arn}, ResourceTypeFilters: []string{"ec2"}},
			invalid + "You can't specify both ResourceARNList and ResourceTypeFilters in the same request."},
		{"ARNs and pages", rgt.GetResourcesInput{ResourceARNList: []string{arn}, ResourcesPerPage: aws.Int32(5)},
			invalid + "You can't specify both ResourceARNList and any of the pagination parameters (ResourcesPerPage, TagsPerPage, PaginationToken) in the same request."},
		{"not an ARN", rgt.GetResourcesInput{ResourceARNList: []string{"tg-0"}}, invalid + "tg-0 is not a valid AmazonResourceName (ARN)"},
		{"101 ARNs", rgt.GetResourcesInput{ResourceARNList: slices.Repeat([]string{arn}, 101)}, invalid + "ResourceARNList must have between 1 and 100 ARNs; it has 101."},
		{"51 filters", rgt.GetResourcesInput{TagFilters: tooManyFilters}, invalid + "TagFilters can include up to 50 filters; the request has 51."},
		{"21 values", rgt.GetResourcesInput{TagFilters: []rgttypes.TagFilter{tooManyValues}}, invalid + "TagFilters[0] (Key k) can include up to 20 values; it has 21."},
		{"no key", rgt.GetResourcesInput{TagFilters: []rgttypes.TagFilter{{Values: []string{"v"}}}}, invalid + "TagFilters[0].Key must be between 1 and 128 characters long."},
		{"bad type", rgt.GetResourcesInput{ResourceTypeFilters: []string{"Elastic Load Balancing"}},
			invalid + `Unsupported resource type "Elastic Load Balancing": a resource type filter is service or service:resource-type, as in the resource's ARN (elasticloadbalancing:loadbalancer, ec2:security-group).`},
		{"exclude without include", rgt.GetResourcesInput{ExcludeCompliantResources: aws.Bool(true)},
			invalid + "ExcludeCompliantResources can be used only if IncludeComplianceDetails is true."},
		{"garbage token", rgt.GetResourcesInput{PaginationToken: aws.String("xyz")},
			invalid + `The PaginationToken "xyz" is not valid: pass the PaginationToken of the previous page unchanged.`},
	} {
		_, err := a.Tags.GetResources(ctx, &c.in)
		if got := apiCode(err); got != c.want {
			t.Errorf("%s: got %s\nwant %s", c.name, got, c.want)
		}
	}

	// A token continues its own query only, and for 15 minutes.
	first, err := a.Tags.GetResources(ctx, &rgt.GetResourcesInput{ResourcesPerPage: aws.Int32(1), TagFilters: []rgttypes.TagFilter{filter("k")}})
	if err != nil || aws.ToString(first.PaginationToken) == "" {
		t.Fatalf("first page: %v, %+v", err, first)
	}
	_, err = a.Tags.GetResources(ctx, &rgt.GetResourcesInput{PaginationToken: first.PaginationToken, ResourcesPerPage: aws.Int32(1)})
	if got, want := apiCode(err), invalid+"The PaginationToken was issued for another query: repeat the request with the parameters of the page it came from."; got != want {
		t.Errorf("token of another query: %s", got)
	}
	// A token of the same query issued 16 minutes ago has expired.
	past := &handler{cfg: Config{Now: func() time.Time { return time.Now().Add(-TokenLifetime - time.Minute) }}}
	old := past.newToken(aws.ToString(first.ResourceTagMappingList[0].ResourceARN),
		queryDigest("GetResources", Query{TagFilters: []TagFilter{{Key: "k", Values: []string{}}}}))
	_, err = a.Tags.GetResources(ctx, &rgt.GetResourcesInput{PaginationToken: aws.String(old), ResourcesPerPage: aws.Int32(1),
		TagFilters: []rgttypes.TagFilter{filter("k")}})
	var expired *rgttypes.PaginationTokenExpiredException
	if !errors.As(err, &expired) {
		t.Errorf("token after 16 minutes: %s, want PaginationTokenExpiredException", apiCode(err))
	}

	// Authentication comes first.
	bad := rgt.New(rgt.Options{Region: region, BaseEndpoint: aws.String(a.URL), RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: "wrong"}, nil
		})}, a.protocol)
	_, err = bad.GetResources(ctx, &rgt.GetResourcesInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidSignatureException" {
		t.Errorf("wrong secret: %v, want InvalidSignatureException", err)
	}
	_, err = a.Tags.TagResources(ctx, &rgt.TagResourcesInput{ResourceARNList: []string{arn}, Tags: map[string]string{"a": "b"}})
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnknownOperationException" {
		t.Errorf("TagResources: %v, want UnknownOperationException", err)
	}
}
