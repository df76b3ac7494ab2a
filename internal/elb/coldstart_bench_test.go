package elb

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// describeFleet is kelb controller's cold start configuration: 200 network
// load balancers of one TCP listener each, forwarding to a target group of
// 10 IP targets (2,000 targets), tagged as the controller tags them.
type describeFleet struct {
	svc *Service
	lbs []string
	tgs []string
}

func newDescribeFleet(b *testing.B, lbs, targets int) describeFleet {
	b.Helper()
	st, err := store.OpenBolt(filepath.Join(b.TempDir(), "kelb.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	svc, err := New(Config{Store: st, Zones: testZones, VPCCIDRs: testVPC})
	if err != nil {
		b.Fatal(err)
	}
	f := describeFleet{svc: svc}
	now := time.Now().UTC()
	tags := func(i int, resource string) []Tag {
		return []Tag{{Key: "elbv2.k8s.aws/cluster", Value: "kelb"}, {Key: "service.k8s.aws/stack", Value: fmt.Sprintf("ns/web-%03d", i)},
			{Key: "service.k8s.aws/resource", Value: resource}}
	}
	err = st.Update(context.Background(), func(tx store.Tx) error {
		put := func(kind, key string, v any) {
			if err == nil {
				err = putJSON(tx, kind, key, v)
			}
		}
		for i := range lbs {
			lb := fmt.Sprintf("arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/net/k8s-ns-web%03d/%016x", i, i)
			tg := fmt.Sprintf("arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/k8s-ns-web%03d/%016x", i, i)
			l := fmt.Sprintf("arn:aws:elasticloadbalancing:us-west-2:123456789012:listener/net/k8s-ns-web%03d/%016x/%016x", i, i, i)
			put(kindLoadBalancer, lb, LoadBalancer{ARN: lb, Name: fmt.Sprintf("k8s-ns-web%03d", i), Type: TypeNetwork, Scheme: "internet-facing",
				State: StateActive, CreatedTime: now, Tags: tags(i, "LoadBalancer"),
				Attributes: map[string]string{"load_balancing.cross_zone.enabled": "true", "deletion_protection.enabled": "false"}})
			var ts []Target
			for j := range targets {
				ts = append(ts, Target{ID: fmt.Sprintf("198.18.%d.%d", j/250, 1+j%250), Port: 8080, AvailabilityZone: "us-west-2a", RegisteredAt: now})
			}
			put(kindTargetGroup, tg, TargetGroup{ARN: tg, Name: fmt.Sprintf("k8s-ns-web%03d", i), Protocol: "TCP", Port: 8080, TargetType: "ip",
				IPAddressType: "ipv4", HealthCheck: HealthCheck{Protocol: "TCP", Port: HealthCheckPortTraffic, IntervalSeconds: 5, TimeoutSeconds: 5, HealthyThreshold: 2, UnhealthyThreshold: 2},
				Attributes: map[string]string{attrDeregistrationDelay: "300", "preserve_client_ip.enabled": "true", "proxy_protocol_v2.enabled": "false"},
				Targets:    ts, Tags: tags(i, "ns/web-000:80"), CreatedTime: now})
			put(kindListener, l, Listener{ARN: l, LoadBalancerARN: lb, Protocol: "TCP", Port: 80,
				DefaultActions: []Action{{Type: ActionForward, Order: 1, TargetGroupARN: tg, Forward: &ForwardConfig{TargetGroups: []WeightedTargetGroup{{TargetGroupARN: tg, Weight: 1}}}}}})
			f.lbs, f.tgs = append(f.lbs, lb), append(f.tgs, tg)
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// The describe calls of one reconcile of kelb controller's cold start, at
// 200 load balancers and 2,000 targets: each names one load balancer or
// target group.

func BenchmarkDescribeTargetGroupsOfLoadBalancer(b *testing.B) {
	f := newDescribeFleet(b, 200, 10)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		out, err := f.svc.DescribeTargetGroups(ctx, DescribeTargetGroupsInput{LoadBalancerARN: f.lbs[i%len(f.lbs)]})
		if err != nil || len(out) != 1 || len(out[0].Targets) != 10 {
			b.Fatalf("described %d target groups: %v", len(out), err)
		}
		i++
	}
}

func BenchmarkDescribeTargetHealth(b *testing.B) {
	f := newDescribeFleet(b, 200, 10)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		out, err := f.svc.DescribeTargetHealth(ctx, f.tgs[i%len(f.tgs)], nil)
		if err != nil || len(out) != 10 {
			b.Fatalf("described %d targets: %v", len(out), err)
		}
		i++
	}
}

func BenchmarkDescribeListeners(b *testing.B) {
	f := newDescribeFleet(b, 200, 10)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		out, err := f.svc.DescribeListeners(ctx, DescribeListenersInput{LoadBalancerARN: f.lbs[i%len(f.lbs)]})
		if err != nil || len(out) != 1 {
			b.Fatalf("described %d listeners: %v", len(out), err)
		}
		i++
	}
}

func BenchmarkDescribeLoadBalancersByName(b *testing.B) {
	f := newDescribeFleet(b, 200, 10)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		out, err := f.svc.DescribeLoadBalancers(ctx, DescribeLoadBalancersInput{Names: []string{fmt.Sprintf("k8s-ns-web%03d", i%len(f.lbs))}})
		if err != nil || len(out) != 1 {
			b.Fatalf("described %d load balancers: %v", len(out), err)
		}
		i++
	}
}

// BenchmarkRegisterTargets registers a target in one of the 200 target
// groups after another, each call a write that moves the revision, as
// the controller's cold start does, then describes its health.
func BenchmarkRegisterTargets(b *testing.B) {
	f := newDescribeFleet(b, 200, 10)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tg := f.tgs[i%len(f.tgs)]
		if err := f.svc.RegisterTargets(ctx, tg, []TargetDescription{{ID: fmt.Sprintf("198.18.100.%d", 1+i/len(f.tgs)%250)}}); err != nil {
			b.Fatal(err)
		}
		if _, err := f.svc.DescribeTargetHealth(ctx, tg, nil); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkCreateListener creates a listener on one of the 200 load
// balancers after another, on a port of its own.
func BenchmarkCreateListener(b *testing.B) {
	f := newDescribeFleet(b, 200, 10)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		lb, tg := f.lbs[i%len(f.lbs)], f.tgs[i%len(f.tgs)]
		if _, err := f.svc.CreateListener(ctx, CreateListenerInput{LoadBalancerARN: lb, Protocol: "TCP", Port: int32(1000 + i/len(f.lbs)),
			DefaultActions: []Action{{Type: ActionForward, TargetGroupARN: tg}}}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
