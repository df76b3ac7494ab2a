package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/google/go-cmp/cmp"
)

// Instances as the AWS Load Balancer Controller reads them: a node's
// spec.providerID names an EC2 instance; the controller registers instance
// targets by that id, reads the instance (DescribeInstances) to find the
// security group of its network interface, and matches pod IPs against
// the prefixes delegated to that interface.

const (
	instanceA = "i-0a1b2c3d4e5f60718"
	instanceB = "i-0b1b2c3d4e5f60718"
)

// TestConformanceInstances starts kelb server with two instances, one per
// zone, and checks DescribeInstances, DescribeNetworkInterfaces and the
// VPC's default security group against what EC2 answers.
func TestConformanceInstances(t *testing.T) {
	t.Parallel()
	tn := newNet()
	addrA, addrB := tn.backend("a", 1), tn.backend("b", 1)
	podsA := fmt.Sprintf("127.%d.0.64/28", tn.n)
	s := startServer(t, tn, serverOptions{extraArgs: []string{"--vpc-id", testVpcID,
		"--instance", instanceA + "=" + addrA + ",prefix=" + podsA, "--instance", instanceB + "=" + addrB}})
	c := s.ec2Client()
	ctx := context.Background()

	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{instanceA}})
	if err != nil {
		t.Fatalf("DescribeInstances: %v", err)
	}
	if len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
		t.Fatalf("DescribeInstances(%s) = %+v", instanceA, out.Reservations)
	}
	in := out.Reservations[0].Instances[0]
	groups, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{filter("group-name", "default")}})
	if err != nil || len(groups.SecurityGroups) != 1 {
		t.Fatalf("DescribeSecurityGroups(group-name=default) = %+v, %v", groups, err)
	}
	def := groups.SecurityGroups[0]
	if aws.ToString(def.VpcId) != testVpcID || len(def.IpPermissions) != 1 || len(def.IpPermissions[0].UserIdGroupPairs) != 1 ||
		aws.ToString(def.IpPermissions[0].UserIdGroupPairs[0].GroupId) != aws.ToString(def.GroupId) {
		t.Errorf("default group = %+v, want all traffic from itself", def)
	}
	type instance struct {
		ID, State, Zone, Address, VPC, Subnet string
		Groups                                []string
		ENIAddress, ENIGroup                  string
		Prefixes                              []string
	}
	got := instance{ID: aws.ToString(in.InstanceId), State: string(in.State.Name), Zone: aws.ToString(in.Placement.AvailabilityZone),
		Address: aws.ToString(in.PrivateIpAddress), VPC: aws.ToString(in.VpcId), Subnet: aws.ToString(in.SubnetId)}
	for _, g := range in.SecurityGroups {
		got.Groups = append(got.Groups, aws.ToString(g.GroupId))
	}
	if len(in.NetworkInterfaces) != 1 {
		t.Fatalf("instance interfaces = %+v, want one", in.NetworkInterfaces)
	}
	eni := in.NetworkInterfaces[0]
	got.ENIAddress = aws.ToString(eni.PrivateIpAddresses[0].PrivateIpAddress)
	got.ENIGroup = aws.ToString(eni.Groups[0].GroupId)
	for _, p := range eni.Ipv4Prefixes {
		got.Prefixes = append(got.Prefixes, aws.ToString(p.Ipv4Prefix))
	}
	subnets, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{filter("availability-zone", region+"a")}})
	if err != nil || len(subnets.Subnets) != 1 {
		t.Fatalf("DescribeSubnets(zone a) = %+v, %v", subnets, err)
	}
	want := instance{ID: instanceA, State: "running", Zone: region + "a", Address: addrA, VPC: testVpcID,
		Subnet: aws.ToString(subnets.Subnets[0].SubnetId), Groups: []string{aws.ToString(def.GroupId)},
		ENIAddress: addrA, ENIGroup: aws.ToString(def.GroupId), Prefixes: []string{podsA}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DescribeInstances(%s) (-want +got):\n%s", instanceA, diff)
	}

	all, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil || len(all.Reservations) != 2 {
		t.Errorf("DescribeInstances() = %+v, %v; want both instances", all, err)
	}
	byZone, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{filter("availability-zone", region+"b")}})
	if err != nil || len(byZone.Reservations) != 1 || aws.ToString(byZone.Reservations[0].Instances[0].InstanceId) != instanceB {
		t.Errorf("DescribeInstances(zone b) = %+v, %v", byZone, err)
	}
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0ffffffffffffffff"}})
	wantCode(t, "DescribeInstances of an unknown id", err, "InvalidInstanceID.NotFound")
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"node-1"}})
	wantCode(t, "DescribeInstances of a malformed id", err, "InvalidInstanceID.Malformed")

	// The controller's lookup of an ENI by private address.
	enis, err := c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []ec2types.Filter{
		filter("vpc-id", testVpcID), filter("addresses.private-ip-address", addrB)}})
	if err != nil || len(enis.NetworkInterfaces) != 1 || aws.ToString(enis.NetworkInterfaces[0].Attachment.InstanceId) != instanceB ||
		aws.ToString(enis.NetworkInterfaces[0].AvailabilityZone) != region+"b" {
		t.Errorf("DescribeNetworkInterfaces(addresses.private-ip-address=%s) = %+v, %v", addrB, enis, err)
	}
	byID, err := c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{aws.ToString(eni.NetworkInterfaceId)}})
	if err != nil || len(byID.NetworkInterfaces) != 1 || aws.ToString(byID.NetworkInterfaces[0].PrivateIpAddress) != addrA {
		t.Errorf("DescribeNetworkInterfaces(%s) = %+v, %v", aws.ToString(eni.NetworkInterfaceId), byID, err)
	}
	_, err = c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{"eni-0ffffffffffffffff"}})
	wantCode(t, "DescribeNetworkInterfaces of an unknown id", err, "InvalidNetworkInterfaceID.NotFound")

	// The default group takes rules, as the controller adds them for its
	// load balancers, and cannot be deleted.
	if _, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: def.GroupId,
		IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(30000), ToPort: aws.Int32(32767),
			IpRanges: []ec2types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}}}); err != nil {
		t.Errorf("AuthorizeSecurityGroupIngress on the default group: %v", err)
	}
	_, err = c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: def.GroupId})
	wantCode(t, "DeleteSecurityGroup of the default group", err, "CannotDelete")
	_, err = c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("default"), Description: aws.String("x")})
	wantCode(t, "CreateSecurityGroup named default", err, "InvalidParameterValue")
}

// TestConformanceInstanceTargets registers an instance target by its
// instance id: kelb health-checks and forwards to the instance's address,
// and DescribeTargetHealth reports the target by its id, in its zone; an
// id kelb does not know is refused as AWS refuses an instance that is not
// running.
func TestConformanceInstanceTargets(t *testing.T) {
	t.Parallel()
	tn := newNet()
	addr := tn.backend("b", 2)
	s := startServer(t, tn, serverOptions{extraArgs: []string{"--vpc-id", testVpcID, "--instance", instanceB + "=" + addr}})
	b := startHTTPBackend(t, "node-b", addr+":30080")
	ctx := context.Background()
	lb, err := s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("instance-nlb"),
		Type: types.LoadBalancerTypeEnumNetwork, Scheme: types.LoadBalancerSchemeEnumInternal})
	if err != nil {
		t.Fatalf("CreateLoadBalancer: %v", err)
	}
	tgOut, err := s.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("instance-tg"),
		Protocol: types.ProtocolEnumTcp, Port: aws.Int32(30080), TargetType: types.TargetTypeEnumInstance,
		VpcId: aws.String(testVpcID), HealthCheckIntervalSeconds: aws.Int32(5), HealthyThresholdCount: aws.Int32(2)})
	if err != nil {
		t.Fatalf("CreateTargetGroup: %v", err)
	}
	tg := aws.ToString(tgOut.TargetGroups[0].TargetGroupArn)
	_, err = s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(tg),
		Targets: []types.TargetDescription{{Id: aws.String("i-0ffffffffffffffff")}}})
	wantCode(t, "RegisterTargets of an unknown instance", err, "InvalidTarget")
	if _, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(tg),
		Targets: []types.TargetDescription{{Id: aws.String(instanceB)}}}); err != nil {
		t.Fatalf("RegisterTargets(%s): %v", instanceB, err)
	}
	if _, err := s.ELB.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn,
		Protocol: types.ProtocolEnumTcp, Port: aws.Int32(80),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}}}); err != nil {
		t.Fatalf("CreateListener: %v", err)
	}
	waitHealth(t, s, tg, instanceB+":30080", "healthy", 30*time.Second)
	h, err := s.ELB.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tg),
		Targets: []types.TargetDescription{{Id: aws.String(instanceB)}}})
	if err != nil || len(h.TargetHealthDescriptions) != 1 {
		t.Fatalf("DescribeTargetHealth(%s) = %+v, %v", instanceB, h, err)
	}
	d := h.TargetHealthDescriptions[0]
	if aws.ToString(d.Target.Id) != instanceB || aws.ToString(d.Target.AvailabilityZone) != region+"b" || d.TargetHealth.State != types.TargetHealthStateEnumHealthy {
		t.Errorf("DescribeTargetHealth(%s) = %s in %s, %s", instanceB, aws.ToString(d.Target.Id), aws.ToString(d.Target.AvailabilityZone), d.TargetHealth.State)
	}
	var addrB string
	for _, az := range lb.LoadBalancers[0].AvailabilityZones {
		if aws.ToString(az.ZoneName) == region+"b" {
			addrB = aws.ToString(az.LoadBalancerAddresses[0].IpAddress)
		}
	}
	if name, err := hostnameOf(newConnClient(), "http://"+addrB+":80/"); err != nil || name != b.Name {
		t.Errorf("request through the load balancer in zone b answered by %q, %v; want %s", name, err, b.Name)
	}
	if _, err := s.ELB.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(tg),
		Targets: []types.TargetDescription{{Id: aws.String(instanceB)}}}); err != nil {
		t.Fatalf("DeregisterTargets(%s): %v", instanceB, err)
	}
	waitHealth(t, s, tg, instanceB+":30080", "draining Target.DeregistrationInProgress", 10*time.Second)
}
