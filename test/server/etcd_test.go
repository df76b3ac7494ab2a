package server_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/elb/store/etcdtest"
)

// etcdStore returns the flags of a kelb server on srv's etcd, a fleet node
// with a name of its own (extra may name it).
func etcdStore(srv *etcdtest.Server, extra ...string) serverOptions {
	name := fmt.Sprintf("node-%d", fleetNodes.Add(1))
	return serverOptions{extraArgs: append([]string{"--store", "etcd", "--etcd-endpoints", srv.Endpoint, "--etcd-prefix", "/kelb-e2e/", "--node-name", name}, extra...)}
}

// fleetNodes numbers the fleet nodes tests start.
var fleetNodes atomic.Int32

// TestEtcdStoreSharedByTwoServers runs two kelb servers (two fleet nodes)
// on one etcd: what is created through one's API is described by the
// other's, and reaches the other's DNS and health checker through its
// watch.
func TestEtcdStoreSharedByTwoServers(t *testing.T) {
	t.Parallel()
	tn := newNet()
	srv := etcdtest.Start(t, etcdtest.Options{})
	a := startServer(t, tn, etcdStore(srv))
	b := startServer(t, tn, etcdStore(srv))
	ctx := context.Background()

	lbOut, err := a.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String("shared"), Type: types.LoadBalancerTypeEnumNetwork, Scheme: types.LoadBalancerSchemeEnumInternal,
	})
	if err != nil {
		t.Fatalf("CreateLoadBalancer through the first server: %v", err)
	}
	lb := lbOut.LoadBalancers[0]
	desc, err := b.ELB.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"shared"}})
	if err != nil {
		t.Fatalf("DescribeLoadBalancers through the second server: %v", err)
	}
	if len(desc.LoadBalancers) != 1 || aws.ToString(desc.LoadBalancers[0].LoadBalancerArn) != aws.ToString(lb.LoadBalancerArn) ||
		aws.ToString(desc.LoadBalancers[0].DNSName) != aws.ToString(lb.DNSName) {
		t.Fatalf("second server describes %+v, want the load balancer %s created through the first", desc.LoadBalancers, aws.ToString(lb.LoadBalancerArn))
	}

	// The other way round, and a target that the first server's health
	// checker learns of through its watch.
	backend := startEchoBackend(t, "target-a", tn.backend("a", 1)+":7000")
	tgOut, err := b.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String("shared"), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(7000),
		TargetType: types.TargetTypeEnumIp, VpcId: aws.String("vpc-0ce1b000000000000"),
		HealthCheckIntervalSeconds: aws.Int32(5), HealthyThresholdCount: aws.Int32(2),
	})
	if err != nil {
		t.Fatalf("CreateTargetGroup through the second server: %v", err)
	}
	tg := aws.ToString(tgOut.TargetGroups[0].TargetGroupArn)
	if _, err := b.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(tg), Targets: []types.TargetDescription{ipTarget(t, backend.Addr)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ELB.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancerArn, Protocol: types.ProtocolEnumTcp, Port: aws.Int32(7000),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}},
	}); err != nil {
		t.Fatalf("CreateListener through the first server: %v", err)
	}
	for _, s := range []*kelbServer{a, b} {
		waitHealth(t, s, tg, backend.Addr, "healthy", 30*time.Second)
	}
	// DNS of both servers answers the load balancer's name.
	for i, s := range []*kelbServer{a, b} {
		eventually(t, 10*time.Second, fmt.Sprintf("server %d's DNS answers %s", i, aws.ToString(lb.DNSName)), func() error {
			addrs, err := resolveA(s.DNSAddr, aws.ToString(lb.DNSName))
			if err != nil {
				return err
			}
			if len(addrs) == 0 {
				return errNotYetf("no address")
			}
			return nil
		})
	}
}

// TestEtcdStoreConcurrentWriters: clients of two kelb servers on one etcd
// register targets in one target group at the same time, each call a
// read-modify-write of the group. Every registration is kept: the two
// processes' transactions serialize in etcd.
func TestEtcdStoreConcurrentWriters(t *testing.T) {
	t.Parallel()
	tn := newNet()
	srv := etcdtest.Start(t, etcdtest.Options{})
	servers := []*kelbServer{startServer(t, tn, etcdStore(srv)), startServer(t, tn, etcdStore(srv))}
	ctx := context.Background()
	tgOut, err := servers[0].ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String("race"), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(7000),
		TargetType: types.TargetTypeEnumIp, VpcId: aws.String("vpc-0ce1b000000000000"),
	})
	if err != nil {
		t.Fatal(err)
	}
	tg := tgOut.TargetGroups[0].TargetGroupArn
	const clientsPerServer, callsPerClient = 4, 10
	want := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for si, s := range servers {
		for c := range clientsPerServer {
			wg.Go(func() {
				for i := range callsPerClient {
					target := fmt.Sprintf("%s:%d", tn.backend("a", 1), 10000+si*1000+c*100+i)
					_, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tg, Targets: []types.TargetDescription{ipTarget(t, target)}})
					if err != nil {
						t.Errorf("RegisterTargets %s through server %d: %v", target, si, err)
						continue
					}
					mu.Lock()
					want[target] = true
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	for si, s := range servers {
		health, err := targetHealth(ctx, s, aws.ToString(tg))
		if err != nil {
			t.Fatal(err)
		}
		var missing []string
		for target := range want {
			if _, ok := health[target]; !ok {
				missing = append(missing, target)
			}
		}
		if len(missing) > 0 || len(health) != len(want) {
			t.Errorf("server %d: target group has %d targets, want the %d registered; missing %v", si, len(health), len(want), missing)
		}
	}
}

// TestEtcdStoreUnavailable stops etcd under a running kelb server: writes
// fail with ServiceUnavailable naming etcd and leave nothing behind, while
// the load balancer keeps forwarding and DNS keeps answering. Once etcd is
// back, writes succeed again.
func TestEtcdStoreUnavailable(t *testing.T) {
	t.Parallel()
	tn := newNet()
	srv := etcdtest.Start(t, etcdtest.Options{})
	s := startServer(t, tn, etcdStore(srv, "--etcd-request-timeout", "1s"))
	backend := startEchoBackend(t, "target-a", tn.backend("a", 1)+":7000")
	st := createStack(t, s, stackSpec{name: "static", port: 7000, tgPort: 7000, targets: []types.TargetDescription{ipTarget(t, backend.Addr)}})
	waitHealth(t, s, st.TG, backend.Addr, "healthy", 30*time.Second)
	if got, err := whoAnswers(st.listenerAddr("a", 7000)); err != nil || got != "target-a" {
		t.Fatalf("before etcd stops: %q, %v", got, err)
	}

	srv.Stop()
	ctx := context.Background()
	once := func(o *elbv2.Options) { o.RetryMaxAttempts = 1 }
	_, err := s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String("while-down"), Type: types.LoadBalancerTypeEnumNetwork, Scheme: types.LoadBalancerSchemeEnumInternal,
	}, once)
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ServiceUnavailable" || !strings.Contains(apiErr.ErrorMessage(), "etcd at "+srv.Endpoint) {
		t.Fatalf("CreateLoadBalancer with etcd stopped: %v, want ServiceUnavailable naming etcd at %s", err, srv.Endpoint)
	}
	t.Logf("with etcd stopped: %v", err)
	// The last configuration keeps serving: new connections reach the
	// target, DNS answers.
	for i := range 5 {
		if got, err := whoAnswers(st.listenerAddr("a", 7000)); err != nil || got != "target-a" {
			t.Fatalf("connection %d with etcd stopped: %q, %v", i, got, err)
		}
	}
	if addrs, err := resolveA(s.DNSAddr, st.DNSName); err != nil || len(addrs) == 0 {
		t.Fatalf("DNS with etcd stopped: %v, %v", addrs, err)
	}

	srv.Restart(t)
	eventually(t, 30*time.Second, "CreateLoadBalancer once etcd is back", func() error {
		_, err := s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
			Name: aws.String("after"), Type: types.LoadBalancerTypeEnumNetwork, Scheme: types.LoadBalancerSchemeEnumInternal,
		}, once)
		return err
	})
	out, err := s.ELB.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, lb := range out.LoadBalancers {
		names = append(names, aws.ToString(lb.LoadBalancerName))
	}
	slices.Sort(names)
	if diff := cmp.Diff([]string{"after", "static"}, names); diff != "" {
		t.Errorf("load balancers after etcd is back (-want +got):\n%s", diff)
	}
	if got, err := whoAnswers(st.listenerAddr("a", 7000)); err != nil || got != "target-a" {
		t.Errorf("after etcd is back: %q, %v", got, err)
	}
}

// TestStoreMigrate copies a kelb server's bbolt store into etcd with kelb
// store migrate; a server on etcd then describes the same load balancer.
func TestStoreMigrate(t *testing.T) {
	t.Parallel()
	tn := newNet()
	// The servers on etcd will open the certificate authority this one
	// makes: they need its certificate key, as kelb store migrate's users
	// copy kelb.db.key along.
	s := startServer(t, tn, serverOptions{fleetKey: true})
	lbOut, err := s.ELB.CreateLoadBalancer(context.Background(), &elbv2.CreateLoadBalancerInput{
		Name: aws.String("migrated"), Type: types.LoadBalancerTypeEnumNetwork, Scheme: types.LoadBalancerSchemeEnumInternal,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.stop(syscall.SIGTERM)

	srv := etcdtest.Start(t, etcdtest.Options{})
	migrate := func() (string, error) {
		out, err := exec.Command(kelbBin, "store", "migrate", "--from", filepath.Join(s.dataDir, "kelb.db"),
			"--etcd-endpoints", srv.Endpoint, "--etcd-prefix", "/kelb-e2e/").CombinedOutput()
		return string(out), err
	}
	out, err := migrate()
	if err != nil || !strings.HasPrefix(out, "copied ") {
		t.Fatalf("kelb store migrate: %v\n%s", err, out)
	}
	t.Logf("kelb store migrate: %s", out)
	if out, err := migrate(); err == nil || !strings.Contains(out, "not empty") {
		t.Errorf("second kelb store migrate: %v\n%s; want a refusal, the prefix is not empty", err, out)
	}

	e := startServer(t, tn, etcdStore(srv))
	desc, err := e.ELB.DescribeLoadBalancers(context.Background(), &elbv2.DescribeLoadBalancersInput{Names: []string{"migrated"}})
	if err != nil {
		t.Fatalf("DescribeLoadBalancers on etcd: %v", err)
	}
	if len(desc.LoadBalancers) != 1 || aws.ToString(desc.LoadBalancers[0].LoadBalancerArn) != aws.ToString(lbOut.LoadBalancers[0].LoadBalancerArn) {
		t.Errorf("server on etcd describes %+v, want %s", desc.LoadBalancers, aws.ToString(lbOut.LoadBalancers[0].LoadBalancerArn))
	}
}

// BenchmarkAPI measures the ELBv2 API of a kelb server on each store:
// writes (AddTags on one load balancer; each answers once its change has
// reached the data plane), the same from 8 clients at once, and reads
// (DescribeLoadBalancers).
func BenchmarkAPI(b *testing.B) {
	for _, backend := range []string{"bolt", "etcd"} {
		b.Run(backend, func(b *testing.B) {
			o := serverOptions{}
			if backend == "etcd" {
				o = etcdStore(etcdtest.Start(b, etcdtest.Options{}))
			}
			s := startServer(b, newNet(), o)
			ctx := context.Background()
			lb, err := s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
				Name: aws.String("bench"), Type: types.LoadBalancerTypeEnumNetwork, Scheme: types.LoadBalancerSchemeEnumInternal,
			})
			if err != nil {
				b.Fatal(err)
			}
			arn := lb.LoadBalancers[0].LoadBalancerArn
			var n atomic.Int64
			addTag := func() error {
				_, err := s.ELB.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{aws.ToString(arn)},
					Tags: []types.Tag{{Key: aws.String("n"), Value: aws.String(fmt.Sprint(n.Add(1)))}}})
				return err
			}
			b.Run("AddTags", func(b *testing.B) {
				for b.Loop() {
					if err := addTag(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("AddTags-8-clients", func(b *testing.B) {
				b.SetParallelism(4) // 8 goroutines on 2 cores
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := addTag(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
			b.Run("DescribeLoadBalancers", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.ELB.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{aws.ToString(arn)}}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
