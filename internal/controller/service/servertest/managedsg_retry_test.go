package servertest

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ktypes "k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/service"
	"github.com/kelb-io/kelb/internal/elb"
)

// stackGroups lists the security groups tagged for a Service's stack.
func stackGroups(t *testing.T, c *ec2.Client, stackID string) []string {
	t.Helper()
	out, err := c.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{
		Filters: []ec2types.Filter{{Name: aws.String("tag:" + service.TagStack), Values: []string{stackID}}}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, g := range out.SecurityGroups {
		ids = append(ids, aws.ToString(g.GroupId))
	}
	return ids
}

// quotaEnv is the Service reconciler over a kelb server whose quota of one
// network load balancer is taken by another (other), so that the
// Service's load balancer cannot be made.
type quotaEnv struct {
	r        *service.Reconciler
	kube     client.Client
	recorder *record.FakeRecorder
	elb      *elbv2.Client
	ec2      *ec2.Client
	req      ctrl.Request
	stackID  string
	other    string
}

func newQuotaEnv(t *testing.T) *quotaEnv {
	t.Helper()
	elbClient, ec2Client := serverWithEC2(t, func(c *elb.Config) { c.MaxLoadBalancersPerType = 1 })
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := elbv2api.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	svc := testService(nil)
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(svc).WithStatusSubresource(&corev1.Service{}).Build()
	recorder := record.NewFakeRecorder(100)
	other, err := elbClient.CreateLoadBalancer(context.Background(), &elbv2.CreateLoadBalancerInput{
		Name: aws.String("other"), Type: elbv2types.LoadBalancerTypeEnumNetwork, Scheme: elbv2types.LoadBalancerSchemeEnumInternal,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &quotaEnv{
		r: &service.Reconciler{
			Client: kube, Recorder: recorder, Options: opts,
			Deployer: &deploy.Deployer{Client: elbClient, EC2: ec2Client, ClusterName: opts.ClusterName, Frontend: service.Frontend},
		},
		kube: kube, recorder: recorder, elb: elbClient, ec2: ec2Client,
		req:     ctrl.Request{NamespacedName: ktypes.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}},
		stackID: svc.Namespace + "/" + svc.Name,
		other:   aws.ToString(other.LoadBalancers[0].LoadBalancerArn),
	}
}

// While kelb server refuses the load balancer (its quota of network load
// balancers is reached), each reconcile of the Service fails with a
// Warning and reuses the managed group the first one made, found by its
// tags: one group, however many retries; once the quota frees, the load
// balancer is made with it.
func TestManagedSecurityGroupCreateFails(t *testing.T) {
	ctx := context.Background()
	e := newQuotaEnv(t)
	r, ec2Client, stackID := e.r, e.ec2, e.stackID

	var first []string
	for attempt := 1; attempt <= 3; attempt++ {
		if _, err := r.Reconcile(ctx, e.req); err == nil || !strings.Contains(err.Error(), "TooManyLoadBalancers") {
			t.Fatalf("reconcile %d over the quota: %v, want TooManyLoadBalancers", attempt, err)
		}
		if ev := drain(e.recorder.Events); !hasEvent(ev, "Warning "+service.ReasonFailedDeployModel) {
			t.Errorf("reconcile %d: events %v, want a FailedDeployModel Warning", attempt, ev)
		}
		groups := stackGroups(t, ec2Client, stackID)
		if attempt == 1 {
			first = groups
		}
		if len(groups) != 1 || groups[0] != first[0] {
			t.Fatalf("after reconcile %d the stack has groups %v, want the first attempt's one, %v", attempt, groups, first)
		}
	}

	if _, err := e.elb.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: &e.other}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(ctx, e.req); err != nil {
		t.Fatalf("reconcile once the quota frees: %v", err)
	}
	actual, err := r.Deployer.Find(ctx, stackID, nil)
	if err != nil || actual.LoadBalancer == nil {
		t.Fatalf("find: %+v, %v", actual, err)
	}
	if got := actual.LoadBalancer.SecurityGroups; len(got) != 1 || got[0] != first[0] {
		t.Errorf("load balancer groups %v, want the group made by the first attempt, %s", got, first[0])
	}
	if groups := stackGroups(t, ec2Client, stackID); len(groups) != 1 {
		t.Errorf("the stack has groups %v, want one", groups)
	}
}

// A Service deleted while its load balancer could not be made leaves no
// managed group behind: the cleanup deletes the group its reconciles made.
func TestManagedSecurityGroupDeletedWithoutLoadBalancer(t *testing.T) {
	ctx := context.Background()
	e := newQuotaEnv(t)
	if _, err := e.r.Reconcile(ctx, e.req); err == nil {
		t.Fatal("reconcile over the quota succeeded")
	}
	if groups := stackGroups(t, e.ec2, e.stackID); len(groups) != 1 {
		t.Fatalf("the stack has groups %v, want the managed one", groups)
	}
	var svc corev1.Service
	if err := e.kube.Get(ctx, e.req.NamespacedName, &svc); err != nil {
		t.Fatal(err)
	}
	if err := e.kube.Delete(ctx, &svc); err != nil {
		t.Fatal(err)
	}
	if _, err := e.r.Reconcile(ctx, e.req); err != nil {
		t.Fatalf("reconcile of the deleted Service: %v", err)
	}
	if groups := stackGroups(t, e.ec2, e.stackID); len(groups) != 0 {
		t.Errorf("the deleted Service left groups %v", groups)
	}
}
