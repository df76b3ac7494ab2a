package server_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// TestALBFloodWithinDescriptorBudget runs kelb server with a descriptor
// limit of 2,048 and opens more connections to an ALB listener than the
// limit, each with a request head begun and never finished (the ALB's own
// cap, --alb-max-connections, is far above). ALB connections share the
// descriptor budget with the NLB flows: kelb keeps its descriptors under
// the limit less the reserve, and the API, DNS, a new NLB flow and a new
// ALB request keep working.
func TestALBFloodWithinDescriptorBudget(t *testing.T) {
	t.Parallel()
	requireTools(t, "prlimit")
	const (
		limit   = 2048
		reserve = 512
		flood   = 2500
	)
	tn := newNet()
	s := startServer(t, tn, serverOptions{
		wrap:      []string{"prlimit", fmt.Sprintf("--nofile=%d:%d", limit, limit), "--"},
		extraArgs: []string{"--fd-reserve", strconv.Itoa(reserve)},
	})
	m := regexp.MustCompile(`msg="flow bounds".* budget_slots=(\d+) `).FindStringSubmatch(s.allLogs())
	if m == nil {
		t.Fatalf("kelb server did not log its descriptor budget:\n%s", s.logTail(20))
	}
	slots, _ := strconv.Atoi(m[1])
	if slots < 1 || 2*slots > limit-reserve || flood <= slots {
		t.Fatalf("budget of %d slots for a limit of %d less %d reserved, flood of %d", slots, limit, reserve, flood)
	}

	tcpBackend := tn.backend("a", 1) + ":8080"
	startEchoBackend(t, "tcp-1", tcpBackend)
	tcpLB := createStack(t, s, stackSpec{name: "budget-tcp", port: 80, tgPort: 8080,
		targets: []types.TargetDescription{ipTarget(t, tcpBackend)}})
	albBackend := tn.backend("a", 2) + ":8080"
	startHTTPBackend(t, "alb-1", albBackend)
	alb := createALB(t, s, "budget-alb", albBackend)
	waitHealth(t, s, tcpLB.TG, tcpBackend, "healthy", 30*time.Second)
	pid := s.cmd.Process.Pid
	base := processFDs(t, pid)

	// The flood: connections from the client address, each with a head
	// begun (one that sent nothing waits in the kernel: TCP_DEFER_ACCEPT).
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(tn.client())}}
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	peak := base
	for i := range flood {
		c, err := d.Dial("tcp", alb.addr)
		if err != nil {
			t.Fatalf("ALB connection %d: %v", i, err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, "GET /flood HTTP/1.1\r\nHost: budget\r\n"); err != nil {
			t.Fatalf("ALB connection %d: %v", i, err)
		}
		if i%250 == 0 {
			peak = max(peak, processFDs(t, pid))
		}
	}
	time.Sleep(time.Second) // for kelb to accept the last of them
	peak = max(peak, processFDs(t, pid))

	ms, err := scrape(s.Metrics + "/metrics")
	if err != nil {
		t.Fatalf("metrics during the flood: %v", err)
	}
	active := ms.sum("kelb_alb_active_connections")
	evicted := ms.sum("kelb_alb_evicted_connections_total")
	t.Logf("kelb descriptors: %d before the flood, at most %d during it (limit %d, reserve %d, budget %d slots); ALB: %v active connections, %v evicted",
		base, peak, limit, reserve, slots, active, evicted)
	if peak > limit-reserve {
		t.Errorf("kelb holds %d descriptors: the reserve of %d out of %d is eaten into", peak, reserve, limit)
	}
	if active > float64(slots) {
		t.Errorf("%v ALB connections open, over the budget of %d", active, slots)
	}
	if evicted < float64(flood-slots) {
		t.Errorf("%v ALB connections evicted, want at least %d", evicted, flood-slots)
	}

	// With the flood's connections still open, everything else works.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.ELB.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{}); err != nil {
		t.Errorf("DescribeLoadBalancers during the flood: %v", err)
	}
	if addrs, err := resolveA(s.DNSAddr, tcpLB.DNSName); err != nil || len(addrs) == 0 {
		t.Errorf("DNS during the flood: %v %v", addrs, err)
	}
	c, err := dialEchoWith(ctx, d.DialContext, tcpLB.listenerAddr("a", 80))
	if err != nil {
		t.Fatalf("new NLB flow during the flood: %v", err)
	}
	defer c.Close()
	if err := c.roundTrip("still serving"); err != nil {
		t.Errorf("new NLB flow during the flood: %v", err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: d.DialContext}}
	resp, err := hc.Get("http://" + alb.addr + "/after-flood")
	if err != nil {
		t.Fatalf("new ALB request during the flood: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("new ALB request during the flood: status %d", resp.StatusCode)
	}
	if logs := s.allLogs(); strings.Contains(logs, "too many open files") {
		t.Errorf("kelb ran out of descriptors:\n%s", s.logTail(40))
	}
}

// albStack is an application load balancer createALB made.
type albStack struct {
	lb, tg string
	addr   string // the HTTP listener's host:port in the first zone
}

// createALB creates an application load balancer with an HTTP listener on
// port 80 forwarding to target, and waits for the target to be healthy.
func createALB(t *testing.T, s *kelbServer, name, target string) albStack {
	t.Helper()
	ctx := context.Background()
	lbOut, err := s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String(name), Type: types.LoadBalancerTypeEnumApplication})
	if err != nil {
		t.Fatal(err)
	}
	lb := lbOut.LoadBalancers[0]
	tgOut, err := s.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String(name), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(8080),
		TargetType: types.TargetTypeEnumIp, VpcId: aws.String("vpc-0ce1b000000000000"),
		HealthCheckIntervalSeconds: aws.Int32(5), HealthyThresholdCount: aws.Int32(2),
	})
	if err != nil {
		t.Fatal(err)
	}
	tg := aws.ToString(tgOut.TargetGroups[0].TargetGroupArn)
	if _, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(tg),
		Targets: []types.TargetDescription{ipTarget(t, target)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ELB.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancerArn, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}},
	}); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, s, tg, target, "healthy", 30*time.Second)
	return albStack{lb: aws.ToString(lb.LoadBalancerArn), tg: tg,
		addr: net.JoinHostPort(aws.ToString(lb.AvailabilityZones[0].LoadBalancerAddresses[0].IpAddress), "80")}
}
