package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	rgt "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	rgttypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"
	"github.com/google/go-cmp/cmp"
)

// TestTaggingAPI finds a kelb server's resources by their tags through
// the Resource Groups Tagging API on the server's one API address: with
// aws-sdk-go-v2's client (which speaks Smithy RPC v2 CBOR) and with the
// aws CLI (AWS JSON 1.1) pointed there by
// AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API alone.
func TestTaggingAPI(t *testing.T) {
	t.Parallel()
	s := startServer(t, newNet(), serverOptions{extraArgs: []string{"--vpc-id", testVpcID}})
	ctx := context.Background()
	const cluster, stack = "elbv2.k8s.aws/cluster", "service.k8s.aws/stack"
	tg := func(name, stackName string) string {
		out, err := s.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(name), Protocol: types.ProtocolEnumTcp,
			Port: aws.Int32(80), TargetType: types.TargetTypeEnumIp, VpcId: aws.String(testVpcID),
			Tags: []types.Tag{{Key: aws.String(cluster), Value: aws.String("c1")}, {Key: aws.String(stack), Value: aws.String(stackName)}}})
		if err != nil {
			t.Fatalf("CreateTargetGroup %s: %v", name, err)
		}
		return aws.ToString(out.TargetGroups[0].TargetGroupArn)
	}
	tgA, tgB := tg("tg-a", "ns/a"), tg("tg-b", "ns/b")
	lb, err := s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("lb-a"), Type: types.LoadBalancerTypeEnumNetwork,
		Scheme: types.LoadBalancerSchemeEnumInternal, Tags: []types.Tag{{Key: aws.String(cluster), Value: aws.String("c1")}, {Key: aws.String(stack), Value: aws.String("ns/a")}}})
	if err != nil {
		t.Fatal(err)
	}
	lbA := aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)
	sg, err := s.ec2Client().CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("k8s-ns-a"), Description: aws.String("frontend"),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup,
			Tags: []ec2types.Tag{{Key: aws.String(cluster), Value: aws.String("c1")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	sgARN := "arn:aws:ec2:" + region + ":" + "123456789012:security-group/" + aws.ToString(sg.GroupId)

	c := rgt.New(rgt.Options{Region: region, BaseEndpoint: aws.String(s.APIURL), Credentials: staticCredentials(keyID, secretKey), HTTPClient: s.httpClient()})
	find := func(in *rgt.GetResourcesInput) []string {
		t.Helper()
		var got []string
		for p := rgt.NewGetResourcesPaginator(c, in); p.HasMorePages(); {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("GetResources: %v", err)
			}
			for _, m := range out.ResourceTagMappingList {
				got = append(got, aws.ToString(m.ResourceARN))
			}
		}
		return got
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	if diff := cmp.Diff(sorted(tgA, lbA), find(&rgt.GetResourcesInput{
		TagFilters:          []rgttypes.TagFilter{{Key: aws.String(cluster), Values: []string{"c1"}}, {Key: aws.String(stack), Values: []string{"ns/a"}}},
		ResourceTypeFilters: []string{"elasticloadbalancing:loadbalancer", "elasticloadbalancing:targetgroup"}})); diff != "" {
		t.Errorf("stack ns/a (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(sorted(tgA, tgB, lbA, sgARN), find(&rgt.GetResourcesInput{ResourcesPerPage: aws.Int32(1),
		TagFilters: []rgttypes.TagFilter{{Key: aws.String(cluster)}}})); diff != "" {
		t.Errorf("cluster c1, one a page (-want +got):\n%s", diff)
	}

	// The aws CLI finds them through the environment alone.
	requireTools(t, "aws")
	out := s.shell(t, `aws resourcegroupstaggingapi get-resources --tag-filters Key=service.k8s.aws/stack,Values=ns/b --output json`,
		"AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API="+s.APIURL)
	var cli struct {
		ResourceTagMappingList []struct {
			ResourceARN string
			Tags        []struct{ Key, Value string }
		}
	}
	if err := json.Unmarshal([]byte(out), &cli); err != nil {
		t.Fatalf("aws resourcegroupstaggingapi get-resources: %v\n%s", err, out)
	}
	if len(cli.ResourceTagMappingList) != 1 || cli.ResourceTagMappingList[0].ResourceARN != tgB || len(cli.ResourceTagMappingList[0].Tags) != 2 {
		t.Errorf("aws resourcegroupstaggingapi get-resources = %s", out)
	}
	out = s.shell(t, `aws resourcegroupstaggingapi get-resources --resources-per-page 0 2>&1 && echo unexpected success || true`,
		"AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API="+s.APIURL)
	if !strings.Contains(out, "(InvalidParameterException) when calling the GetResources operation: ResourcesPerPage must be between 1 and 100") {
		t.Errorf("aws resourcegroupstaggingapi get-resources --resources-per-page 0:\n%s", out)
	}

	// The server counts the requests.
	resp, err := http.Get(s.Metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`kelb_tagging_api_requests_total{code="OK",operation="GetResources"}`,
		`kelb_tagging_api_requests_total{code="InvalidParameterException",operation="GetResources"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
