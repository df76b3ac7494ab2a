package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/kelb-io/kelb/internal/devcluster"
	"github.com/kelb-io/kelb/test/e2e/framework"
)

// TestFleetSeed000 runs seed 000's walkthrough, unchanged, on the fleet,
// and checks every lb node's API gives the same answers.
func TestFleetSeed000(t *testing.T) {
	env := framework.Get(t)
	framework.Seed000(t, env)
	clients := nodeClients(t, env)
	framework.Eventually(t, time.Minute, func() error { return sameAnswers(t.Context(), clients) })
}

// TestFleetNodeKill kills lb1 (kill -9) under a steady load on zone a's
// address, which lb1 and lb3 share: requests through lb3 never stop, the
// router withdraws lb1 and its share goes to lb3, long-lived connections
// through lb3 and lb2 are untouched; lb1 restarts and rejoins with the
// same configuration.
func TestFleetNodeKill(t *testing.T) {
	env, lb := theLB(t)
	st := env.State(t)
	viaLB3 := openLongLived(t, env, st, lb.Addr[zoneA], "lb3")
	viaLB2 := openLongLived(t, env, st, lb.Addr[zoneB], "lb2")

	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	var (
		wg        sync.WaitGroup
		longErrs  []error
		longCount int
	)
	// New connection per request, one every 15 ms (about 60/s), 30 s.
	loaded := loadInBackground(ctx, env, st, lb.Addr[zoneA], 30*time.Second)
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Second):
			}
			for _, l := range []*longLived{viaLB3, viaLB2} {
				longCount++
				if err := l.get(); err != nil {
					longErrs = append(longErrs, err)
				}
			}
		}
	}()
	time.Sleep(8 * time.Second)
	killed := env.KillProcess(t, devcluster.LBProcessName(1))
	killedAt := time.Now()
	t.Logf("killed lb1 (pid %d)", killed.PID)
	var withdrawnAt time.Time
	if st.Options.Fleet.BGP {
		framework.Eventually(t, 30*time.Second, func() error {
			hops, err := routerNextHops(ctx, st, lb.Addr[zoneA])
			if err != nil {
				return err
			}
			if strings.Contains(hops, devcluster.LBRouterIP(1)+" ") {
				return fmt.Errorf("the router still routes %s to lb1: %s", lb.Addr[zoneA], hops)
			}
			if !strings.Contains(hops, devcluster.LBRouterIP(3)) {
				return fmt.Errorf("the router does not route %s to lb3: %q", lb.Addr[zoneA], hops)
			}
			return nil
		})
		withdrawnAt = time.Now()
	}
	results := loaded()
	close(done)
	wg.Wait()

	all := summarize(results)
	before := summarize(results[:len(results)-len(after(results, killedAt))])
	post := after(results, killedAt)
	s := summarize(post)
	elapsed := results[len(results)-1].at.Sub(results[0].at).Seconds()
	t.Logf("load: %d requests in %.1f s (%.0f/s), %d failed; before the kill by node %v; after it by node %v",
		all.total, elapsed, float64(all.total)/elapsed, all.failed, before.byNode, s.byNode)
	resume := 0.0
	if !s.lastFail.IsZero() {
		resume = s.lastFail.Sub(killedAt).Seconds()
	}
	t.Logf("FIGURE node death to traffic resuming: %.2f s (last failed request after the kill); requests failed per node lost: %d; longest run of failures: %d", resume, s.failed, s.longestFailRun)
	if !withdrawnAt.IsZero() {
		t.Logf("FIGURE node death to the router's withdrawal seen: %.2f s", withdrawnAt.Sub(killedAt).Seconds())
	}
	if before.byNode["lb1"] == 0 || before.byNode["lb3"] == 0 {
		t.Errorf("before the kill, requests went through %v; want both lb1 and lb3 (ECMP)", before.byNode)
	}
	if s.byNode["lb3"] == 0 {
		t.Errorf("after the kill no request went through lb3: %v", s.byNode)
	}
	// Through lb3 traffic never stops: with half the flows on each node a
	// run of 30 failures is not bad luck.
	if s.longestFailRun >= 30 {
		t.Errorf("%d requests in a row failed after the kill: traffic stopped", s.longestFailRun)
	}
	// The dead node's share resumes: the last 100 requests all succeed.
	if tail := summarize(post[max(0, len(post)-100):]); tail.failed > 0 {
		t.Errorf("%d of the last %d requests failed: lb1's share did not resume", tail.failed, tail.total)
	}
	if len(longErrs) > 0 {
		t.Errorf("long-lived connections through lb3 and lb2: %d of %d requests failed: %v", len(longErrs), longCount, errors.Join(longErrs...))
	}

	restartNode(t, env, 1)
	// It rejoins: requests go through it again, and its API answers as the
	// others' do.
	framework.Eventually(t, 2*time.Minute, func() error {
		for range 20 {
			if r := request(t.Context(), env, st, lb.Addr[zoneA]); r.err == nil && r.node == "lb1" {
				return nil
			}
		}
		return errors.New("no request went through lb1 after its restart")
	})
	clients := nodeClients(t, env)
	framework.Eventually(t, time.Minute, func() error { return sameAnswers(t.Context(), clients) })
}

// TestFleetZoneDown kills every node of zone b (lb2): the DNS of the
// others stops answering zone b's address, and zone a's clients see no
// failure; lb2 comes back and so does its address.
func TestFleetZoneDown(t *testing.T) {
	env, lb := theLB(t)
	st := env.State(t)
	if !st.Options.Fleet.NodeName {
		t.Skip("this kelb server has no --node-name/--node-zones: every node serves every zone")
	}
	hostB, _, _ := net.SplitHostPort(lb.Addr[zoneB])
	hostA, _, _ := net.SplitHostPort(lb.Addr[zoneA])
	framework.Eventually(t, time.Minute, func() error {
		return dnsAnswers(t.Context(), env, st, lb.Hostname, []int{1, 2, 3}, hostA+","+hostB)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	loaded := loadInBackground(ctx, env, st, lb.Addr[zoneA], 15*time.Second)
	time.Sleep(3 * time.Second)
	env.KillProcess(t, devcluster.LBProcessName(2))
	killedAt := time.Now()
	framework.Eventually(t, time.Minute, func() error {
		return dnsAnswers(t.Context(), env, st, lb.Hostname, []int{1, 3}, hostA)
	})
	t.Logf("FIGURE zone down to DNS answering without it: %.2f s", time.Since(killedAt).Seconds())
	results := loaded()
	s := summarize(results)
	t.Logf("zone a load while zone b died: %d requests, %d failed, by node %v", s.total, s.failed, s.byNode)
	if s.failed > 0 {
		t.Errorf("%d of %d requests to zone a failed while zone b died", s.failed, s.total)
	}
	restartNode(t, env, 2)
	framework.Eventually(t, time.Minute, func() error {
		return dnsAnswers(t.Context(), env, st, lb.Hostname, []int{1, 2, 3}, hostA+","+hostB)
	})
}

// dnsAnswers checks that the DNS of each of nodes answers name with want
// (sorted addresses, comma-separated).
func dnsAnswers(ctx context.Context, env *framework.Env, st *devcluster.State, name string, nodes []int, want string) error {
	for _, i := range nodes {
		got, err := lookup(ctx, env, st, i, name)
		if err != nil {
			return fmt.Errorf("lb%d's DNS: %w", i, err)
		}
		if strings.Join(got, ",") != want {
			return fmt.Errorf("lb%d's DNS answers %s with %v, want %s", i, name, got, want)
		}
	}
	return nil
}

// addTag writes to the configuration through c: a tag on the load
// balancer.
func addTag(ctx context.Context, c *elbv2.Client, arn, value string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, err := c.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{arn},
		Tags: []types.Tag{{Key: aws.String("kelb-e2e-fleet"), Value: aws.String(value)}}})
	return err
}

// tagOn reads the tag addTag writes.
func tagOn(ctx context.Context, c *elbv2.Client, arn string) (string, error) {
	out, err := c.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{arn}})
	if err != nil {
		return "", err
	}
	for _, d := range out.TagDescriptions {
		for _, tag := range d.Tags {
			if aws.ToString(tag.Key) == "kelb-e2e-fleet" {
				return aws.ToString(tag.Value), nil
			}
		}
	}
	return "", nil
}

// TestFleetEtcdMemberLost stops one etcd member: the API keeps writing
// and traffic keeps flowing.
func TestFleetEtcdMemberLost(t *testing.T) {
	env, lb := theLB(t)
	st := env.State(t)
	clients := nodeClients(t, env)
	env.KillProcess(t, devcluster.FleetEtcdName(3))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	loaded := loadInBackground(ctx, env, st, lb.Addr[zoneA], 10*time.Second)
	// A write may wait out a leader election, then every write succeeds.
	framework.Eventually(t, 30*time.Second, func() error { return addTag(ctx, clients[0], lb.ARN, "member-lost-0") })
	for n := 1; n <= 10; n++ {
		c := clients[n%len(clients)]
		if err := addTag(ctx, c, lb.ARN, fmt.Sprintf("member-lost-%d", n)); err != nil {
			t.Errorf("write %d through lb%d with one etcd member lost: %v", n, n%len(clients)+1, err)
		}
	}
	results := loaded()
	if s := summarize(results); s.failed > 0 {
		t.Errorf("%d of %d requests failed with one etcd member lost", s.failed, s.total)
	}
	env.StartFleetProcess(t, devcluster.FleetEtcdName(3))
	waitEtcdHealthy(t, env, st, 3)
}

// TestFleetEtcdQuorumLost stops two of the three etcd members: traffic
// keeps flowing, API writes are refused with ServiceUnavailable; with the
// members back, writes succeed and every node converges.
func TestFleetEtcdQuorumLost(t *testing.T) {
	env, lb := theLB(t)
	st := env.State(t)
	clients := nodeClients(t, env)
	env.KillProcess(t, devcluster.FleetEtcdName(2))
	env.KillProcess(t, devcluster.FleetEtcdName(3))
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	loaded := loadInBackground(ctx, env, st, lb.Addr[zoneA], 10*time.Second)
	for i, c := range clients {
		err := addTag(ctx, c, lb.ARN, "quorum-lost")
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ServiceUnavailable" {
			t.Errorf("write through lb%d without etcd quorum: %v, want ServiceUnavailable", i+1, err)
		} else {
			t.Logf("lb%d refuses the write: %s: %s", i+1, apiErr.ErrorCode(), apiErr.ErrorMessage())
		}
	}
	results := loaded()
	if s := summarize(results); s.failed > 0 {
		t.Errorf("%d of %d requests failed without etcd quorum", s.failed, s.total)
	}
	env.StartFleetProcess(t, devcluster.FleetEtcdName(2))
	env.StartFleetProcess(t, devcluster.FleetEtcdName(3))
	waitEtcdHealthy(t, env, st, 2)
	waitEtcdHealthy(t, env, st, 3)
	framework.Eventually(t, time.Minute, func() error { return addTag(ctx, clients[1], lb.ARN, "quorum-back") })
	framework.Eventually(t, time.Minute, func() error {
		for i, c := range clients {
			v, err := tagOn(ctx, c, lb.ARN)
			if err != nil || v != "quorum-back" {
				return fmt.Errorf("lb%d: tag %q, err %v", i+1, v, err)
			}
		}
		return sameAnswers(ctx, clients)
	})
	if s := summarize(load(ctx, env, st, lb.Addr[zoneA], 15*time.Millisecond, 2*time.Second)); s.failed > 0 {
		t.Errorf("%d of %d requests failed after quorum came back", s.failed, s.total)
	}
}

func waitEtcdHealthy(t *testing.T, env *framework.Env, st *devcluster.State, m int) {
	t.Helper()
	framework.Eventually(t, time.Minute, func() error {
		_, err := env.Shell(t.Context(), "", "curl", "-sf", "--max-time", "2", devcluster.FleetEtcdHealthURL(m))
		return err
	})
}

// TestFleetFigures measures, without asserting times: how long an API
// write (a new listener) on lb1 takes to reach every node's data plane,
// and API writes per second on the fleet's etcd.
func TestFleetFigures(t *testing.T) {
	env, lb := theLB(t)
	st := env.State(t)
	clients := nodeClients(t, env)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	ls, err := clients[0].DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(lb.ARN)})
	if err != nil || len(ls.Listeners) == 0 {
		t.Fatalf("describe listeners: %v", err)
	}
	tg := ls.Listeners[0].DefaultActions[0].TargetGroupArn
	// The Service's load balancer has kelb controller's managed frontend
	// security group, which admits the Service's ports only: open the
	// new listeners' ports in it, as a user of ELB would.
	open := `sg=$(aws elbv2 describe-load-balancers --load-balancer-arns "$1" --query 'LoadBalancers[0].SecurityGroups[0]' --output text) &&
{ [ "$sg" = None ] || aws ec2 authorize-security-group-ingress --group-id "$sg" --protocol tcp --port 8081-8083 --cidr 0.0.0.0/0; }`
	if out, err := env.Shell(ctx, "", "sh", "-c", open, "open", lb.ARN); err != nil {
		t.Fatalf("open ports 8081-8083 in the load balancer's security group: %v\n%s", err, out)
	}
	for round, port := range []int32{8081, 8082, 8083} {
		start := time.Now()
		l, err := clients[0].CreateListener(ctx, &elbv2.CreateListenerInput{
			LoadBalancerArn: aws.String(lb.ARN), Port: aws.Int32(port), Protocol: types.ProtocolEnumTcp,
			DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: tg}},
		})
		if err != nil {
			t.Fatalf("create listener :%d: %v", port, err)
		}
		answered := time.Since(start)
		seen := map[string]time.Duration{}
		deadline := time.Now().Add(30 * time.Second)
		for len(seen) < 3 && time.Now().Before(deadline) {
			for _, z := range []string{zoneA, zoneB} {
				host, _, _ := net.SplitHostPort(lb.Addr[z])
				r := request(ctx, env, st, net.JoinHostPort(host, fmt.Sprint(port)))
				if r.err == nil {
					if _, ok := seen[r.node]; !ok {
						seen[r.node] = time.Since(start)
					}
				}
			}
		}
		var slowest time.Duration
		for _, d := range seen {
			slowest = max(slowest, d)
		}
		t.Logf("FIGURE round %d: CreateListener on lb1 answered in %d ms; each node's data plane forwarding the new listener after %v ms (slowest %d ms)",
			round+1, answered.Milliseconds(), msByNode(seen), slowest.Milliseconds())
		if len(seen) < 3 {
			t.Errorf("the new listener :%d reached only %v within 30 s", port, seen)
		}
		if _, err := clients[0].DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: l.Listeners[0].ListenerArn}); err != nil {
			t.Fatalf("delete listener: %v", err)
		}
	}

	// API writes on the fleet's three-member etcd, from one client in
	// turn through each node: a bounded loop, logged.
	const writes = 150
	start := time.Now()
	for n := range writes {
		if err := addTag(ctx, clients[n%len(clients)], lb.ARN, fmt.Sprint(n)); err != nil {
			t.Fatalf("write %d: %v", n, err)
		}
	}
	d := time.Since(start)
	t.Logf("FIGURE API writes (AddTags, one client, round-robin over the nodes) on the fleet's 3-member etcd: %d in %v = %.0f/s", writes, d.Round(time.Millisecond), writes/d.Seconds())
}

func msByNode(seen map[string]time.Duration) map[string]int64 {
	out := map[string]int64{}
	for n, d := range seen {
		out[n] = d.Milliseconds()
	}
	return out
}
