package elb

import (
	"context"
	"testing"

	"github.com/kelb-io/kelb/internal/secgroup"
)

// TestSharedWorldCopies checks that what the describe calls return, which
// they read from the world they share, is the caller's own: changing it
// changes nothing the next call describes.
func TestSharedWorldCopies(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	lb := env.nlb(t, "web")
	tg := env.tg(t, "web", "TCP")
	l := env.listener(t, lb.ARN, tg.ARN, "TCP", 80)
	if err := env.svc.RegisterTargets(ctx, tg.ARN, []TargetDescription{{ID: "198.18.0.10"}}); err != nil {
		t.Fatal(err)
	}

	describe := func() ([]LoadBalancer, []TargetGroupDescription, []Listener, []TargetHealthDescription) {
		t.Helper()
		lbs, err := env.svc.DescribeLoadBalancers(ctx, DescribeLoadBalancersInput{Names: []string{"web"}})
		if err != nil {
			t.Fatal(err)
		}
		tgs, err := env.svc.DescribeTargetGroups(ctx, DescribeTargetGroupsInput{LoadBalancerARN: lb.ARN})
		if err != nil {
			t.Fatal(err)
		}
		ls, err := env.svc.DescribeListeners(ctx, DescribeListenersInput{LoadBalancerARN: lb.ARN})
		if err != nil {
			t.Fatal(err)
		}
		th, err := env.svc.DescribeTargetHealth(ctx, tg.ARN, nil)
		if err != nil {
			t.Fatal(err)
		}
		return lbs, tgs, ls, th
	}
	lbs, tgs, ls, th := describe()
	if len(lbs) != 1 || len(tgs) != 1 || len(ls) != 1 || len(th) != 1 || len(tgs[0].Targets) != 1 {
		t.Fatalf("described %d load balancers, %d target groups, %d listeners, %d targets", len(lbs), len(tgs), len(ls), len(th))
	}

	lbs[0].Attributes["deletion_protection.enabled"] = "changed"
	lbs[0].Name = "changed"
	tgs[0].Attributes[attrDeregistrationDelay] = "1"
	tgs[0].Targets[0].ID = "198.18.0.99"
	tgs[0].LoadBalancerARNs[0] = "changed"
	ls[0].DefaultActions[0].TargetGroupARN = "changed"
	ls[0].DefaultActions[0].Forward.TargetGroups[0].Weight = 7

	lbs, tgs, ls, th = describe()
	if lbs[0].Attributes["deletion_protection.enabled"] == "changed" || lbs[0].Name != "web" ||
		tgs[0].Attributes[attrDeregistrationDelay] == "1" || tgs[0].Targets[0].ID != "198.18.0.10" || tgs[0].LoadBalancerARNs[0] != lb.ARN ||
		ls[0].DefaultActions[0].TargetGroupARN != tg.ARN || ls[0].DefaultActions[0].Forward.TargetGroups[0].Weight == 7 {
		t.Errorf("changing described resources changed what the next call describes:\n%+v\n%+v\n%+v", lbs[0], tgs[0], ls[0])
	}
	if ls[0].ARN != l.ARN {
		t.Errorf("listener %s, want %s", ls[0].ARN, l.ARN)
	}
}

// TestSharedWorldFollowsWrites checks that a describe call sees every
// write committed before it, including one of another kelb server
// sharing the store (a fleet).
func TestSharedWorldFollowsWrites(t *testing.T) {
	env := newTestEnv(t)
	other, err := New(env.svc.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	lb := env.nlb(t, "web")
	tg := env.tg(t, "web", "TCP")
	env.listener(t, lb.ARN, tg.ARN, "TCP", 80)

	attr := func() string {
		t.Helper()
		out, err := env.svc.DescribeTargetGroups(ctx, DescribeTargetGroupsInput{TargetGroupARNs: []string{tg.ARN}})
		if err != nil {
			t.Fatal(err)
		}
		return out[0].Attributes[attrDeregistrationDelay]
	}
	if got := attr(); got != "300" {
		t.Fatalf("deregistration delay %q, want the default 300", got)
	}
	for _, writer := range []*Service{env.svc, other} {
		want := "12"
		if writer == other {
			want = "34"
		}
		if _, err := writer.ModifyTargetGroupAttributes(ctx, tg.ARN, []Attribute{{Key: attrDeregistrationDelay, Value: want}}); err != nil {
			t.Fatal(err)
		}
		if got := attr(); got != want {
			t.Errorf("deregistration delay %q after a write, want %q", got, want)
		}
	}
	if err := other.DeleteLoadBalancer(ctx, lb.ARN); err != nil {
		t.Fatal(err)
	}
	_, err = env.svc.DescribeListeners(ctx, DescribeListenersInput{LoadBalancerARN: lb.ARN})
	wantCode(t, err, CodeLoadBalancerNotFound)
	th, err := env.svc.DescribeTargetHealth(ctx, tg.ARN, nil)
	if err != nil || len(th) != 0 {
		t.Errorf("target health after the load balancer's deletion: %v, %v", th, err)
	}
}

// TestSnapshotFollowsWrites checks that each Snapshot holds the writes
// committed before it, security groups included, and that a later one
// leaves an earlier State as it was.
func TestSnapshotFollowsWrites(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	groups := secgroup.New(secgroup.Config{Store: env.store, VpcID: DefaultVpcID, AccountID: DefaultAccountID})
	lb := env.nlb(t, "web")
	tg := env.tg(t, "web", "TCP")
	env.listener(t, lb.ARN, tg.ARN, "TCP", 80)
	sg, err := groups.Create(ctx, secgroup.CreateInput{Name: "web", Description: "web"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := env.svc.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.TargetGroups) != 1 || len(first.TargetGroups[0].Targets) != 0 || len(first.SecurityGroups) != 1 || len(first.SecurityGroups[0].Ingress) != 0 {
		t.Fatalf("first snapshot: %d target groups, %d security groups", len(first.TargetGroups), len(first.SecurityGroups))
	}

	if err := env.svc.RegisterTargets(ctx, tg.ARN, []TargetDescription{{ID: "198.18.0.10"}}); err != nil {
		t.Fatal(err)
	}
	port := int32(80)
	if _, _, err := groups.Authorize(ctx, secgroup.Ref{ID: sg.ID}, false, []secgroup.Permission{{Protocol: "tcp", FromPort: &port, ToPort: &port,
		Peers: []secgroup.Peer{{CIDR: "198.18.0.0/15"}}}}); err != nil {
		t.Fatal(err)
	}
	second, err := env.svc.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second.Revision <= first.Revision || len(second.TargetGroups[0].Targets) != 1 || len(second.SecurityGroups[0].Ingress) != 1 {
		t.Errorf("second snapshot at revision %d (first %d): targets %v, ingress %v", second.Revision, first.Revision,
			second.TargetGroups[0].Targets, second.SecurityGroups[0].Ingress)
	}
	if len(first.TargetGroups[0].Targets) != 0 || len(first.SecurityGroups[0].Ingress) != 0 || len(first.Listeners) != 1 || len(second.Listeners) != 1 {
		t.Errorf("the first snapshot changed: targets %v, ingress %v", first.TargetGroups[0].Targets, first.SecurityGroups[0].Ingress)
	}
}
