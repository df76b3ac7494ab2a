package elb

import (
	"context"
	"fmt"
	"testing"

	"github.com/kelb-io/kelb/internal/certstore"
	"github.com/kelb-io/kelb/internal/elb/store"
)

// targetsOn returns n targets on one address, ports from first.
func targetsOn(ip string, first, n int) []TargetDescription {
	out := make([]TargetDescription, n)
	for i := range out {
		out[i] = TargetDescription{ID: ip, Port: int32(first + i)}
	}
	return out
}

func countTargets(t *testing.T, env *testEnv, tgARN string) int {
	t.Helper()
	descs, err := env.svc.DescribeTargetHealth(context.Background(), tgARN, nil)
	if err != nil {
		t.Fatal(err)
	}
	return len(descs)
}

func TestTargetQuotas(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()

	// Per target group, in one call and over several.
	tg := env.tg(t, "big", "TCP")
	wantCode(t, env.svc.RegisterTargets(ctx, tg.ARN, targetsOn("198.18.1.10", 1, MaxTargetsPerTargetGroup+1)), CodeTooManyTargets)
	wantCode(t, env.svc.RegisterTargets(ctx, tg.ARN, targetsOn("198.18.1.10", 1, MaxTargetsPerTargetGroup)), "")
	wantCode(t, env.svc.RegisterTargets(ctx, tg.ARN, targetsOn("198.18.1.11", 1, 1)), CodeTooManyTargets)
	// Registering what is registered already adds nothing.
	wantCode(t, env.svc.RegisterTargets(ctx, tg.ARN, targetsOn("198.18.1.10", 1, 1)), "")
	if n := countTargets(t, env, tg.ARN); n != MaxTargetsPerTargetGroup {
		t.Errorf("%d targets, want %d", n, MaxTargetsPerTargetGroup)
	}
	wantCode(t, env.svc.DeregisterTargets(ctx, tg.ARN, targetsOn("198.18.1.10", 1, MaxTargetsPerTargetGroup+1)), CodeValidationError)

	// Per zone of a network load balancer: zone "all" counts in each.
	nlb := env.nlb(t, "net")
	zoned := env.tg(t, "zoned", "TCP")
	env.listener(t, nlb.ARN, zoned.ARN, "TCP", 80)
	wantCode(t, env.svc.RegisterTargets(ctx, zoned.ARN, targetsOn("198.18.1.20", 1, MaxTargetsPerZonePerNetworkLoadBalancer-1)), "")
	wantCode(t, env.svc.RegisterTargets(ctx, zoned.ARN, []TargetDescription{{ID: "192.168.1.2", Port: 80, AvailabilityZone: AvailabilityZoneAll}}), "")
	wantCode(t, env.svc.RegisterTargets(ctx, zoned.ARN, []TargetDescription{{ID: "198.18.1.21", Port: 80}}), CodeTooManyTargets)
	wantCode(t, env.svc.RegisterTargets(ctx, zoned.ARN, []TargetDescription{{ID: "198.18.2.21", Port: 80}}), "")
	if n := countTargets(t, env, zoned.ARN); n != MaxTargetsPerZonePerNetworkLoadBalancer+1 {
		t.Errorf("%d targets, want %d", n, MaxTargetsPerZonePerNetworkLoadBalancer+1)
	}

	// Per application load balancer, over its target groups, whether the
	// targets come first or the listener.
	alb, err := env.svc.CreateLoadBalancer(ctx, CreateLoadBalancerInput{Name: "app", Subnets: []string{"subnet-a"}})
	wantCode(t, err, "")
	web, api := env.tg(t, "web", "HTTP"), env.tg(t, "api", "HTTP")
	wantCode(t, env.svc.RegisterTargets(ctx, web.ARN, targetsOn("198.18.1.30", 1, 600)), "")
	wantCode(t, env.svc.RegisterTargets(ctx, api.ARN, targetsOn("198.18.1.31", 1, 600)), "")
	l := env.listener(t, alb.ARN, web.ARN, "HTTP", 80)
	_, err = env.svc.CreateRule(ctx, CreateRuleInput{ListenerARN: l.ARN, Priority: 1,
		Conditions: []RuleCondition{{Field: "path-pattern", Values: []string{"/api/*"}}},
		Actions:    []Action{{Type: ActionForward, TargetGroupARN: api.ARN}}})
	wantCode(t, err, CodeTooManyTargets)
	_, err = env.svc.CreateListener(ctx, CreateListenerInput{LoadBalancerARN: alb.ARN, Protocol: "HTTP", Port: 81,
		DefaultActions: []Action{{Type: ActionForward, TargetGroupARN: api.ARN}}})
	wantCode(t, err, CodeTooManyTargets)
	// Moving the listener from one group to the other is within the quota.
	_, err = env.svc.ModifyListener(ctx, ModifyListenerInput{ListenerARN: l.ARN,
		DefaultActions: []Action{{Type: ActionForward, TargetGroupARN: api.ARN}}})
	wantCode(t, err, "")
	wantCode(t, env.svc.RegisterTargets(ctx, api.ARN, targetsOn("198.18.1.32", 1, 400)), "")
	wantCode(t, env.svc.RegisterTargets(ctx, api.ARN, targetsOn("198.18.1.32", 401, 1)), CodeTooManyTargets)
}

func TestRuleQuotas(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	alb, err := env.svc.CreateLoadBalancer(ctx, CreateLoadBalancerInput{Name: "app", Subnets: []string{"subnet-a"}})
	wantCode(t, err, "")
	web := env.tg(t, "web", "HTTP")
	l1 := env.listener(t, alb.ARN, web.ARN, "HTTP", 80)
	l2 := env.listener(t, alb.ARN, web.ARN, "HTTP", 81)
	fwd := []Action{{Type: ActionForward, TargetGroupARN: web.ARN}}
	rule := func(l string, prio int32, conds ...RuleCondition) error {
		_, err := env.svc.CreateRule(ctx, CreateRuleInput{ListenerARN: l, Priority: prio, Conditions: conds, Actions: fwd})
		return err
	}
	path := func(values ...string) RuleCondition { return RuleCondition{Field: "path-pattern", Values: values} }

	wantCode(t, rule(l1.ARN, 1, path("/a", "/b", "/c"), RuleCondition{Field: "host-header", Values: []string{"a.example", "b.example"}}), "")
	wantCode(t, rule(l1.ARN, 2, path("/a", "/b", "/c"), RuleCondition{Field: "host-header", Values: []string{"a.example", "b.example", "c.example"}}), CodeValidationError)
	wantCode(t, rule(l1.ARN, 2, path("/a*", "/b*", "/c?"), RuleCondition{Field: "host-header", Values: []string{"*.a.example", "*.b.example"}}), "")
	wantCode(t, rule(l1.ARN, 3, path("/a*", "/b*", "/c??"), RuleCondition{Field: "host-header", Values: []string{"*.a.example", "*.b.example"}}), CodeValidationError)

	// Rules count per load balancer, over its listeners.
	for i := 3; i <= MaxRulesPerLoadBalancer; i++ {
		l := l1.ARN
		if i%2 == 0 {
			l = l2.ARN
		}
		wantCode(t, rule(l, int32(i), path(fmt.Sprintf("/%d", i))), "")
	}
	wantCode(t, rule(l2.ARN, 1000, path("/one-too-many")), "TooManyRules")
}

func TestLoadBalancerQuota(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	for i := range MaxLoadBalancersPerType {
		_, err := env.svc.CreateLoadBalancer(ctx, CreateLoadBalancerInput{Name: fmt.Sprintf("net-%d", i), Type: TypeNetwork, Subnets: []string{"subnet-a"}})
		wantCode(t, err, "")
	}
	_, err := env.svc.CreateLoadBalancer(ctx, CreateLoadBalancerInput{Name: "net-extra", Type: TypeNetwork, Subnets: []string{"subnet-a"}})
	wantCode(t, err, "TooManyLoadBalancers")
	_, err = env.svc.CreateLoadBalancer(ctx, CreateLoadBalancerInput{Name: "app", Type: TypeApplication, Subnets: []string{"subnet-a"}})
	wantCode(t, err, "")
}

// TestRaisedLoadBalancerQuota: a configured quota (kelb server's
// --max-load-balancers-per-type) replaces AWS's default, in
// CreateLoadBalancer and in DescribeAccountLimits.
func TestRaisedLoadBalancerQuota(t *testing.T) {
	const quota = MaxLoadBalancersPerType + 2
	env := newTestEnv(t, func(c *Config) { c.MaxLoadBalancersPerType = quota })
	ctx := context.Background()
	for i := range quota {
		_, err := env.svc.CreateLoadBalancer(ctx, CreateLoadBalancerInput{Name: fmt.Sprintf("net-%d", i), Type: TypeNetwork, Subnets: []string{"subnet-a"}})
		wantCode(t, err, "")
	}
	_, err := env.svc.CreateLoadBalancer(ctx, CreateLoadBalancerInput{Name: "net-extra", Type: TypeNetwork, Subnets: []string{"subnet-a"}})
	wantCode(t, err, "TooManyLoadBalancers")
	limits, err := env.svc.DescribeAccountLimits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range limits {
		if (l.Name == "network-load-balancers" || l.Name == "application-load-balancers") && l.Max != fmt.Sprint(quota) {
			t.Errorf("DescribeAccountLimits: %s = %s, want %d", l.Name, l.Max, quota)
		}
	}
}

func TestCertificateQuota(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	var certs []Certificate
	err := env.store.Update(ctx, func(tx store.Tx) error {
		for i := range MaxCertificatesPerLoadBalancer + 3 {
			arn := fmt.Sprintf("arn:aws:acm:us-west-2:123456789012:certificate/%04d", i)
			certs = append(certs, Certificate{ARN: arn})
			if err := tx.Put(certstore.Kind, arn, []byte("{}")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	alb, err := env.svc.CreateLoadBalancer(ctx, CreateLoadBalancerInput{Name: "app", Subnets: []string{"subnet-a"}})
	wantCode(t, err, "")
	web := env.tg(t, "web", "HTTP")
	listener := func(port int32, cert Certificate) Listener {
		l, err := env.svc.CreateListener(ctx, CreateListenerInput{LoadBalancerARN: alb.ARN, Protocol: "HTTPS", Port: port,
			Certificates: []Certificate{cert}, DefaultActions: []Action{{Type: ActionForward, TargetGroupARN: web.ARN}}})
		wantCode(t, err, "")
		return l
	}
	// Default certificates do not count; the others count over all of the
	// load balancer's listeners.
	l1, l2 := listener(443, certs[0]), listener(8443, certs[1])
	_, err = env.svc.AddListenerCertificates(ctx, l1.ARN, certs[2:22])
	wantCode(t, err, "")
	_, err = env.svc.AddListenerCertificates(ctx, l2.ARN, certs[22:27])
	wantCode(t, err, "")
	_, err = env.svc.AddListenerCertificates(ctx, l2.ARN, certs[27:28])
	wantCode(t, err, "TooManyCertificates")
	got, err := env.svc.DescribeListeners(ctx, DescribeListenersInput{ListenerARNs: []string{l2.ARN}})
	wantCode(t, err, "")
	if n := len(got[0].Certificates); n != 6 {
		t.Errorf("listener has %d certificates after the refused call, want 6", n)
	}
}
