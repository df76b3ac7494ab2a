package servertest

import (
	"context"
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
	corev1 "k8s.io/api/core/v1"

	"github.com/kelb-io/kelb/internal/controller/service"
	"github.com/kelb-io/kelb/internal/ec2api"
	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/elbapi"
	"github.com/kelb-io/kelb/internal/secgroup"
)

// serverWithEC2 is kelb server's API (ELBv2 and EC2 on one address, told
// apart by the signature's service, as kelb server serves them) over a
// fresh store.
func serverWithEC2(t *testing.T) (*elbv2.Client, *ec2.Client) {
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

	d := &service.Deployer{Client: elbClient, EC2: ec2Client, ClusterName: opts.ClusterName}
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

	// The annotation removed: the network load balancer's groups go.
	delete(svc.Annotations, service.AnnotationSecurityGroups)
	if _, err := d.Deploy(ctx, build(t, svc)); err != nil {
		t.Fatal(err)
	}
	if got := groupsOf(res.LoadBalancerARN); len(got) != 0 {
		t.Errorf("groups after the annotation is removed = %v, want none", got)
	}

	// No EC2 client: the annotation is refused, not ignored.
	svc.Annotations[service.AnnotationSecurityGroups] = "office"
	noEC2 := &service.Deployer{Client: elbClient, ClusterName: opts.ClusterName}
	if _, err := noEC2.Deploy(ctx, build(t, svc)); err == nil || !strings.Contains(err.Error(), "no EC2 API client") {
		t.Errorf("deploy without an EC2 client: %v", err)
	}
}
