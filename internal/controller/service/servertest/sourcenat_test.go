package servertest

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ktypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/service"
)

// udpIPv6Service is a dualstack, IPv6-first Service in subnet-a with a UDP
// port: its UDP listener forwards to an IPv6 target group, which ELBv2
// allows only with the load balancer's source NAT prefixes on.
func udpIPv6Service(name string, ann map[string]string) *corev1.Service {
	return testService(func(s *corev1.Service) {
		s.Name = name
		s.UID = ktypes.UID("uid-" + name)
		s.Annotations[service.AnnotationSubnets] = "subnet-a"
		s.Annotations[service.AnnotationIPAddressType] = "dualstack"
		for k, v := range ann {
			s.Annotations[k] = v
		}
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "dns", Port: 53, TargetPort: intstr.FromInt32(5353), NodePort: 30053, Protocol: corev1.ProtocolUDP})
	})
}

// describeSourceNat returns a load balancer's source NAT setting and its
// zone's prefixes.
func describeSourceNat(t *testing.T, c *elbv2.Client, arn string) (string, []string) {
	t.Helper()
	out, err := c.DescribeLoadBalancers(context.Background(), &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{arn}})
	if err != nil {
		t.Fatal(err)
	}
	lb := out.LoadBalancers[0]
	return string(lb.EnablePrefixForIpv6SourceNat), lb.AvailabilityZones[0].SourceNatIpv6Prefixes
}

// The source NAT annotations reach kelb server: a Service with a prefix
// gets a load balancer with source NAT on and that prefix, its UDP
// listener forwarding to IPv6 targets; a reconcile with nothing changed
// writes nothing; a malformed prefix list is a Warning naming the
// annotation and changes nothing.
func TestReconcileSourceNat(t *testing.T) {
	ctx := context.Background()
	elbClient, writes := server(t)
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := elbv2api.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	svc := udpIPv6Service("udp6", map[string]string{
		service.AnnotationEnablePrefixForIPv6SourceNat: "on",
		service.AnnotationSourceNatIPv6Prefixes:        "fd00:19:1:0:5::/80",
	})
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(svc).WithStatusSubresource(&corev1.Service{}).Build()
	recorder := record.NewFakeRecorder(100)
	d := &deploy.Deployer{Client: elbClient, ClusterName: opts.ClusterName, Frontend: service.Frontend}
	r := &service.Reconciler{Client: kube, Recorder: recorder, Deployer: d, Options: opts}
	key := ktypes.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key}); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if ev := drain(recorder.Events); !hasEvent(ev, "Normal "+service.ReasonSuccessfullyReconciled) {
		t.Fatalf("events = %v, want SuccessfullyReconciled", ev)
	}
	actual, err := d.Find(ctx, "ui/udp6", nil)
	if err != nil || actual.LoadBalancer == nil {
		t.Fatalf("find: %+v, %v", actual, err)
	}
	arn := actual.LoadBalancer.ARN
	if setting, prefixes := describeSourceNat(t, elbClient, arn); setting != "on" || len(prefixes) != 1 || prefixes[0] != "fd00:19:1:0:5::/80" {
		t.Errorf("source NAT %q %v, want on with fd00:19:1:0:5::/80", setting, prefixes)
	}
	if len(actual.Listeners) != 2 {
		t.Errorf("listeners %+v, want the TCP and the UDP one", actual.Listeners)
	}

	before := writes.Load()
	if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key}); err != nil {
		t.Fatalf("Reconcile again: %v", err)
	}
	if n := writes.Load() - before; n != 0 {
		t.Errorf("reconcile of an unchanged Service made %d API writes", n)
	}

	var got corev1.Service
	if err := kube.Get(ctx, key, &got); err != nil {
		t.Fatal(err)
	}
	got.Annotations[service.AnnotationSourceNatIPv6Prefixes] = "fd00:19:1:0:6::/80, auto_assigned"
	if err := kube.Update(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key}); err != nil {
		t.Fatalf("Reconcile with a malformed annotation: %v", err)
	}
	ev := drain(recorder.Events)
	if !hasEvent(ev, "Warning "+service.ReasonFailedBuildModel) || !strings.Contains(strings.Join(ev, "\n"), service.AnnotationSourceNatIPv6Prefixes) {
		t.Errorf("events = %v, want a FailedBuildModel Warning naming %s", ev, service.AnnotationSourceNatIPv6Prefixes)
	}
	if n := writes.Load() - before; n != 0 {
		t.Errorf("a malformed annotation made %d API writes", n)
	}
	if setting, prefixes := describeSourceNat(t, elbClient, arn); setting != "on" || len(prefixes) != 1 || prefixes[0] != "fd00:19:1:0:5::/80" {
		t.Errorf("after the malformed annotation: source NAT %q %v, want on with fd00:19:1:0:5::/80 still", setting, prefixes)
	}
}

// Without source NAT kelb server refuses the UDP listener to IPv6
// targets; turning the annotation on gives the existing load balancer
// prefixes kelb server picks (SetSubnets), and the listener follows.
func TestDeploySourceNatOnExisting(t *testing.T) {
	ctx := context.Background()
	client, _ := server(t)
	d := &deploy.Deployer{Client: client, ClusterName: opts.ClusterName, Frontend: service.Frontend}
	_, err := d.Deploy(ctx, build(t, udpIPv6Service("udp6", nil)))
	if err == nil || !strings.Contains(err.Error(), "EnablePrefixForIpv6SourceNat") {
		t.Fatalf("deploy of a UDP listener to IPv6 targets without source NAT: %v, want kelb server's refusal", err)
	}
	actual, err := d.Find(ctx, "ui/udp6", nil)
	if err != nil || actual.LoadBalancer == nil {
		t.Fatalf("find: %+v, %v", actual, err)
	}
	if setting, _ := describeSourceNat(t, client, actual.LoadBalancer.ARN); setting != "off" {
		t.Fatalf("source NAT %q before the annotation, want off", setting)
	}

	res, err := d.Deploy(ctx, build(t, udpIPv6Service("udp6", map[string]string{service.AnnotationEnablePrefixForIPv6SourceNat: "on"})))
	if err != nil {
		t.Fatalf("deploy with source NAT on: %v", err)
	}
	if res.LoadBalancerARN != actual.LoadBalancer.ARN {
		t.Errorf("load balancer %s replaced by %s, want it changed in place", actual.LoadBalancer.ARN, res.LoadBalancerARN)
	}
	setting, prefixes := describeSourceNat(t, client, res.LoadBalancerARN)
	if setting != "on" || len(prefixes) != 1 || !strings.HasPrefix(prefixes[0], "fd00:19:1:") || !strings.HasSuffix(prefixes[0], "/80") {
		t.Errorf("source NAT %q %v, want on with a /80 of subnet-a's fd00:19:1::/64", setting, prefixes)
	}
	ls, err := client.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: &res.LoadBalancerARN})
	if err != nil {
		t.Fatal(err)
	}
	udp := false
	for _, l := range ls.Listeners {
		udp = udp || l.Protocol == types.ProtocolEnumUdp && aws.ToInt32(l.Port) == 53
	}
	if !udp {
		t.Errorf("listeners %+v, want the UDP one on port 53", ls.Listeners)
	}
}
