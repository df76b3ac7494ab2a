// Package servertest tests the Service deployer against a real kelb server
// API, in process: the ELBv2 Query handler over the elb service on a bolt
// store, reached by aws-sdk-go-v2 through an httptest server.
package servertest

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/smithy-go/middleware"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kelb-io/kelb/internal/acmapi"
	"github.com/kelb-io/kelb/internal/certstore"
	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/service"
	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/elbapi"
)

const (
	keyID  = "AKIDKELBTEST"
	secret = "kelb-test-secret"
)

// server starts a kelb server API and returns a client for it and a
// counter of the write operations it received.
func server(t *testing.T) (*elbv2.Client, *atomic.Int64) {
	t.Helper()
	c, writes, _ := serverWithACM(t)
	return c, writes
}

// serverWithACM is server with the ACM API of kelb's certificate store on
// the same endpoint, and a client for it.
func serverWithACM(t *testing.T) (*elbv2.Client, *atomic.Int64, *acm.Client) {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "kelb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := elb.New(elb.Config{
		Store:    st,
		VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15")},
		Zones: []elb.Zone{
			// Only subnet-a has an IPv6 CIDR block: dualstack load
			// balancers fit there alone.
			{Name: "us-west-2a", SubnetID: "subnet-a", Pool: netip.MustParsePrefix("198.19.1.0/24"), IPv6Pool: netip.MustParsePrefix("fd00:19:1::/64")},
			{Name: "us-west-2b", SubnetID: "subnet-b", Pool: netip.MustParsePrefix("198.19.2.0/24")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ops := elbapi.Ops(svc)
	maps.Copy(ops, elbapi.ListenerCertificateOps(svc))
	elbHandler := elbapi.NewHandler(elbapi.HandlerConfig{
		Ops:         ops,
		Credentials: elbapi.StaticCredentials{keyID: secret},
		Region:      svc.Region(),
	})
	certs := certstore.New(certstore.Config{Store: st, Region: svc.Region(), InUse: elb.CertificateUsers})
	acmHandler := acmapi.NewHandler(acmapi.Config{Certificates: certs, Credentials: elbapi.StaticCredentials{keyID: secret}, Region: svc.Region()})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if acmapi.IsACMRequest(r) {
			acmHandler.ServeHTTP(w, r)
			return
		}
		elbHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	acmClient := acm.New(acm.Options{Region: svc.Region(), BaseEndpoint: aws.String(srv.URL), Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, "")})
	writes := &atomic.Int64{}
	client := elbv2.New(elbv2.Options{
		Region:       svc.Region(),
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		APIOptions: []func(*middleware.Stack) error{func(s *middleware.Stack) error {
			return s.Initialize.Add(middleware.InitializeMiddlewareFunc("countWrites", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				switch op := middleware.GetOperationName(ctx); {
				case len(op) >= 8 && op[:8] == "Describe":
				default:
					writes.Add(1)
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
		}},
	})
	return client, writes, acmClient
}

func testService(mutate func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ui", Name: "ui-nlb", UID: "7c1e", Annotations: map[string]string{
			service.AnnotationLoadBalancerType: "external",
			service.AnnotationTargetType:       "ip",
			service.AnnotationScheme:           "internet-facing",
			// kelb server wants the timeout below the interval (AWS NLB
			// accepts equal ones, as the AWS controller's 10/10 defaults).
			service.AnnotationHCTimeout: "5",
		}},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080, Protocol: corev1.ProtocolTCP},
			},
		},
	}
	if mutate != nil {
		mutate(svc)
	}
	return svc
}

var opts = service.BuildOptions{ClusterName: "kelb-test"}

func build(t *testing.T, svc *corev1.Service) *service.Stack {
	t.Helper()
	st, err := service.Build(svc, opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A Service's stack is created, found again by tags with nothing to do,
// changed in place (same load balancer ARN) and deleted.
func TestDeployLifecycle(t *testing.T) {
	ctx := context.Background()
	client, writes := server(t)
	d := &deploy.Deployer{Client: client, ClusterName: opts.ClusterName, Frontend: service.Frontend}

	st := build(t, testService(nil))
	first, err := d.Deploy(ctx, st)
	if err != nil {
		t.Fatalf("first deploy: %v", err)
	}
	if !first.Changed || first.LoadBalancerARN == "" || first.DNSName == "" || len(first.TargetGroupARNs) != 1 {
		t.Fatalf("first deploy result = %+v", first)
	}

	// Nothing changed: no write at all.
	before := writes.Load()
	again, err := d.Deploy(ctx, st)
	if err != nil {
		t.Fatalf("second deploy: %v", err)
	}
	if again.Changed || writes.Load() != before {
		t.Errorf("second deploy of the same stack wrote %d times (Changed=%v)", writes.Load()-before, again.Changed)
	}
	if again.LoadBalancerARN != first.LoadBalancerARN || again.DNSName != first.DNSName {
		t.Errorf("second deploy found %s (%s), want %s (%s)", again.LoadBalancerARN, again.DNSName, first.LoadBalancerARN, first.DNSName)
	}
	if diff := cmp.Diff(first.TargetGroupARNs, again.TargetGroupARNs); diff != "" {
		t.Errorf("target groups differ:\n%s", diff)
	}

	// Health check interval, proxy protocol and a load balancer attribute
	// change in place.
	changed := build(t, testService(func(s *corev1.Service) {
		s.Annotations[service.AnnotationHCInterval] = "6"
		s.Annotations[service.AnnotationProxyProtocol] = "*"
		s.Annotations[service.AnnotationAttributes] = "load_balancing.cross_zone.enabled=true"
		s.Annotations[service.AnnotationAdditionalTags] = "Team=edge"
	}))
	third, err := d.Deploy(ctx, changed)
	if err != nil {
		t.Fatalf("deploy of the changed stack: %v", err)
	}
	if third.LoadBalancerARN != first.LoadBalancerARN {
		t.Errorf("in-place change replaced the load balancer: %s -> %s", first.LoadBalancerARN, third.LoadBalancerARN)
	}
	if diff := cmp.Diff(first.TargetGroupARNs, third.TargetGroupARNs); diff != "" {
		t.Errorf("in-place change replaced target groups:\n%s", diff)
	}
	actual, err := d.Find(ctx, changed.ID, changed)
	if err != nil {
		t.Fatal(err)
	}
	if plan := deploy.Diff(changed, actual); !plan.Empty() {
		t.Errorf("after deploy, plan is not empty: %+v", plan)
	}
	tg := actual.TargetGroups[0]
	if tg.HealthCheck.IntervalSeconds != 6 || tg.Attributes["proxy_protocol_v2.enabled"] != "true" || tg.Tags["Team"] != "edge" {
		t.Errorf("target group after change = %+v", tg)
	}
	if actual.LoadBalancer.Attributes["load_balancing.cross_zone.enabled"] != "true" {
		t.Errorf("cross zone attribute = %q", actual.LoadBalancer.Attributes["load_balancing.cross_zone.enabled"])
	}
	if len(actual.Listeners) != 1 || actual.Listeners[0].DefaultAction.Forward == nil || actual.Listeners[0].DefaultAction.Forward.TargetGroups[0].ARN != tg.ARN {
		t.Errorf("listeners = %+v, want one forwarding to %s", actual.Listeners, tg.ARN)
	}

	// A second port, then back to one.
	twoPorts := build(t, testService(func(s *corev1.Service) {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "dns", Port: 53, TargetPort: intstr.FromInt32(5353), Protocol: corev1.ProtocolUDP})
	}))
	if _, err := d.Deploy(ctx, twoPorts); err != nil {
		t.Fatalf("deploy with two ports: %v", err)
	}
	if actual, err = d.Find(ctx, st.ID, st); err != nil {
		t.Fatal(err)
	}
	if len(actual.Listeners) != 2 || len(actual.TargetGroups) != 2 {
		t.Errorf("two ports: %d listeners and %d target groups, want 2 and 2", len(actual.Listeners), len(actual.TargetGroups))
	}
	if _, err := d.Deploy(ctx, st); err != nil {
		t.Fatalf("deploy back to one port: %v", err)
	}
	if actual, err = d.Find(ctx, st.ID, st); err != nil {
		t.Fatal(err)
	}
	if len(actual.Listeners) != 1 || len(actual.TargetGroups) != 1 || actual.LoadBalancer.ARN != first.LoadBalancerARN {
		t.Errorf("back to one port: %+v", actual)
	}

	// Another stack is not touched by this one's deletion.
	other := build(t, testService(func(s *corev1.Service) { s.Name = "other"; s.UID = "99" }))
	if _, err := d.Deploy(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, st.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if actual, err = d.Find(ctx, st.ID, st); err != nil {
		t.Fatal(err)
	}
	if actual.LoadBalancer != nil || len(actual.TargetGroups) != 0 || len(actual.Listeners) != 0 {
		t.Errorf("after delete: %+v", actual)
	}
	if actual, err = d.Find(ctx, other.ID, other); err != nil {
		t.Fatal(err)
	}
	if actual.LoadBalancer == nil || len(actual.TargetGroups) != 1 {
		t.Errorf("other stack after delete: %+v", actual)
	}
}

// A Service whose subnets annotation changes keeps its load balancer, whose
// zones follow the annotation through SetSubnets (a zone that stays keeps
// its address); asking for dualstack with subnet-b, which has no IPv6 CIDR
// block, fails the deploy with AWS's error and changes nothing.
func TestDeploySubnetsChange(t *testing.T) {
	ctx := context.Background()
	client, _ := server(t)
	d := &deploy.Deployer{Client: client, ClusterName: opts.ClusterName, Frontend: service.Frontend}
	withSubnets := func(subnets string) *service.Stack {
		return build(t, testService(func(s *corev1.Service) { s.Annotations[service.AnnotationSubnets] = subnets }))
	}
	zones := func(arn string) map[string]string {
		t.Helper()
		out, err := client.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{arn}})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, z := range out.LoadBalancers[0].AvailabilityZones {
			m[aws.ToString(z.SubnetId)] = aws.ToString(z.LoadBalancerAddresses[0].IpAddress)
		}
		return m
	}

	first, err := d.Deploy(ctx, withSubnets("subnet-a"))
	if err != nil {
		t.Fatal(err)
	}
	one := zones(first.LoadBalancerARN)
	if len(one) != 1 || one["subnet-a"] == "" {
		t.Fatalf("zones with subnet-a: %v", one)
	}
	keptB := ""
	for _, step := range []struct {
		subnets string
		want    []string
	}{
		{"subnet-a,subnet-b", []string{"subnet-a", "subnet-b"}},
		{"subnet-b", []string{"subnet-b"}},
		{"subnet-a,subnet-b", []string{"subnet-a", "subnet-b"}},
	} {
		st := withSubnets(step.subnets)
		res, err := d.Deploy(ctx, st)
		if err != nil {
			t.Fatalf("deploy with subnets %s: %v", step.subnets, err)
		}
		if res.LoadBalancerARN != first.LoadBalancerARN || !res.Changed {
			t.Errorf("subnets %s: load balancer %s (changed %v), want %s changed in place", step.subnets, res.LoadBalancerARN, res.Changed, first.LoadBalancerARN)
		}
		got := zones(res.LoadBalancerARN)
		var ids []string
		for id := range got {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, step.want) {
			t.Errorf("subnets %s: zones %v", step.subnets, got)
		}
		actual, err := d.Find(ctx, st.ID, st)
		if err != nil {
			t.Fatal(err)
		}
		if plan := deploy.Diff(st, actual); !plan.Empty() {
			t.Errorf("subnets %s: plan after deploy is not empty: %+v", step.subnets, plan)
		}
		// subnet-b stays enabled from the first step on: its address
		// never moves.
		if keptB == "" {
			keptB = got["subnet-b"]
		} else if got["subnet-b"] != keptB {
			t.Errorf("subnets %s: subnet-b's address moved from %s to %s while it stayed enabled", step.subnets, keptB, got["subnet-b"])
		}
	}

	dual := build(t, testService(func(s *corev1.Service) {
		s.Annotations[service.AnnotationSubnets] = "subnet-a,subnet-b"
		s.Annotations[service.AnnotationIPAddressType] = "dualstack"
	}))
	before := zones(first.LoadBalancerARN)
	if _, err := d.Deploy(ctx, dual); err == nil || !strings.Contains(err.Error(), "InvalidSubnet") {
		t.Errorf("dualstack deploy: %v, want InvalidSubnet", err)
	}
	if diff := cmp.Diff(before, zones(first.LoadBalancerARN)); diff != "" {
		t.Errorf("refused dualstack changed zones:\n%s", diff)
	}
}
