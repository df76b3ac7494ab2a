package server_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const testVpcID = "vpc-0123456789abcdef0"

// ec2Client is aws-sdk-go-v2's EC2 client pointed at s.
func (s *kelbServer) ec2Client() *ec2.Client {
	return ec2.New(ec2.Options{
		Region:       region,
		BaseEndpoint: aws.String(s.APIURL),
		Credentials:  staticCredentials(keyID, secretKey),
		HTTPClient:   s.httpClient(),
	})
}

// apiCode is the API error code of err, or "" (with the error) when it
// is not an API error.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := apiCode(err); got != code {
		t.Errorf("%s: error %s, want %s", what, got, code)
	}
}

func filter(name string, values ...string) ec2types.Filter {
	return ec2types.Filter{Name: aws.String(name), Values: values}
}

// TestEC2API drives the EC2 API of a real kelb server with aws-sdk-go-v2:
// the VPC and subnets the Load Balancer Controller discovers, security
// groups with their rules and tags, and the errors AWS gives.
func TestEC2API(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{extraArgs: []string{"--vpc-id", testVpcID, "--vpc-cidr", "10.20.0.0/16"}})
	c := s.ec2Client()
	ctx := context.Background()

	vpcs, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{testVpcID}})
	if err != nil {
		t.Fatalf("DescribeVpcs: %v", err)
	}
	if len(vpcs.Vpcs) != 1 || aws.ToString(vpcs.Vpcs[0].VpcId) != testVpcID || aws.ToString(vpcs.Vpcs[0].CidrBlock) != "127.0.0.0/8" {
		t.Fatalf("DescribeVpcs = %+v", vpcs.Vpcs)
	}
	var cidrs []string
	for _, a := range vpcs.Vpcs[0].CidrBlockAssociationSet {
		cidrs = append(cidrs, aws.ToString(a.CidrBlock))
	}
	if diff := cmp.Diff([]string{"127.0.0.0/8", "10.20.0.0/16"}, cidrs); diff != "" {
		t.Errorf("VPC CIDRs (-want +got):\n%s", diff)
	}
	_, err = c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{"vpc-0000000000000000f"}})
	wantCode(t, "DescribeVpcs of another VPC", err, "InvalidVpcID.NotFound")

	// The Load Balancer Controller's subnet discovery.
	subnets, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{
		filter("vpc-id", testVpcID), filter("tag:kubernetes.io/role/elb", "", "1")}})
	if err != nil {
		t.Fatalf("DescribeSubnets: %v", err)
	}
	type subnet struct{ ID, Zone, CIDR, VPC string }
	var got []subnet
	for _, sn := range subnets.Subnets {
		got = append(got, subnet{aws.ToString(sn.SubnetId), aws.ToString(sn.AvailabilityZone), aws.ToString(sn.CidrBlock), aws.ToString(sn.VpcId)})
		tags := map[string]string{}
		for _, tg := range sn.Tags {
			tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
		}
		if tags["kubernetes.io/role/elb"] != "1" || tags["kubernetes.io/role/internal-elb"] != "1" {
			t.Errorf("subnet %s tags = %v", aws.ToString(sn.SubnetId), tags)
		}
		if n := aws.ToInt32(sn.AvailableIpAddressCount); n < 8 {
			t.Errorf("subnet %s has %d free addresses", aws.ToString(sn.SubnetId), n)
		}
	}
	slices.SortFunc(got, func(a, b subnet) int { return strings.Compare(a.Zone, b.Zone) })
	if len(got) != 2 || got[0].Zone != region+"a" || got[0].CIDR != fmt.Sprintf("127.%d.1.0/24", tn.n) ||
		got[1].Zone != region+"b" || got[1].CIDR != fmt.Sprintf("127.%d.2.0/24", tn.n) || got[0].VPC != testVpcID || !strings.HasPrefix(got[0].ID, "subnet-") {
		t.Fatalf("subnets = %+v", got)
	}
	one, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{filter("availability-zone", region+"b")}})
	if err != nil || len(one.Subnets) != 1 || aws.ToString(one.Subnets[0].SubnetId) != got[1].ID {
		t.Errorf("DescribeSubnets in zone b = %+v, %v", one, err)
	}
	byID, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{got[0].ID}})
	if err != nil || len(byID.Subnets) != 1 || aws.ToString(byID.Subnets[0].AvailabilityZone) != region+"a" {
		t.Errorf("DescribeSubnets by id = %+v, %v", byID, err)
	}
	none, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{filter("tag:kubernetes.io/cluster/other", "owned")}})
	if err != nil || len(none.Subnets) != 0 {
		t.Errorf("DescribeSubnets tagged for another cluster = %+v, %v", none, err)
	}
	_, err = c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{"subnet-00000000000000000"}})
	wantCode(t, "DescribeSubnets of an unknown subnet", err, "InvalidSubnetID.NotFound")
	_, err = c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{filter("no-such-filter", "x")}})
	wantCode(t, "DescribeSubnets with an unknown filter", err, "InvalidParameterValue")

	azs, err := c.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{})
	if err != nil || len(azs.AvailabilityZones) != 2 || aws.ToString(azs.AvailabilityZones[1].ZoneName) != region+"b" ||
		azs.AvailabilityZones[1].State != ec2types.AvailabilityZoneStateAvailable || aws.ToString(azs.AvailabilityZones[1].ZoneId) != "usw2-az2" {
		t.Errorf("DescribeAvailabilityZones = %+v, %v", azs, err)
	}

	// Security groups.
	created, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("web"), Description: aws.String("web clients"), VpcId: aws.String(testVpcID),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup,
			Tags: []ec2types.Tag{{Key: aws.String("elbv2.k8s.aws/cluster"), Value: aws.String("demo")}}}},
	})
	if err != nil {
		t.Fatalf("CreateSecurityGroup: %v", err)
	}
	sg := aws.ToString(created.GroupId)
	if !strings.HasPrefix(sg, "sg-") || len(sg) != len("sg-")+17 {
		t.Errorf("group id %q", sg)
	}
	_, err = c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("again")})
	wantCode(t, "CreateSecurityGroup of an existing name", err, "InvalidGroup.Duplicate")
	_, err = c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("x"), Description: aws.String("x"), VpcId: aws.String("vpc-0000000000000000f")})
	wantCode(t, "CreateSecurityGroup in another VPC", err, "InvalidVpcID.NotFound")

	http := ec2types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(80), ToPort: aws.Int32(80),
		IpRanges:   []ec2types.IpRange{{CidrIp: aws.String("10.0.0.0/8"), Description: aws.String("office")}, {CidrIp: aws.String("192.168.1.7/32")}},
		Ipv6Ranges: []ec2types.Ipv6Range{{CidrIpv6: aws.String("2001:db8::/32")}}}
	auth, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(sg), IpPermissions: []ec2types.IpPermission{http}})
	if err != nil {
		t.Fatalf("AuthorizeSecurityGroupIngress: %v", err)
	}
	if !aws.ToBool(auth.Return) || len(auth.SecurityGroupRules) != 3 || !strings.HasPrefix(aws.ToString(auth.SecurityGroupRules[0].SecurityGroupRuleId), "sgr-") {
		t.Errorf("AuthorizeSecurityGroupIngress = %+v", auth)
	}
	_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(sg), IpPermissions: []ec2types.IpPermission{{
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(80), ToPort: aws.Int32(80), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}}})
	wantCode(t, "AuthorizeSecurityGroupIngress of an existing rule", err, "InvalidPermission.Duplicate")
	_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String("sg-0000000000000000f"), IpPermissions: []ec2types.IpPermission{http}})
	wantCode(t, "AuthorizeSecurityGroupIngress of an unknown group", err, "InvalidGroup.NotFound")
	_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(sg), IpPermissions: []ec2types.IpPermission{{
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(90), ToPort: aws.Int32(80), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}}})
	wantCode(t, "AuthorizeSecurityGroupIngress of ports 90-80", err, "InvalidParameterValue")
	if _, err := c.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String(sg), IpPermissions: []ec2types.IpPermission{{
		IpProtocol: aws.String("udp"), FromPort: aws.Int32(53), ToPort: aws.Int32(53), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("10.0.0.2/32")}}}}}); err != nil {
		t.Errorf("AuthorizeSecurityGroupEgress: %v", err)
	}

	described, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		filter("tag:elbv2.k8s.aws/cluster", "demo"), filter("vpc-id", testVpcID)}})
	if err != nil || len(described.SecurityGroups) != 1 {
		t.Fatalf("DescribeSecurityGroups by tag = %+v, %v", described, err)
	}
	g := described.SecurityGroups[0]
	if aws.ToString(g.GroupId) != sg || aws.ToString(g.GroupName) != "web" || aws.ToString(g.Description) != "web clients" || aws.ToString(g.VpcId) != testVpcID {
		t.Errorf("group = %+v", g)
	}
	ignore := cmpopts.IgnoreUnexported(ec2types.IpPermission{}, ec2types.IpRange{}, ec2types.Ipv6Range{})
	if diff := cmp.Diff([]ec2types.IpPermission{http}, g.IpPermissions, ignore, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("ingress (-want +got):\n%s", diff)
	}
	wantEgress := []ec2types.IpPermission{
		{IpProtocol: aws.String("-1"), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}},
		{IpProtocol: aws.String("udp"), FromPort: aws.Int32(53), ToPort: aws.Int32(53), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("10.0.0.2/32")}}},
	}
	if diff := cmp.Diff(wantEgress, g.IpPermissionsEgress, ignore, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("egress (-want +got):\n%s", diff)
	}
	byCIDR, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{filter("ip-permission.cidr", "10.*")}})
	if err != nil || len(byCIDR.SecurityGroups) != 1 {
		t.Errorf("DescribeSecurityGroups by rule CIDR = %+v, %v", byCIDR, err)
	}
	_, err = c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-0000000000000000f"}})
	wantCode(t, "DescribeSecurityGroups of an unknown id", err, "InvalidGroup.NotFound")
	_, err = c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"web"}})
	wantCode(t, "DescribeSecurityGroups of a malformed id", err, "InvalidGroupId.Malformed")

	if _, err := c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(sg), IpPermissions: []ec2types.IpPermission{{
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(80), ToPort: aws.Int32(80), Ipv6Ranges: []ec2types.Ipv6Range{{CidrIpv6: aws.String("2001:db8::/32")}}}}}); err != nil {
		t.Errorf("RevokeSecurityGroupIngress: %v", err)
	}
	_, err = c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(sg), IpPermissions: []ec2types.IpPermission{{
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(80), ToPort: aws.Int32(80), Ipv6Ranges: []ec2types.Ipv6Range{{CidrIpv6: aws.String("2001:db8::/32")}}}}})
	wantCode(t, "RevokeSecurityGroupIngress of a revoked rule", err, "InvalidPermission.NotFound")
	dnsEgress := []ec2types.IpPermission{{IpProtocol: aws.String("udp"), FromPort: aws.Int32(53), ToPort: aws.Int32(53),
		IpRanges: []ec2types.IpRange{{CidrIp: aws.String("10.0.0.2/32")}}}}
	if _, err := c.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: aws.String(sg), IpPermissions: dnsEgress}); err != nil {
		t.Errorf("RevokeSecurityGroupEgress: %v", err)
	}
	_, err = c.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: aws.String(sg), IpPermissions: dnsEgress})
	wantCode(t, "RevokeSecurityGroupEgress of a revoked rule", err, "InvalidPermission.NotFound")

	// Tags.
	if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{sg}, Tags: []ec2types.Tag{
		{Key: aws.String("team"), Value: aws.String("a")}, {Key: aws.String("env"), Value: aws.String("test")}}}); err != nil {
		t.Fatalf("CreateTags: %v", err)
	}
	if _, err := c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{sg}, Tags: []ec2types.Tag{
		{Key: aws.String("env"), Value: aws.String("prod")}, {Key: aws.String("team")}}}); err != nil {
		t.Fatalf("DeleteTags: %v", err)
	}
	tags, err := c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []ec2types.Filter{filter("resource-id", sg)}})
	if err != nil {
		t.Fatalf("DescribeTags: %v", err)
	}
	gotTags := map[string]string{}
	for _, td := range tags.Tags {
		gotTags[aws.ToString(td.Key)] = aws.ToString(td.Value)
		if td.ResourceType != ec2types.ResourceTypeSecurityGroup {
			t.Errorf("tag %+v: resource type %q", td, td.ResourceType)
		}
	}
	// env=test stays: DeleteTags named another value.
	if diff := cmp.Diff(map[string]string{"elbv2.k8s.aws/cluster": "demo", "env": "test"}, gotTags); diff != "" {
		t.Errorf("tags after DeleteTags (-want +got):\n%s", diff)
	}
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"sg-0000000000000000f"}, Tags: []ec2types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	wantCode(t, "CreateTags on an unknown group", err, "InvalidGroup.NotFound")
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{sg}, Tags: []ec2types.Tag{{Key: aws.String("aws:x"), Value: aws.String("v")}}})
	wantCode(t, "CreateTags with an aws: key", err, "InvalidParameterValue")

	// A group a load balancer uses cannot be deleted; an unknown group
	// cannot be given to a load balancer.
	_, err = s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("bad-groups"), Type: types.LoadBalancerTypeEnumNetwork,
		SecurityGroups: []string{"sg-0000000000000000f"}})
	wantCode(t, "CreateLoadBalancer with an unknown group", err, "InvalidSecurityGroup")
	lb, err := s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("grouped"), Type: types.LoadBalancerTypeEnumNetwork,
		SecurityGroups: []string{sg}})
	if err != nil {
		t.Fatalf("CreateLoadBalancer with group %s: %v", sg, err)
	}
	_, err = c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(sg)})
	wantCode(t, "DeleteSecurityGroup in use", err, "DependencyViolation")
	if _, err := s.ELB.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupName: aws.String("web")}); err != nil {
		t.Fatalf("DeleteSecurityGroup after its load balancer: %v", err)
	}
	_, err = c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{sg}})
	wantCode(t, "DescribeSecurityGroups of a deleted group", err, "InvalidGroup.NotFound")

	// A wrong secret is refused as EC2 refuses it.
	bad := ec2.New(ec2.Options{Region: region, BaseEndpoint: aws.String(s.APIURL), Credentials: staticCredentials(keyID, "wrong"), RetryMaxAttempts: 1})
	_, err = bad.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	wantCode(t, "DescribeVpcs with a wrong secret", err, "AuthFailure")
}

// TestEC2AWSCLI runs the aws CLI's ec2 commands against kelb server.
func TestEC2AWSCLI(t *testing.T) {
	t.Parallel()
	requireTools(t, "aws", "jq")
	tn := newNet()
	s := startServer(t, tn, serverOptions{extraArgs: []string{"--vpc-id", testVpcID}})
	out := s.shell(t, `
e="--endpoint-url `+s.APIURL+`"
aws ec2 describe-subnets $e --filters Name=tag:kubernetes.io/role/elb,Values=1 Name=vpc-id,Values=`+testVpcID+` \
  --query 'sort_by(Subnets,&AvailabilityZone)[].[AvailabilityZone,CidrBlock]' --output text
sg=$(aws ec2 create-security-group $e --group-name cli --description "from the CLI" --vpc-id `+testVpcID+` --query GroupId --output text)
aws ec2 authorize-security-group-ingress $e --group-id "$sg" --protocol tcp --port 8080 --cidr 10.1.0.0/16 >/dev/null
aws ec2 create-tags $e --resources "$sg" --tags Key=owner,Value=cli
aws ec2 describe-security-groups $e --filters Name=group-name,Values=cli \
  | jq -r '.SecurityGroups[] | [.GroupName, (.IpPermissions[] | .IpProtocol, (.FromPort|tostring), .IpRanges[0].CidrIp), (.Tags[] | .Key + "=" + .Value)] | join(" ")'
aws ec2 delete-security-group $e --group-id "$sg" >/dev/null
aws ec2 describe-security-groups $e --group-ids "$sg" 2>&1 >/dev/null | grep -o InvalidGroup.NotFound || true
`)
	want := fmt.Sprintf("%sa\t127.%d.1.0/24\n%sb\t127.%d.2.0/24\ncli tcp 8080 10.1.0.0/16 owner=cli\nInvalidGroup.NotFound\n", region, tn.n, region, tn.n)
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("aws ec2 output (-want +got):\n%s", diff)
	}
}
