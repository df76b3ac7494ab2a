package elb

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// BenchmarkDescribeTargetGroups describes every target group of 50
// application load balancers with 4 listeners of 10 rules each, every rule
// forwarding to a target group of its own (2,050 target groups): each
// description names the load balancers that use its group.
func BenchmarkDescribeTargetGroups(b *testing.B) {
	st, err := store.OpenBolt(filepath.Join(b.TempDir(), "kelb.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	svc, err := New(Config{Store: st, Zones: testZones, VPCCIDRs: testVPC})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const lbs, listeners, rules = 50, 4, 10
	err = st.Update(ctx, func(tx store.Tx) error {
		put := func(kind, key string, v any) {
			if err == nil {
				err = putJSON(tx, kind, key, v)
			}
		}
		forward := func(tg string) []Action {
			return []Action{{Type: ActionForward, Order: 1, TargetGroupARN: tg, Forward: &ForwardConfig{TargetGroups: []WeightedTargetGroup{{TargetGroupARN: tg, Weight: 1}}}}}
		}
		for i := range lbs {
			lb := fmt.Sprintf("arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/lb-%d/%016x", i, i)
			put(kindLoadBalancer, lb, LoadBalancer{ARN: lb, Name: fmt.Sprintf("lb-%d", i), Type: TypeApplication})
			def := fmt.Sprintf("arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/default-%d/%016x", i, i)
			put(kindTargetGroup, def, TargetGroup{ARN: def, Name: fmt.Sprintf("default-%d", i), Protocol: "HTTP"})
			for j := range listeners {
				l := fmt.Sprintf("arn:aws:elasticloadbalancing:us-west-2:123456789012:listener/app/lb-%d/%016x/%016x", i, i, j)
				put(kindListener, l, Listener{ARN: l, LoadBalancerARN: lb, Protocol: "HTTP", Port: int32(80 + j), DefaultActions: forward(def)})
				for k := range rules {
					tg := fmt.Sprintf("arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/tg-%d-%d-%d/%016x", i, j, k, i)
					put(kindTargetGroup, tg, TargetGroup{ARN: tg, Name: fmt.Sprintf("tg-%d-%d-%d", i, j, k), Protocol: "HTTP"})
					r := fmt.Sprintf("arn:aws:elasticloadbalancing:us-west-2:123456789012:listener-rule/app/lb-%d/%016x/%016x/%016x", i, i, j, k)
					put(kindRule, r, Rule{ARN: r, ListenerARN: l, Priority: fmt.Sprint(k + 1), Actions: forward(tg)})
				}
			}
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		out, err := svc.DescribeTargetGroups(ctx, DescribeTargetGroupsInput{})
		if err != nil {
			b.Fatal(err)
		}
		if len(out) != lbs*(1+listeners*rules) || len(out[0].LoadBalancerARNs) != 1 {
			b.Fatalf("described %d target groups, the first used by %v", len(out), out[0].LoadBalancerARNs)
		}
	}
}
