package server_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// TestL4FloodWithLowDescriptorLimit runs kelb server with a descriptor
// limit of 2,048 and floods a UDP listener from thousands of source ports
// (one datagram each, as a spoofing client would) and a TCP listener with
// thousands of idle connections. kelb's flows stay within its bounds and
// its descriptors within the limit less the reserve: the API, metrics, DNS
// and new connections through the load balancer keep working, and the
// evictions and refusals are counted. The bounds are the userspace plane's
// (a kernel plane flow takes no descriptor: see the kernel package's
// TestManyIdleFlows), so the server runs --dataplane userspace.
func TestL4FloodWithLowDescriptorLimit(t *testing.T) {
	t.Parallel()
	requireTools(t, "prlimit")
	const (
		limit       = 2048
		reserve     = 512
		perListener = 300
		udpPorts    = 3000
		tcpConns    = 2000
	)
	tn := newNet()
	s := startServer(t, tn, serverOptions{
		wrap:      []string{"prlimit", fmt.Sprintf("--nofile=%d:%d", limit, limit), "--"},
		extraArgs: []string{"--dataplane", "userspace", "--fd-reserve", strconv.Itoa(reserve), "--max-flows-per-listener", strconv.Itoa(perListener)},
	})
	maxFlows, pipes := loggedFlowBounds(t, s)
	if maxFlows <= perListener || 2*maxFlows+2*pipes > limit-reserve {
		t.Fatalf("bounds max_flows=%d splice_pipes=%d do not fit a limit of %d less %d reserved", maxFlows, pipes, limit, reserve)
	}

	tcpBackend := tn.backend("a", 1) + ":8080"
	startEchoBackend(t, "tcp-1", tcpBackend)
	udpBackend := tn.backend("a", 2) + ":5300"
	startUDPEchoBackend(t, "udp-1", udpBackend)
	startHTTPBackend(t, "udp-1-health", tn.backend("a", 2)+":5301")
	tcpLB := createStack(t, s, stackSpec{name: "flood-tcp", port: 80, tgPort: 8080,
		targets: []types.TargetDescription{ipTarget(t, tcpBackend)}})
	udpLB := createStack(t, s, stackSpec{name: "flood-udp", protocol: types.ProtocolEnumUdp, port: 53, tgPort: 5300,
		healthCheckPort: "5301", targets: []types.TargetDescription{ipTarget(t, udpBackend)}})
	waitHealth(t, s, tcpLB.TG, tcpBackend, "healthy", 30*time.Second)
	waitHealth(t, s, udpLB.TG, udpBackend, "healthy", 30*time.Second)
	pid := s.cmd.Process.Pid
	base := processFDs(t, pid)

	// UDP: one datagram from each of thousands of source ports.
	udpAddr, err := net.ResolveUDPAddr("udp", udpLB.listenerAddr("a", 53))
	if err != nil {
		t.Fatal(err)
	}
	for i := range udpPorts {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(tn.client()), Port: 10000 + i})
		if err != nil {
			t.Fatalf("client port %d: %v", 10000+i, err)
		}
		_, err = c.WriteToUDP([]byte("flood"), udpAddr)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	peak := processFDs(t, pid)

	// TCP: thousands of connections, left idle.
	tcpAddr := tcpLB.listenerAddr("a", 80)
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(tn.client())}}
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	resets := 0
	for i := range tcpConns {
		c, err := d.Dial("tcp", tcpAddr)
		if errors.Is(err, syscall.ECONNRESET) {
			resets++ // kelb refused it at the bound, before connect returned
			continue
		}
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		if i%500 == 0 {
			peak = max(peak, processFDs(t, pid))
		}
	}
	peak = max(peak, processFDs(t, pid))
	t.Logf("kelb descriptors: %d before the flood, at most %d during it (limit %d, max_flows %d, splice_pipes %d); %d of %d connections reset at connect",
		base, peak, limit, maxFlows, pipes, resets, tcpConns)
	if bound := base + 2*maxFlows + 2*pipes; peak > bound {
		t.Errorf("kelb holds %d descriptors, over %d (%d before the flood, 2 per flow, 2 per pipe)", peak, bound, base)
	}
	if peak > limit-reserve {
		t.Errorf("kelb holds %d descriptors: the reserve of %d out of %d is eaten into", peak, reserve, limit)
	}

	// With the flood's flows still open, everything else works.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := s.ELB.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{})
	if err != nil {
		t.Fatalf("DescribeLoadBalancers during the flood: %v", err)
	}
	if len(out.LoadBalancers) != 2 {
		t.Errorf("DescribeLoadBalancers: %d load balancers, want 2", len(out.LoadBalancers))
	}
	if addrs, err := resolveA(s.DNSAddr, tcpLB.DNSName); err != nil || len(addrs) == 0 {
		t.Errorf("DNS during the flood: %v %v", addrs, err)
	}
	// The flood's flows are idle for more than a second: new flows evict
	// the oldest of them.
	time.Sleep(1500 * time.Millisecond)
	c, err := dialEchoWith(ctx, d.DialContext, tcpAddr)
	if err != nil {
		t.Fatalf("new TCP connection during the flood: %v", err)
	}
	defer c.Close()
	if err := c.roundTrip("still serving"); err != nil {
		t.Errorf("new TCP connection during the flood: %v", err)
	}
	if err := udpRoundTrip(tn.client(), udpAddr); err != nil {
		t.Errorf("new UDP flow during the flood: %v", err)
	}

	m, err := scrape(s.Metrics + "/metrics")
	if err != nil {
		t.Fatalf("metrics during the flood: %v", err)
	}
	for _, lb := range []struct{ name, arn string }{{"tcp", tcpLB.LB}, {"udp", udpLB.LB}} {
		sel := `load_balancer="` + cloudWatchName(lb.arn) + `"`
		active := m.sum("kelb_nlb_active_flows", sel)
		limited := m.sum("kelb_nlb_evicted_flows_total", sel) + m.sum("kelb_nlb_refused_flows_total", sel)
		t.Logf("%s load balancer: %v active flows, %v evicted, %v refused", lb.name, active,
			m.sum("kelb_nlb_evicted_flows_total", sel), m.sum("kelb_nlb_refused_flows_total", sel))
		if active > perListener {
			t.Errorf("%s load balancer: %v active flows, over the bound of %d", lb.name, active, perListener)
		}
		if limited == 0 {
			t.Errorf("%s load balancer: no eviction or refusal counted", lb.name)
		}
	}
	if logs := s.allLogs(); strings.Contains(logs, "too many open files") {
		t.Errorf("kelb ran out of descriptors:\n%s", s.logTail(40))
	}
}

// loggedFlowBounds reads the flow bounds kelb server logged at start.
func loggedFlowBounds(t *testing.T, s *kelbServer) (maxFlows, pipes int) {
	t.Helper()
	re := regexp.MustCompile(`msg="flow bounds".* max_flows=(\d+) .*splice_pipes=(\d+)`)
	m := re.FindStringSubmatch(s.allLogs())
	if m == nil {
		t.Fatalf("kelb server did not log its flow bounds:\n%s", s.logTail(20))
	}
	maxFlows, _ = strconv.Atoi(m[1])
	pipes, _ = strconv.Atoi(m[2])
	return maxFlows, pipes
}

// processFDs counts the open descriptors of process pid.
func processFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// cloudWatchName is the "net/NAME/ID" form of a load balancer ARN, as the
// metrics label it.
func cloudWatchName(arn string) string {
	_, name, _ := strings.Cut(arn, ":loadbalancer/")
	return name
}

// udpRoundTrip sends a datagram from a new source port of ip to lb and
// waits for the answer, resending a few times.
func udpRoundTrip(ip string, lb *net.UDPAddr) error {
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)}, lb)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 1500)
	for range 10 {
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if n, err := c.Read(buf); err == nil {
			if !strings.HasSuffix(string(buf[:n]), ": ping") {
				return fmt.Errorf("answer %q", buf[:n])
			}
			return nil
		}
	}
	return fmt.Errorf("no answer from %s", lb)
}
