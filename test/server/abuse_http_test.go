package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// Abuse of kelb's HTTP servers, against the binary: clients that send
// their request heads or bodies a trickle at a time, idle keep-alive
// connections, more connections than the cap, and request heads over
// ALB's limits. Every loop is bounded, every address is loopback.

// abuseTrickle is how often a trickling client sends its next bit, and
// abuseTrickles how many bits it sends at most: the deadlines under test
// (2 s) must close the connection long before.
const (
	abuseTrickle  = 500 * time.Millisecond
	abuseTrickles = 40
)

// closedWhileTrickling sends first, then trickle every abuseTrickle, and
// reports whether kelb closed the connection before abuseTrickles of them
// were out. Whatever kelb answers before closing is returned.
func closedWhileTrickling(t *testing.T, addr, first, trickle string) (bool, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(abuseTrickle * (abuseTrickles + 10)))
	var answer strings.Builder
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		io.Copy(&answer, c) // until kelb closes (or the read deadline)
	}()
	if _, err := io.WriteString(c, first); err != nil {
		t.Fatal(err)
	}
	for range abuseTrickles {
		select {
		case <-closed:
			return true, answer.String()
		case <-time.After(abuseTrickle):
		}
		if _, err := io.WriteString(c, trickle); err != nil {
			<-closed
			return true, answer.String()
		}
	}
	select {
	case <-closed:
		return true, answer.String()
	case <-time.After(abuseTrickle):
		return false, ""
	}
}

// closedWhenIdle sends one whole request on a new connection, reads its
// answer, then sends nothing and reports whether kelb closes the
// connection within limit.
func closedWhenIdle(t *testing.T, addr, request string, limit time.Duration) bool {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(limit))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("answer: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatalf("kelb closed the connection after the answer (%s): keep-alive is not being tested", resp.Status)
	}
	_, err = br.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func TestAPIAndMetricsAbuse(t *testing.T) {
	t.Parallel()
	tn := newNet()
	const maxConns = 16
	s := startServer(t, tn, serverOptions{extraArgs: []string{
		"--api-read-timeout", "2s", "--api-idle-timeout", "2s", "--api-max-connections", fmt.Sprint(maxConns),
	}})
	api := strings.TrimPrefix(s.APIURL, "http://")
	metrics := strings.TrimPrefix(s.Metrics, "http://")

	t.Run("slow request head", func(t *testing.T) {
		if closed, _ := closedWhileTrickling(t, api, "POST / HTTP/1.1\r\nHost: kelb\r\n", "X-Slow: 1\r\n"); !closed {
			t.Error("the API kept a connection whose head came one line every 500 ms for 20 s")
		}
	})
	t.Run("body that never ends", func(t *testing.T) {
		closed, _ := closedWhileTrickling(t, api,
			"POST / HTTP/1.1\r\nHost: kelb\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nAction=",
			"DescribeLoadBalancers&")
		if !closed {
			t.Error("the API kept a connection whose body came a few bytes every 500 ms for 20 s")
		}
	})
	t.Run("idle keep-alive on the API", func(t *testing.T) {
		if !closedWhenIdle(t, api, "GET / HTTP/1.1\r\nHost: kelb\r\n\r\n", 20*time.Second) {
			t.Error("the API kept an idle keep-alive connection for 20 s with --api-idle-timeout 2s")
		}
	})
	t.Run("idle keep-alive on metrics", func(t *testing.T) {
		if !closedWhenIdle(t, metrics, "GET /healthz HTTP/1.1\r\nHost: kelb\r\n\r\n", 20*time.Second) {
			t.Error("metrics kept an idle keep-alive connection for 20 s")
		}
	})
	t.Run("connection cap", func(t *testing.T) {
		// Four times the cap of connections that send nothing or half a
		// head...
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for i := range 4 * maxConns {
			c, err := net.Dial("tcp", api)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			if i%2 == 1 {
				io.WriteString(c, "POST / HTTP/1.1\r\nHost: kelb\r\n")
			}
		}
		// ...and a client of the API is still answered, each call on a
		// new connection.
		ctx := context.Background()
		client := elbv2.NewFromConfig(aws.Config{Region: region, Credentials: staticCredentials(keyID, secretKey),
			HTTPClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}},
			func(o *elbv2.Options) { o.BaseEndpoint = aws.String(s.APIURL) })
		for i := range 5 {
			if _, err := client.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{}); err != nil {
				t.Fatalf("DescribeLoadBalancers %d with %d idle connections open: %v", i, len(conns), err)
			}
		}
		m, err := scrape(s.Metrics + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		open := m.sum("kelb_server_open_connections", `server="api"`)
		evicted := m.sum("kelb_server_evicted_connections_total", `server="api"`)
		t.Logf("API: %v connections open, %v evicted, with %d dialed", open, evicted, len(conns))
		if open > maxConns {
			t.Errorf("API holds %v connections, cap %d", open, maxConns)
		}
		if evicted < 3*maxConns {
			t.Errorf("API evicted %v idle connections, want at least %d", evicted, 3*maxConns)
		}
	})
}

// recordingBackend is an HTTP target that records the paths it is asked
// for. It takes heads of any size (up to 1 MiB), so a request kelb should
// have refused would show.
type recordingBackend struct {
	addr  string
	mu    sync.Mutex
	paths []string
}

func startRecordingBackend(t *testing.T, addr string) *recordingBackend {
	t.Helper()
	b := &recordingBackend{addr: addr}
	ln := listenRetry(t, "tcp", addr)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.paths = append(b.paths, r.URL.Path[:min(len(r.URL.Path), 32)])
		b.mu.Unlock()
		io.WriteString(w, "ok")
	}), MaxHeaderBytes: 1 << 20}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return b
}

func (b *recordingBackend) got(prefix string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, p := range b.paths {
		if strings.HasPrefix(p, prefix) {
			n++
		}
	}
	return n
}

func TestALBAbuse(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	ctx := context.Background()
	b := startRecordingBackend(t, tn.backend("a", 1)+":8080")

	lbOut, err := s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("abuse"), Type: types.LoadBalancerTypeEnumApplication})
	if err != nil {
		t.Fatal(err)
	}
	lb := lbOut.LoadBalancers[0]
	if _, err := s.ELB.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{LoadBalancerArn: lb.LoadBalancerArn,
		Attributes: []types.LoadBalancerAttribute{{Key: aws.String("idle_timeout.timeout_seconds"), Value: aws.String("2")}}}); err != nil {
		t.Fatal(err)
	}
	tgOut, err := s.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String("abuse"), Protocol: types.ProtocolEnumHttp, Port: aws.Int32(8080),
		TargetType: types.TargetTypeEnumIp, VpcId: aws.String("vpc-0ce1b000000000000"),
		HealthCheckIntervalSeconds: aws.Int32(5), HealthyThresholdCount: aws.Int32(2),
	})
	if err != nil {
		t.Fatal(err)
	}
	tg := aws.ToString(tgOut.TargetGroups[0].TargetGroupArn)
	if _, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(tg),
		Targets: []types.TargetDescription{ipTarget(t, b.addr)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ELB.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancerArn, Protocol: types.ProtocolEnumHttp, Port: aws.Int32(80),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}},
	}); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, s, tg, b.addr, "healthy", 30*time.Second)
	addr := net.JoinHostPort(aws.ToString(lb.AvailabilityZones[0].LoadBalancerAddresses[0].IpAddress), "80")

	t.Run("slow request head", func(t *testing.T) {
		// Each line well within the 2 s idle timeout, the head never whole.
		if closed, _ := closedWhileTrickling(t, addr, "GET /slow HTTP/1.1\r\nHost: abuse\r\n", "X-Slow: 1\r\n"); !closed {
			t.Error("the listener kept a connection whose head came one line every 500 ms for 20 s, idle timeout 2 s")
		}
		if n := b.got("/slow"); n != 0 {
			t.Errorf("the target got %d slow requests", n)
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		if !closedWhenIdle(t, addr, "GET /idle HTTP/1.1\r\nHost: abuse\r\n\r\n", 20*time.Second) {
			t.Error("the listener kept an idle keep-alive connection for 20 s, idle timeout 2 s")
		}
	})

	header := func(name string, size int) string {
		return name + ": " + strings.Repeat("h", size-len(name)-2) + "\r\n"
	}
	tests := []struct {
		name   string
		path   string
		header string
		want   int
	}{
		{name: "within ALB's limits", path: "/fits-" + strings.Repeat("p", 15<<10), header: header("X-A", 15<<10) + header("X-B", 15<<10), want: 200},
		{name: "request line over 16 KiB", path: "/long-line-" + strings.Repeat("p", 16<<10), want: 400},
		{name: "header over 16 KiB", path: "/long-header", header: header("X-Big", 16<<10+1), want: 400},
		{name: "headers over 64 KiB", path: "/many-headers", header: strings.Repeat(header("X-Many", 15<<10), 5), want: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			go io.WriteString(c, "GET "+tt.path+" HTTP/1.1\r\nHost: abuse\r\n"+tt.header+"\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			prefix := tt.path[:min(len(tt.path), 12)]
			if tt.want == 200 {
				if n := b.got(prefix); n != 1 {
					t.Errorf("the target got %d requests for %s…, want 1", n, prefix)
				}
				return
			}
			if got := resp.Header.Get("Server"); got != "awselb/2.0" || !strings.Contains(string(body), "<h1>400 Bad Request</h1>") || !resp.Close {
				t.Errorf("answer: Server %q, close %v, body %q; want ALB's 400 page and the connection closed", got, resp.Close, body)
			}
			if n := b.got(prefix); n != 0 {
				t.Errorf("the target got %d requests for %s…, want none", n, prefix)
			}
		})
	}
}
