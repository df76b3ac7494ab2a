package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// newConnClient is an HTTP client that opens a new connection for every
// request, as `curl` in a loop does.
func newConnClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true},
		Timeout:   5 * time.Second,
	}
}

// hostnameOf GETs url and returns the backend's "Hostname: " line.
func hostnameOf(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if name, ok := strings.CutPrefix(line, "Hostname: "); ok {
			return name, nil
		}
	}
	return "", fmt.Errorf("no Hostname in %q", body)
}

// TestSpreadOverTwoTargets is seed 004's check: 100 requests, each on a new
// connection, through an NLB TCP listener spread about evenly over two
// healthy targets.
func TestSpreadOverTwoTargets(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	b1 := startHTTPBackend(t, "deploy-echo-1", tn.backend("a", 1)+":8080")
	b2 := startHTTPBackend(t, "deploy-echo-2", tn.backend("a", 2)+":8080")
	st := createStack(t, s, stackSpec{
		name: "svc-nlb-ip-type", port: 80, tgPort: 8080,
		targets: []types.TargetDescription{ipTarget(t, b1.Addr), ipTarget(t, b2.Addr)},
	})
	waitHealth(t, s, st.TG, b1.Addr, "healthy", 30*time.Second)
	waitHealth(t, s, st.TG, b2.Addr, "healthy", 30*time.Second)

	c := newConnClient()
	url := "http://" + st.listenerAddr("a", 80) + "/"
	counts := map[string]int{}
	for i := range 100 {
		name, err := hostnameOf(c, url)
		if err != nil {
			t.Fatalf("request %d to %s: %v", i, url, err)
		}
		counts["Hostname: "+name]++
	}
	t.Logf("for i in {1..100}; do curl -s %s | grep Hostname; done | sort | uniq -c | sort -nr\n%s", url, histogram(counts))
	for _, b := range []*httpBackend{b1, b2} {
		if n := counts["Hostname: "+b.Name]; n < 30 || n > 70 {
			t.Errorf("%s got %d of 100 requests, want 30..70", b.Name, n)
		}
	}
}

// TestStoppedTargetTurnsUnhealthy stops the health check listener of one of
// two targets (its traffic port keeps serving, so a flow sent to it would be
// seen): it turns unhealthy after interval × threshold and receives no new
// flows while the other does; restarted, it turns healthy and gets flows
// again.
func TestStoppedTargetTurnsUnhealthy(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	b1 := startEchoBackend(t, "target-1", tn.backend("a", 1)+":7000")
	b2 := startEchoBackend(t, "target-2", tn.backend("a", 2)+":7000")
	startHTTPBackend(t, "health-1", tn.backend("a", 1)+":7001")
	health2 := startHTTPBackend(t, "health-2", tn.backend("a", 2)+":7001")
	st := createStack(t, s, stackSpec{
		name: "unhealthy", port: 7000, tgPort: 7000, healthCheckPort: "7001",
		targets: []types.TargetDescription{ipTarget(t, b1.Addr), ipTarget(t, b2.Addr)},
	})
	waitHealth(t, s, st.TG, b1.Addr, "healthy", 30*time.Second)
	waitHealth(t, s, st.TG, b2.Addr, "healthy", 30*time.Second)
	addr := st.listenerAddr("a", 7000)
	if got := flowsTo(t, addr, 40); got[b2.Name] == 0 || got[b1.Name] == 0 {
		t.Fatalf("with both targets healthy, flows went:\n%s", histogram(got))
	}

	health2.Stop()
	took := waitHealth(t, s, st.TG, b2.Addr, "unhealthy Target.FailedHealthChecks", 30*time.Second)
	t.Logf("unhealthy %v after its health check listener stopped (interval 5 s × threshold 2)", took.Round(100*time.Millisecond))
	out, err := s.ELB.DescribeTargetHealth(context.Background(), &elbv2.DescribeTargetHealthInput{
		TargetGroupArn: aws.String(st.TG),
		Targets:        []types.TargetDescription{ipTarget(t, b2.Addr)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := aws.ToString(out.TargetHealthDescriptions[0].TargetHealth.Description); d == "" {
		t.Errorf("unhealthy target has no description")
	} else {
		t.Logf("description: %s", d)
	}
	got := flowsTo(t, addr, 40)
	t.Logf("flows with %s unhealthy:\n%s", b2.Name, histogram(got))
	if got[b2.Name] != 0 || got[b1.Name] != 40 {
		t.Errorf("unhealthy target got new flows:\n%s", histogram(got))
	}

	health2.Start()
	took = waitHealth(t, s, st.TG, b2.Addr, "healthy", 30*time.Second)
	t.Logf("healthy again %v after its health check listener restarted", took.Round(100*time.Millisecond))
	eventually(t, 10*time.Second, "the recovered target gets flows", func() error {
		if got := flowsTo(t, addr, 20); got[b2.Name] == 0 {
			return fmt.Errorf("flows went:\n%s", histogram(got))
		}
		return nil
	})
}

// flowsTo opens n connections to addr and counts the targets that greet
// them.
func flowsTo(t *testing.T, addr string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := range n {
		name, err := whoAnswers(addr)
		if err != nil {
			t.Fatalf("connection %d to %s: %v", i, addr, err)
		}
		got[name]++
	}
	return got
}

// TestDeregisteredTargetDrains deregisters a target that has an open
// connection: it is draining for deregistration_delay.timeout_seconds, the
// open connection keeps working, new flows go to the other target, and the
// target leaves DescribeTargetHealth after the delay.
func TestDeregisteredTargetDrains(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	b1 := startEchoBackend(t, "target-1", tn.backend("a", 1)+":7000")
	b2 := startEchoBackend(t, "target-2", tn.backend("a", 2)+":7000")
	const delay = 10 * time.Second
	st := createStack(t, s, stackSpec{
		name: "drain", port: 7000, tgPort: 7000,
		targets: []types.TargetDescription{ipTarget(t, b1.Addr), ipTarget(t, b2.Addr)},
		tgAttrs: map[string]string{"deregistration_delay.timeout_seconds": "10"},
	})
	waitHealth(t, s, st.TG, b1.Addr, "healthy", 30*time.Second)
	waitHealth(t, s, st.TG, b2.Addr, "healthy", 30*time.Second)
	addr := st.listenerAddr("a", 7000)

	// Open connections until one lands on target-2 (flows are hashed over
	// the client's source port).
	open := dialUntil(t, addr, b2.Name)
	t.Cleanup(func() { open.Close() })
	if err := open.roundTrip("before"); err != nil {
		t.Fatal(err)
	}

	deregistered := time.Now()
	if _, err := s.ELB.DeregisterTargets(context.Background(), &elbv2.DeregisterTargetsInput{
		TargetGroupArn: aws.String(st.TG),
		Targets:        []types.TargetDescription{ipTarget(t, b2.Addr)},
	}); err != nil {
		t.Fatalf("DeregisterTargets: %v", err)
	}
	m, err := targetHealth(context.Background(), s, st.TG)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m[b2.Addr], "draining Target.DeregistrationInProgress"; got != want {
		t.Fatalf("right after DeregisterTargets %s is %q, want %q", b2.Addr, got, want)
	}
	if got := flowsTo(t, addr, 30); got[b2.Name] != 0 {
		t.Errorf("draining target got new flows:\n%s", histogram(got))
	}
	// The open connection works throughout the delay.
	for i := 0; time.Since(deregistered) < delay-2*time.Second; i++ {
		if err := open.roundTrip(fmt.Sprintf("during-drain-%d", i)); err != nil {
			t.Fatalf("open connection to the draining target, %v after deregistration: %v", time.Since(deregistered).Round(time.Millisecond), err)
		}
		if m, err := targetHealth(context.Background(), s, st.TG); err != nil {
			t.Fatal(err)
		} else if got := m[b2.Addr]; got != "draining Target.DeregistrationInProgress" {
			t.Fatalf("%v after deregistration %s is %q, want draining", time.Since(deregistered).Round(time.Millisecond), b2.Addr, got)
		}
		time.Sleep(time.Second)
	}
	waitHealth(t, s, st.TG, b2.Addr, "", 30*time.Second)
	gone := time.Since(deregistered)
	t.Logf("target left DescribeTargetHealth %v after deregistration (delay %v)", gone.Round(100*time.Millisecond), delay)
	if gone < delay-time.Second {
		t.Errorf("target left after %v, before the deregistration delay of %v", gone, delay)
	}
	// deregistration_delay.connection_termination.enabled is false: like
	// NLB, kelb leaves the established connection alone.
	if err := open.roundTrip("after"); err != nil {
		t.Logf("open connection after the delay: %v", err)
	}
}
