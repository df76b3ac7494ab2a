package ingress

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

	"github.com/kelb-io/kelb/internal/controller/deploy"
)

// The security-groups annotation names groups by ID, Name tag or group
// name; the load balancer is made with them and follows a change; a group
// that does not exist fails the deploy naming it and changes nothing;
// members that disagree fail the build.
func TestSecurityGroupsAnnotation(t *testing.T) {
	ctx := context.Background()
	client, _ := elbServer(t)
	group := func(name string, tags ...ec2types.Tag) string {
		t.Helper()
		in := &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String("kelb test")}
		if len(tags) > 0 {
			in.TagSpecifications = []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: tags}}
		}
		out, err := testEC2.CreateSecurityGroup(ctx, in)
		if err != nil {
			t.Fatalf("create security group %s: %v", name, err)
		}
		return aws.ToString(out.GroupId)
	}
	office := group("office-sg", ec2types.Tag{Key: aws.String("Name"), Value: aws.String("office")})
	vpn := group("vpn")
	d := &deploy.Deployer{Frontend: Frontend, Client: client, EC2: testEC2, ClusterName: testOptions.ClusterName}
	id := GroupID{Namespace: "game-2048", Name: "ingress-2048"}
	annotate := func(v string) func(w *world) {
		return func(w *world) {
			for i := range w.ingresses {
				ing := &w.ingresses[i]
				if v == "" {
					delete(ing.Annotations, AnnotationSecurityGroups)
					continue
				}
				if ing.Annotations == nil {
					ing.Annotations = map[string]string{}
				}
				ing.Annotations[AnnotationSecurityGroups] = v
			}
		}
	}
	groupsOf := func(arn string) []string {
		t.Helper()
		out, err := client.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{arn}})
		if err != nil {
			t.Fatal(err)
		}
		g := slices.Clone(out.LoadBalancers[0].SecurityGroups)
		slices.Sort(g)
		return g
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }

	st := buildGroup(t, "testdata/seed004-game-2048.yaml", id, annotate("office,vpn"))
	if got := st.LoadBalancer.SecurityGroups; !slices.Equal(got, []string{"office", "vpn"}) {
		t.Errorf("stack groups = %v", got)
	}
	res, err := d.Deploy(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := groupsOf(res.LoadBalancerARN), sorted(office, vpn); !slices.Equal(got, want) {
		t.Errorf("groups = %v, want %v", got, want)
	}

	res2, err := d.Deploy(ctx, buildGroup(t, "testdata/seed004-game-2048.yaml", id, annotate(office)))
	if err != nil {
		t.Fatal(err)
	}
	if !res2.Changed || res2.LoadBalancerARN != res.LoadBalancerARN {
		t.Errorf("changed %v, load balancer %s -> %s: want the same one changed", res2.Changed, res.LoadBalancerARN, res2.LoadBalancerARN)
	}
	if got := groupsOf(res.LoadBalancerARN); !slices.Equal(got, []string{office}) {
		t.Errorf("groups = %v, want [%s]", got, office)
	}

	_, err = d.Deploy(ctx, buildGroup(t, "testdata/seed004-game-2048.yaml", id, annotate("vpn,nowhere")))
	if err == nil || !strings.Contains(err.Error(), AnnotationSecurityGroups) || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("deploy with a missing group: %v, want an error naming the annotation and the group", err)
	}
	if got := groupsOf(res.LoadBalancerARN); !slices.Equal(got, []string{office}) {
		t.Errorf("after a failed deploy groups = %v, want [%s] unchanged", got, office)
	}

	// The annotation removed: the managed group replaces the named ones,
	// as the AWS Load Balancer Controller does. Its rules follow the
	// inbound CIDRs; it goes when the annotation comes back, and after the
	// load balancer.
	inbound := func(v string) func(w *world) {
		return func(w *world) {
			annotate("")(w)
			for i := range w.ingresses {
				if v != "" {
					w.ingresses[i].Annotations[AnnotationInboundCIDRs] = v
				}
			}
		}
	}
	st = buildGroup(t, "testdata/seed004-game-2048.yaml", id, inbound("10.0.0.0/8, 192.168.0.0/16"))
	mg := st.LoadBalancer.ManagedSecurityGroup
	if mg == nil || !strings.HasPrefix(mg.Name, "k8s-game2048-ingress2-") {
		t.Fatalf("managed group %+v, want one named k8s-game2048-ingress2-<hash>", mg)
	}
	if _, err := d.Deploy(ctx, st); err != nil {
		t.Fatal(err)
	}
	managed := func() *ec2types.SecurityGroup {
		t.Helper()
		out, err := testEC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{{Name: aws.String("group-name"), Values: []string{mg.Name}}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.SecurityGroups) == 0 {
			return nil
		}
		return &out.SecurityGroups[0]
	}
	rules := func(g *ec2types.SecurityGroup) []string {
		var out []string
		for _, p := range g.IpPermissions {
			for _, r := range p.IpRanges {
				out = append(out, fmt.Sprintf("%s/%d/%s", aws.ToString(p.IpProtocol), aws.ToInt32(p.FromPort), aws.ToString(r.CidrIp)))
			}
		}
		slices.Sort(out)
		return out
	}
	sg := managed()
	if sg == nil {
		t.Fatal("no managed group")
	}
	if got := groupsOf(res.LoadBalancerARN); !slices.Equal(got, []string{aws.ToString(sg.GroupId)}) {
		t.Errorf("after the annotation is removed groups = %v, want the managed group %s", got, aws.ToString(sg.GroupId))
	}
	if got, want := rules(sg), []string{"tcp/80/10.0.0.0/8", "tcp/80/192.168.0.0/16"}; !slices.Equal(got, want) || aws.ToString(sg.Description) != "[k8s] Managed SecurityGroup for LoadBalancer" {
		t.Errorf("managed group rules %v (%q), want %v", got, aws.ToString(sg.Description), want)
	}
	if _, err := d.Deploy(ctx, buildGroup(t, "testdata/seed004-game-2048.yaml", id, inbound(""))); err != nil {
		t.Fatal(err)
	}
	if got, want := rules(managed()), []string{"tcp/80/0.0.0.0/0"}; !slices.Equal(got, want) {
		t.Errorf("managed group rules by default %v, want %v", got, want)
	}
	both := buildGroup(t, "testdata/seed004-game-2048.yaml", id, func(w *world) { inbound("10.0.0.0/8")(w); annotate(office)(w) })
	if both.LoadBalancer.ManagedSecurityGroup != nil || !slices.ContainsFunc(both.Warnings, func(w string) bool {
		return strings.Contains(w, AnnotationInboundCIDRs) && strings.Contains(w, AnnotationSecurityGroups)
	}) {
		t.Errorf("inbound CIDRs beside the annotation: managed group %v, warnings %q; want none and a warning naming both", both.LoadBalancer.ManagedSecurityGroup, both.Warnings)
	}
	if _, err := d.Deploy(ctx, buildGroup(t, "testdata/seed004-game-2048.yaml", id, annotate(office))); err != nil {
		t.Fatal(err)
	}
	if got := groupsOf(res.LoadBalancerARN); !slices.Equal(got, []string{office}) || managed() != nil {
		t.Errorf("annotation back: groups %v, managed group left %v", got, managed() != nil)
	}
	if _, err := d.Deploy(ctx, buildGroup(t, "testdata/seed004-game-2048.yaml", id, inbound(""))); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, id.String()); err != nil {
		t.Fatal(err)
	}
	if managed() != nil {
		t.Error("managed group left after the load balancer is deleted")
	}

	// Members of one group that disagree.
	w := loadWorld(t, "testdata/group-host-path.yaml")
	w.ingresses[0].Annotations[AnnotationSecurityGroups] = "office"
	w.ingresses[1].Annotations[AnnotationSecurityGroups] = "vpn"
	g := GroupIngresses(w.ingresses, w.classes)
	checked := 0
	for gid, members := range g.Groups {
		if len(members) < 2 {
			continue
		}
		checked++
		_, err := Build(BuildInput{Group: gid, Members: members, Services: w.services, NamespaceLabels: w.namespaces}, testOptions)
		var cerr *ConflictError
		if !errors.As(err, &cerr) || !strings.Contains(err.Error(), AnnotationSecurityGroups) {
			t.Errorf("build of disagreeing members: %v, want a conflict on %s", err, AnnotationSecurityGroups)
		}
	}
	if checked == 0 {
		t.Fatal("testdata/group-host-path.yaml has no group of two members")
	}
}
