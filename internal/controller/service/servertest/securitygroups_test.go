package servertest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/service"
	"github.com/kelb-io/kelb/internal/ec2api"
	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/elbapi"
	"github.com/kelb-io/kelb/internal/secgroup"
)

// serverWithEC2 is kelb server's API (ELBv2 and EC2 on one address, told
// apart by the signature's service, as kelb server serves them) over a
// fresh store; configure, if given, changes the server's configuration.
func serverWithEC2(t *testing.T, configure ...func(*elb.Config)) (*elbv2.Client, *ec2.Client) {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "kelb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := elb.Config{
		Store:    st,
		VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15")},
		Zones:    []elb.Zone{{Name: "us-west-2a", SubnetID: "subnet-a", Pool: netip.MustParsePrefix("198.19.1.0/24")}},
	}
	for _, f := range configure {
		f(&cfg)
	}
	svc, err := elb.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	creds := elbapi.StaticCredentials{keyID: secret}
	elbHandler := elbapi.NewHandler(elbapi.HandlerConfig{Ops: elbapi.Ops(svc), Credentials: creds, Region: svc.Region()})
	groups := secgroup.New(secgroup.Config{Store: st, VpcID: svc.VpcID(), AccountID: svc.AccountID(), InUse: elb.SecurityGroupUsers})
	ec2Handler := ec2api.NewHandler(ec2api.Config{ELB: svc, Groups: groups, Credentials: creds})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ec2api.IsEC2Request(r) {
			ec2Handler.ServeHTTP(w, r)
			return
		}
		elbHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	provider := credentials.NewStaticCredentialsProvider(keyID, secret, "")
	return elbv2.New(elbv2.Options{Region: svc.Region(), BaseEndpoint: aws.String(srv.URL), Credentials: provider}),
		ec2.New(ec2.Options{Region: svc.Region(), BaseEndpoint: aws.String(srv.URL), Credentials: provider})
}

// The security-groups annotation names groups by ID, Name tag or group
// name; the load balancer is made with them and follows a change; a group
// that does not exist fails the deploy naming the annotation and the
// group, and changes nothing.
func TestSecurityGroupsAnnotation(t *testing.T) {
	ctx := context.Background()
	elbClient, ec2Client := serverWithEC2(t)
	group := func(name string, tags ...ec2types.Tag) string {
		t.Helper()
		in := &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String("kelb test")}
		if len(tags) > 0 {
			in.TagSpecifications = []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: tags}}
		}
		out, err := ec2Client.CreateSecurityGroup(ctx, in)
		if err != nil {
			t.Fatalf("create security group %s: %v", name, err)
		}
		return aws.ToString(out.GroupId)
	}
	office := group("office-sg", ec2types.Tag{Key: aws.String("Name"), Value: aws.String("office")})
	vpn := group("vpn")
	monitor := group("monitor")

	d := &deploy.Deployer{Client: elbClient, EC2: ec2Client, ClusterName: opts.ClusterName, Frontend: service.Frontend}
	groupsOf := func(arn string) []string {
		t.Helper()
		out, err := elbClient.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{arn}})
		if err != nil {
			t.Fatal(err)
		}
		g := slices.Clone(out.LoadBalancers[0].SecurityGroups)
		slices.Sort(g)
		return g
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }

	// By Name tag ("office") and by group name ("vpn").
	svc := testService(func(s *corev1.Service) { s.Annotations[service.AnnotationSecurityGroups] = "office, vpn" })
	res, err := d.Deploy(ctx, build(t, svc))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := groupsOf(res.LoadBalancerARN), sorted(office, vpn); !slices.Equal(got, want) {
		t.Errorf("groups = %v, want %v", got, want)
	}

	// A change of the annotation, by ID.
	svc.Annotations[service.AnnotationSecurityGroups] = monitor + ",office"
	res2, err := d.Deploy(ctx, build(t, svc))
	if err != nil {
		t.Fatal(err)
	}
	if !res2.Changed || res2.LoadBalancerARN != res.LoadBalancerARN {
		t.Errorf("changed %v, load balancer %s -> %s: want the same one changed", res2.Changed, res.LoadBalancerARN, res2.LoadBalancerARN)
	}
	if got, want := groupsOf(res.LoadBalancerARN), sorted(monitor, office); !slices.Equal(got, want) {
		t.Errorf("groups = %v, want %v", got, want)
	}
	if again, err := d.Deploy(ctx, build(t, svc)); err != nil || again.Changed {
		t.Errorf("deploy again: changed %v, %v; want nothing to do", again != nil && again.Changed, err)
	}

	// Groups that do not exist: an error naming them, nothing changed.
	svc.Annotations[service.AnnotationSecurityGroups] = "office,nowhere,sg-0123456789abcdef0"
	_, err = d.Deploy(ctx, build(t, svc))
	if err == nil || !strings.Contains(err.Error(), service.AnnotationSecurityGroups) ||
		!strings.Contains(err.Error(), "nowhere") || !strings.Contains(err.Error(), "sg-0123456789abcdef0") {
		t.Errorf("deploy with missing groups: %v, want an error naming the annotation and both groups", err)
	}
	if got, want := groupsOf(res.LoadBalancerARN), sorted(monitor, office); !slices.Equal(got, want) {
		t.Errorf("after a failed deploy groups = %v, want %v unchanged", got, want)
	}

	// The annotation removed: the managed group replaces the named ones,
	// as the AWS Load Balancer Controller does.
	delete(svc.Annotations, service.AnnotationSecurityGroups)
	st := build(t, svc)
	if _, err := d.Deploy(ctx, st); err != nil {
		t.Fatal(err)
	}
	managed := managedGroup(t, ec2Client, st.LoadBalancer.ManagedSecurityGroup.Name)
	if got := groupsOf(res.LoadBalancerARN); !slices.Equal(got, []string{aws.ToString(managed.GroupId)}) {
		t.Errorf("groups after the annotation is removed = %v, want the managed group %s", got, aws.ToString(managed.GroupId))
	}

	// The annotation again: the managed group goes once the load balancer
	// has let go of it.
	svc.Annotations[service.AnnotationSecurityGroups] = "vpn"
	if _, err := d.Deploy(ctx, build(t, svc)); err != nil {
		t.Fatal(err)
	}
	if got := groupsOf(res.LoadBalancerARN); !slices.Equal(got, []string{vpn}) {
		t.Errorf("groups = %v, want %v", got, []string{vpn})
	}
	if g := findGroup(t, ec2Client, st.LoadBalancer.ManagedSecurityGroup.Name); g != nil {
		t.Errorf("managed group %s is left after the annotation named groups", aws.ToString(g.GroupId))
	}
	delete(svc.Annotations, service.AnnotationSecurityGroups)

	// No EC2 client: the annotation is refused, not ignored.
	svc.Annotations[service.AnnotationSecurityGroups] = "office"
	noEC2 := &deploy.Deployer{Client: elbClient, ClusterName: opts.ClusterName, Frontend: service.Frontend}
	if _, err := noEC2.Deploy(ctx, build(t, svc)); err == nil || !strings.Contains(err.Error(), "no EC2 API client") {
		t.Errorf("deploy without an EC2 client: %v", err)
	}
}

// findGroup returns the security group named name, or nil.
func findGroup(t *testing.T, c *ec2.Client, name string) *ec2types.SecurityGroup {
	t.Helper()
	out, err := c.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{
		Filters: []ec2types.Filter{{Name: aws.String("group-name"), Values: []string{name}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.SecurityGroups) == 0 {
		return nil
	}
	return &out.SecurityGroups[0]
}

// managedGroup returns the security group named name, which must exist.
func managedGroup(t *testing.T, c *ec2.Client, name string) ec2types.SecurityGroup {
	t.Helper()
	g := findGroup(t, c, name)
	if g == nil {
		t.Fatalf("no security group %s", name)
	}
	return *g
}

// ingressOf lists a group's ingress rules as "proto/port/cidr", sorted.
func ingressOf(g ec2types.SecurityGroup) []string {
	var out []string
	for _, p := range g.IpPermissions {
		for _, r := range p.IpRanges {
			out = append(out, fmt.Sprintf("%s/%d/%s", aws.ToString(p.IpProtocol), aws.ToInt32(p.FromPort), aws.ToString(r.CidrIp)))
		}
		for _, r := range p.Ipv6Ranges {
			out = append(out, fmt.Sprintf("%s/%d/%s", aws.ToString(p.IpProtocol), aws.ToInt32(p.FromPort), aws.ToString(r.CidrIpv6)))
		}
	}
	slices.Sort(out)
	return out
}

// A Service that names no security group gets the managed frontend group,
// as the AWS Load Balancer Controller makes it: its name, description and
// tags, an ingress rule per listener port and source range; the rules
// follow the ports and ranges; the group is deleted after the load
// balancer. The listener attribute an older kelb controller wrote is
// removed, and a network load balancer made without groups keeps its
// source ranges on its listeners and gets no group.
func TestManagedSecurityGroup(t *testing.T) {
	ctx := context.Background()
	elbClient, ec2Client := serverWithEC2(t)
	d := &deploy.Deployer{Client: elbClient, EC2: ec2Client, ClusterName: opts.ClusterName, Frontend: service.Frontend}

	svc := testService(func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8", "192.168.0.0/16"} })
	st := build(t, svc)
	res, err := d.Deploy(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	name := st.LoadBalancer.ManagedSecurityGroup.Name
	if !strings.HasPrefix(name, "k8s-ui-uinlb-") || len(name) != len("k8s-ui-uinlb-")+10 {
		t.Errorf("managed group name %q, want k8s-ui-uinlb- and 10 hex digits", name)
	}
	g := managedGroup(t, ec2Client, name)
	if got := aws.ToString(g.Description); got != "[k8s] Managed SecurityGroup for LoadBalancer" {
		t.Errorf("description %q", got)
	}
	tags := map[string]string{}
	for _, tag := range g.Tags {
		tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	if tags["service.k8s.aws/stack"] != "ui/ui-nlb" || tags["service.k8s.aws/resource"] != "ManagedLBSecurityGroup" || tags["elbv2.k8s.aws/cluster"] != opts.ClusterName {
		t.Errorf("tags %v, want the stack, resource and cluster tags", tags)
	}
	want := []string{"tcp/80/10.0.0.0/8", "tcp/80/192.168.0.0/16"}
	if got := ingressOf(g); !slices.Equal(got, want) {
		t.Errorf("ingress %v, want %v", got, want)
	}
	lbs, err := elbClient.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{res.LoadBalancerARN}})
	if err != nil {
		t.Fatal(err)
	}
	if got := lbs.LoadBalancers[0].SecurityGroups; !slices.Equal(got, []string{aws.ToString(g.GroupId)}) {
		t.Errorf("load balancer groups %v, want the managed group", got)
	}
	listenerAttr := func(arn string) string {
		t.Helper()
		ls, err := elbClient.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: &arn})
		if err != nil {
			t.Fatal(err)
		}
		var vals []string
		for _, l := range ls.Listeners {
			out, err := elbClient.DescribeListenerAttributes(ctx, &elbv2.DescribeListenerAttributesInput{ListenerArn: l.ListenerArn})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range out.Attributes {
				if aws.ToString(a.Key) == service.ListenerAttributeSourceRanges && aws.ToString(a.Value) != "" {
					vals = append(vals, aws.ToString(a.Value))
				}
			}
		}
		return strings.Join(vals, " ")
	}
	if v := listenerAttr(res.LoadBalancerARN); v != "" {
		t.Errorf("listeners carry %s=%q, want the ranges in the group only", service.ListenerAttributeSourceRanges, v)
	}
	if again, err := d.Deploy(ctx, build(t, svc)); err != nil || again.Changed {
		t.Errorf("deploy again: changed %v, %v; want nothing to do", again != nil && again.Changed, err)
	}

	// Ranges and ports change: the rules follow. An attribute written by an
	// older kelb controller goes.
	ls, err := elbClient.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: &res.LoadBalancerARN})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := elbClient.ModifyListenerAttributes(ctx, &elbv2.ModifyListenerAttributesInput{ListenerArn: ls.Listeners[0].ListenerArn,
		Attributes: []elbv2types.ListenerAttribute{{Key: aws.String(service.ListenerAttributeSourceRanges), Value: aws.String("10.0.0.0/8")}}}); err != nil {
		t.Fatal(err)
	}
	svc.Spec.LoadBalancerSourceRanges = []string{"172.16.0.0/12"}
	svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(5353)})
	if _, err := d.Deploy(ctx, build(t, svc)); err != nil {
		t.Fatal(err)
	}
	want = []string{"tcp/80/172.16.0.0/12", "udp/53/172.16.0.0/12"}
	if got := ingressOf(managedGroup(t, ec2Client, name)); !slices.Equal(got, want) {
		t.Errorf("ingress after the change %v, want %v", got, want)
	}
	if v := listenerAttr(res.LoadBalancerARN); v != "" {
		t.Errorf("the older attribute is left: %q", v)
	}

	// Every source by default.
	svc.Spec.LoadBalancerSourceRanges = nil
	if _, err := d.Deploy(ctx, build(t, svc)); err != nil {
		t.Fatal(err)
	}
	want = []string{"tcp/80/0.0.0.0/0", "udp/53/0.0.0.0/0"}
	if got := ingressOf(managedGroup(t, ec2Client, name)); !slices.Equal(got, want) {
		t.Errorf("ingress by default %v, want %v", got, want)
	}

	// The group goes after the load balancer.
	if err := d.Delete(ctx, "ui/ui-nlb"); err != nil {
		t.Fatal(err)
	}
	if g := findGroup(t, ec2Client, name); g != nil {
		t.Errorf("managed group %s is left after the Service is deleted", aws.ToString(g.GroupId))
	}

	// A network load balancer made without groups (by an older kelb
	// controller) cannot get one: its listeners keep the source ranges,
	// and a security-groups annotation is warned of, not applied.
	noEC2 := &deploy.Deployer{Client: elbClient, ClusterName: opts.ClusterName, Frontend: service.Frontend}
	svc.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"}
	old, err := noEC2.Deploy(ctx, build(t, svc))
	if err != nil {
		t.Fatal(err)
	}
	if v := listenerAttr(old.LoadBalancerARN); v != "10.0.0.0/8 10.0.0.0/8" {
		t.Errorf("listeners of a load balancer without groups carry %q, want the source ranges on both", v)
	}
	up, err := d.Deploy(ctx, build(t, svc))
	if err != nil {
		t.Fatal(err)
	}
	if up.LoadBalancerARN != old.LoadBalancerARN || up.Changed {
		t.Errorf("upgrade: load balancer %s -> %s, changed %v; want it kept as it is", old.LoadBalancerARN, up.LoadBalancerARN, up.Changed)
	}
	if g := findGroup(t, ec2Client, name); g != nil {
		t.Errorf("a managed group is made for a load balancer that cannot carry it")
	}
	if _, err := ec2Client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("office"), Description: aws.String("office")}); err != nil {
		t.Fatal(err)
	}
	svc.Annotations[service.AnnotationSecurityGroups] = "office"
	warned, err := d.Deploy(ctx, build(t, svc))
	if err != nil {
		t.Fatal(err)
	}
	if len(warned.Warnings) != 1 || !strings.Contains(warned.Warnings[0], service.AnnotationSecurityGroups) || !strings.Contains(warned.Warnings[0], "made without security groups") {
		t.Errorf("warnings %q, want one naming %s", warned.Warnings, service.AnnotationSecurityGroups)
	}
}
