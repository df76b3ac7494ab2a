package confview

import (
	"fmt"
	"testing"

	"github.com/kelb-io/kelb/internal/elb"
)

// benchState is lbs application load balancers with listeners listeners
// each and rules rules per listener; every rule forwards to a target group
// of its own, the default actions to the load balancer's default group.
func benchState(lbs, listeners, rules int) elb.State {
	var st elb.State
	for i := range lbs {
		lbARN := fmt.Sprintf("arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/lb-%d/%016x", i, i)
		st.LoadBalancers = append(st.LoadBalancers, elb.LoadBalancer{ARN: lbARN, Name: fmt.Sprintf("lb-%d", i), Type: elb.TypeApplication})
		defaultTG := fmt.Sprintf("arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/default-%d/%016x", i, i)
		st.TargetGroups = append(st.TargetGroups, elb.TargetGroup{ARN: defaultTG})
		for j := range listeners {
			lARN := fmt.Sprintf("arn:aws:elasticloadbalancing:us-west-2:123456789012:listener/app/lb-%d/%016x/%016x", i, i, j)
			st.Listeners = append(st.Listeners, elb.Listener{ARN: lARN, LoadBalancerARN: lbARN, Port: int32(80 + j), DefaultActions: []elb.Action{forward(defaultTG)}})
			for k := range rules {
				tgARN := fmt.Sprintf("arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/tg-%d-%d-%d/%016x", i, j, k, i)
				st.TargetGroups = append(st.TargetGroups, elb.TargetGroup{ARN: tgARN})
				st.Rules = append(st.Rules, elb.Rule{
					ARN:         fmt.Sprintf("arn:aws:elasticloadbalancing:us-west-2:123456789012:listener-rule/app/lb-%d/%016x/%016x/%016x", i, i, j, k),
					ListenerARN: lARN,
					Priority:    fmt.Sprint(rules - k),
					Actions:     []elb.Action{forward(tgARN)},
				})
			}
		}
	}
	return st
}

// BenchmarkNew indexes 500 load balancers with 4 listeners of 10 rules
// each (20,000 rules, 20,500 target groups).
func BenchmarkNew(b *testing.B) {
	st := benchState(500, 4, 10)
	b.ReportAllocs()
	for b.Loop() {
		New(st)
	}
}

// BenchmarkNewScaling shows that indexing grows linearly with the number of
// load balancers.
func BenchmarkNewScaling(b *testing.B) {
	for _, lbs := range []int{50, 500, 5000} {
		st := benchState(lbs, 4, 10)
		b.Run(fmt.Sprintf("lbs=%d", lbs), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				New(st)
			}
		})
	}
}
