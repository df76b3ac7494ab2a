package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/kelb-io/kelb/internal/dataplane/kernel"
)

// TestFailOpenAndNewTarget: with every target unhealthy, the load balancer
// fails open and still forwards to them; a new target that turns healthy
// then takes every new flow.
func TestFailOpenAndNewTarget(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	b1 := startEchoBackend(t, "target-1", tn.backend("a", 1)+":7000")
	st := createStack(t, s, stackSpec{
		name: "fail-open", port: 7000, tgPort: 7000, healthCheckPort: "7001",
		targets: []types.TargetDescription{ipTarget(t, b1.Addr)},
	})
	// Nothing listens on the health check port: target-1 turns unhealthy.
	waitHealth(t, s, st.TG, b1.Addr, "unhealthy Target.FailedHealthChecks", 30*time.Second)
	addr := st.listenerAddr("a", 7000)
	if got := flowsTo(t, addr, 10); got[b1.Name] != 10 {
		t.Errorf("with every target unhealthy flows went:\n%s", histogram(got))
	}

	b2 := startEchoBackend(t, "target-2", tn.backend("a", 2)+":7000")
	startHTTPBackend(t, "health-2", tn.backend("a", 2)+":7001")
	if _, err := s.ELB.RegisterTargets(context.Background(), &elbv2.RegisterTargetsInput{
		TargetGroupArn: aws.String(st.TG), Targets: []types.TargetDescription{ipTarget(t, b2.Addr)},
	}); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, s, st.TG, b2.Addr, "healthy", 30*time.Second)
	eventually(t, 5*time.Second, "the healthy target takes every flow", func() error {
		if got := flowsTo(t, addr, 20); got[b2.Name] != 20 {
			return errNotYetf("flows went:\n%s", histogram(got))
		}
		return nil
	})
}

// TestCrossZoneFailover: without cross-zone load balancing a zone whose
// targets are all unhealthy sends its flows to another zone's healthy
// targets, as NLB does.
func TestCrossZoneFailover(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	ba := startEchoBackend(t, "target-a", tn.backend("a", 1)+":7000")
	bb := startEchoBackend(t, "target-b", tn.backend("b", 1)+":7000")
	startHTTPBackend(t, "health-b", tn.backend("b", 1)+":7001")
	st := createStack(t, s, stackSpec{
		name: "failover", port: 7000, tgPort: 7000, healthCheckPort: "7001",
		targets: []types.TargetDescription{ipTarget(t, ba.Addr), ipTarget(t, bb.Addr)},
	})
	waitHealth(t, s, st.TG, ba.Addr, "unhealthy Target.FailedHealthChecks", 30*time.Second)
	waitHealth(t, s, st.TG, bb.Addr, "healthy", 30*time.Second)
	if got := flowsTo(t, st.listenerAddr("a", 7000), 10); got[bb.Name] != 10 {
		t.Errorf("zone a without a healthy target: flows went:\n%s", histogram(got))
	}
	// DNS takes zone a out.
	got, err := resolveA(s.DNSAddr, st.DNSName)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != st.Addr[region+"b"] {
		t.Errorf("%s resolves to %v, want only zone b's %s", st.DNSName, got, st.Addr[region+"b"])
	}
}

// TestSourceIPStickiness: with stickiness.type=source_ip every connection
// from one client address goes to the same target.
func TestSourceIPStickiness(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	b1 := startEchoBackend(t, "target-1", tn.backend("a", 1)+":7000")
	b2 := startEchoBackend(t, "target-2", tn.backend("a", 2)+":7000")
	st := createStack(t, s, stackSpec{
		name: "sticky", port: 7000, tgPort: 7000,
		targets: []types.TargetDescription{ipTarget(t, b1.Addr), ipTarget(t, b2.Addr)},
		tgAttrs: map[string]string{"stickiness.enabled": "true", "stickiness.type": "source_ip"},
	})
	waitHealth(t, s, st.TG, b1.Addr, "healthy", 30*time.Second)
	waitHealth(t, s, st.TG, b2.Addr, "healthy", 30*time.Second)
	addr := st.listenerAddr("a", 7000)
	seen := map[string]int{}
	for i := range 8 {
		client := net.JoinHostPort(tn.backend("a", 40+i), "0") // distinct client addresses
		got := map[string]int{}
		for range 10 {
			d := net.Dialer{LocalAddr: mustTCPAddr(t, client), Timeout: 5 * time.Second}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c, err := dialEchoWith(ctx, d.DialContext, addr)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			got[c.Target]++
		}
		if len(got) != 1 {
			t.Errorf("client %s went to several targets:\n%s", client, histogram(got))
		}
		for k := range got {
			seen[k]++
		}
	}
	t.Logf("clients per target:\n%s", histogram(seen))
}

func mustTCPAddr(t *testing.T, hostport string) *net.TCPAddr {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", hostport)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestDeregistrationConnectionTermination: with
// deregistration_delay.connection_termination.enabled the open connection
// to a deregistered target is closed when the delay ends. The userspace
// plane closes the idle connection at once; the kernel plane deletes the
// flow from conntrack, so the connection's next packet is answered with a
// reset.
func TestDeregistrationConnectionTermination(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	b1 := startEchoBackend(t, "target-1", tn.backend("a", 1)+":7000")
	st := createStack(t, s, stackSpec{
		name: "terminate", port: 7000, tgPort: 7000,
		targets: []types.TargetDescription{ipTarget(t, b1.Addr)},
		tgAttrs: map[string]string{
			"deregistration_delay.timeout_seconds":                "2",
			"deregistration_delay.connection_termination.enabled": "true",
		},
	})
	waitHealth(t, s, st.TG, b1.Addr, "healthy", 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	c, err := dialEcho(ctx, st.listenerAddr("a", 7000))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := s.ELB.DeregisterTargets(context.Background(), &elbv2.DeregisterTargetsInput{
		TargetGroupArn: aws.String(st.TG), Targets: []types.TargetDescription{ipTarget(t, b1.Addr)},
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.roundTrip("while-draining"); err != nil {
		t.Fatalf("during the delay: %v", err)
	}
	waitHealth(t, s, st.TG, b1.Addr, "", 20*time.Second)
	if s.kernelPlane() {
		// The plane closes the flow when it applies the end of the delay,
		// at most a moment after the API shows it.
		eventually(t, 10*time.Second, "the flow is reset after the delay ended", func() error {
			err := c.roundTrip("after-delay")
			if err == nil {
				return errNotYetf("the connection still echoes")
			}
			if !errors.Is(err, syscall.ECONNRESET) {
				return fmt.Errorf("the connection's next packet: %v, want a reset", err)
			}
			t.Logf("connection reset after the delay: %v", err)
			return nil
		})
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = c.r.ReadByte()
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Errorf("connection still open after the delay ended (read: %v)", err)
	} else {
		t.Logf("connection closed after the delay: %v", err)
	}
}

// TestTCPUDPListener: one TCP_UDP listener carries both protocols to the
// same port of its targets.
func TestTCPUDPListener(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	backend := tn.backend("a", 1) + ":5300"
	b := startEchoBackend(t, "both", backend)
	startUDPEchoBackend(t, "both", backend)
	st := createStack(t, s, stackSpec{
		name: "tcp-udp", protocol: types.ProtocolEnumTcpUdp, port: 53, tgPort: 5300,
		targets: []types.TargetDescription{ipTarget(t, backend)},
	})
	waitHealth(t, s, st.TG, backend, "healthy", 30*time.Second)
	lbAddr := st.listenerAddr("a", 53)
	if got, err := whoAnswers(lbAddr); err != nil || got != b.Name {
		t.Errorf("TCP through %s: %q, %v", lbAddr, got, err)
	}
	c, err := net.Dial("udp", lbAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 512)
	var n int
	eventually(t, 10*time.Second, "UDP answer through "+lbAddr, func() error {
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		n, err = c.Read(buf)
		return err
	})
	if got := string(buf[:n]); !strings.HasPrefix(got, "both from ") || !strings.HasSuffix(got, ": ping") {
		t.Errorf("UDP answer %q", got)
	}
}

// TestGeneratedCredentialsAndShutdown starts kelb server without any key:
// it generates one into a 0600 file in the data dir, prints the file's path
// (never the secret) and how to use it, accepts
// requests signed with it, keeps it across restarts, and exits 0 on
// SIGTERM.
func TestGeneratedCredentialsAndShutdown(t *testing.T) {
	t.Parallel()
	tn := newNet()
	dataDir := t.TempDir()
	// A clean stop leaves the kernel plane's table, emptied, for a restart.
	t.Cleanup(func() { _ = kernel.RemoveTable(kernel.TableFor(dataDir)) })
	api := freePort(t)
	args := append([]string{"server", "--api-addr", api, "--dns-addr", "", "--metrics-addr", "", "--data-dir", dataDir}, tn.zoneFlags()...)

	run := func() (file, id, secret string) {
		t.Helper()
		cmd := exec.Command(kelbBin, args...)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 64)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		exportRE := regexp.MustCompile(`export AWS_SHARED_CREDENTIALS_FILE=(\S+) AWS_PROFILE=kelb`)
		var printed strings.Builder
		ready := false
		timeout := time.After(20 * time.Second)
		for !ready {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("kelb server exited: %v", cmd.Wait())
				}
				printed.WriteString(l + "\n")
				if m := exportRE.FindStringSubmatch(l); m != nil {
					file = m[1]
				}
				ready = strings.Contains(l, "kelb server ready")
			case <-timeout:
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatal("kelb server not ready")
			}
		}
		go func() {
			for range lines {
			}
		}()
		path := filepath.Join(dataDir, "credentials")
		if file != "" && file != path {
			t.Errorf("printed credentials file %s, want %s", file, path)
		}
		id, secret = readCredentials(t, path)
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("credentials file %s: %v, %v; want mode 0600", path, fi.Mode(), err)
		}
		if secret == "" || strings.Contains(printed.String(), secret) {
			t.Errorf("kelb server printed its secret key (or kept none):\n%s", printed.String())
		}
		c := elbv2.New(elbv2.Options{Region: region, BaseEndpoint: aws.String("http://" + api), Credentials: staticCredentials(id, secret)})
		if _, err := c.DescribeLoadBalancers(context.Background(), &elbv2.DescribeLoadBalancersInput{}); err != nil {
			t.Errorf("request signed with the generated key: %v", err)
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() { errc <- cmd.Wait() }()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("kelb server on SIGTERM: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-errc
			t.Error("kelb server did not exit on SIGTERM")
		}
		return file, id, secret
	}
	file1, id1, secret1 := run()
	if file1 == "" {
		t.Error("kelb server did not print where its generated key is")
	}
	if !strings.HasPrefix(id1, "AKIA") && !strings.HasPrefix(id1, "AK") {
		t.Errorf("generated access key id %q", id1)
	}
	_, id2, secret2 := run()
	if id1 != id2 || secret1 != secret2 {
		t.Errorf("key pair changed across restarts: %s then %s", id1, id2)
	}
}

// readCredentials reads the default profile of an AWS credentials file.
func readCredentials(t *testing.T, path string) (id, secret string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range scanLines(b) {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			id = strings.TrimSpace(v)
		case "aws_secret_access_key":
			secret = strings.TrimSpace(v)
		}
	}
	return id, secret
}

// TestUnhealthyConnectionTermination: by default (NLB's
// target_health_state.unhealthy.connection_termination.enabled=true) the
// open connections of a target that turns unhealthy are reset while
// another target stays healthy; with the attribute off they keep working.
// (With no healthy target left the group fails open and keeps them.)
func TestUnhealthyConnectionTermination(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		attrs     map[string]string
		wantReset bool
	}{
		{name: "default", wantReset: true},
		{name: "off", attrs: map[string]string{"target_health_state.unhealthy.connection_termination.enabled": "false"}, wantReset: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tn := newNet()
			s := startServer(t, tn, serverOptions{})
			b1 := startEchoBackend(t, "target-1", tn.backend("a", 1)+":7000")
			startHTTPBackend(t, "health-1", tn.backend("a", 1)+":7001")
			b2 := startEchoBackend(t, "target-2", tn.backend("a", 2)+":7000")
			health2 := startHTTPBackend(t, "health-2", tn.backend("a", 2)+":7001")
			st := createStack(t, s, stackSpec{
				name: "unhealthy-" + tt.name, port: 7000, tgPort: 7000, healthCheckPort: "7001",
				targets: []types.TargetDescription{ipTarget(t, b1.Addr), ipTarget(t, b2.Addr)},
				tgAttrs: tt.attrs,
			})
			waitHealth(t, s, st.TG, b1.Addr, "healthy", 30*time.Second)
			waitHealth(t, s, st.TG, b2.Addr, "healthy", 30*time.Second)
			c := dialUntil(t, st.listenerAddr("a", 7000), b2.Name)
			defer c.Close()
			health2.Stop()
			waitHealth(t, s, st.TG, b2.Addr, "unhealthy Target.FailedHealthChecks", 30*time.Second)
			var rtErr error
			// The reset follows the health change closely; poll for it.
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) {
				if rtErr = c.roundTrip("ping"); rtErr != nil {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			if tt.wantReset && rtErr == nil {
				t.Errorf("connection to the unhealthy target still works")
			}
			if !tt.wantReset && rtErr != nil {
				t.Errorf("connection to the unhealthy target broke: %v", rtErr)
			}
			t.Logf("connection after the target turned unhealthy: %v", rtErr)
		})
	}
}

// dialUntil opens connections to addr until one reaches the target named
// target, and returns it.
func dialUntil(t *testing.T, addr, target string) *echoConn {
	t.Helper()
	for range 50 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := dialEcho(ctx, addr)
		cancel()
		if err != nil {
			t.Fatalf("connect to %s: %v", addr, err)
		}
		if c.Target == target {
			return c
		}
		c.Close()
	}
	t.Fatalf("no connection of 50 went to %s", target)
	return nil
}

// TestHTTPHealthCheckReasons checks an HTTP health check's path and
// matcher through the binary: a wrong status makes the target unhealthy
// (Target.FailedHealthChecks: NLB names no finer reason, ResponseCodeMismatch
// is ALB's), a matching one healthy.
func TestHTTPHealthCheckReasons(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	b := startEchoBackend(t, "target-1", tn.backend("a", 1)+":7000")
	// The backend's health endpoint answers 200 on /healthz only (the
	// echo handler answers 200 everywhere, so use a mux).
	hc := listenRetry(t, "tcp", tn.backend("a", 1)+":7001")
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") != "ELB-HealthChecker/2.0" {
			t.Errorf("health check User-Agent %q", r.Header.Get("User-Agent"))
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(hc) }()
	t.Cleanup(func() { srv.Close(); <-done })

	st := createStack(t, s, stackSpec{
		name: "http-check", port: 7000, tgPort: 7000, healthCheckPort: "7001",
		targets: []types.TargetDescription{ipTarget(t, b.Addr)},
	})
	ctx := context.Background()
	modify := func(path, codes string) {
		t.Helper()
		if _, err := s.ELB.ModifyTargetGroup(ctx, &elbv2.ModifyTargetGroupInput{
			TargetGroupArn:      aws.String(st.TG),
			HealthCheckProtocol: types.ProtocolEnumHttp,
			HealthCheckPath:     aws.String(path),
			Matcher:             &types.Matcher{HttpCode: aws.String(codes)},
		}); err != nil {
			t.Fatalf("ModifyTargetGroup %s %s: %v", path, codes, err)
		}
	}
	modify("/nope", "200-299")
	waitHealth(t, s, st.TG, b.Addr, "unhealthy Target.FailedHealthChecks", 30*time.Second)
	th, err := s.ELB.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(st.TG)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("description: %s", aws.ToString(th.TargetHealthDescriptions[0].TargetHealth.Description))
	modify("/healthz", "204")
	waitHealth(t, s, st.TG, b.Addr, "healthy", 30*time.Second)
	out, err := s.ELB.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{st.TG}})
	if err != nil {
		t.Fatal(err)
	}
	tg := out.TargetGroups[0]
	if tg.HealthCheckProtocol != types.ProtocolEnumHttp || aws.ToString(tg.HealthCheckPath) != "/healthz" || aws.ToString(tg.Matcher.HttpCode) != "204" {
		t.Errorf("described health check: %s %s %s", tg.HealthCheckProtocol, aws.ToString(tg.HealthCheckPath), aws.ToString(tg.Matcher.HttpCode))
	}
}

// TestReregisterWhileDraining registers a draining target again: it starts
// over as a new target instead of leaving when the old delay ends.
func TestReregisterWhileDraining(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	b1 := startEchoBackend(t, "target-1", tn.backend("a", 1)+":7000")
	b2 := startEchoBackend(t, "target-2", tn.backend("a", 2)+":7000")
	st := createStack(t, s, stackSpec{
		name: "reregister", port: 7000, tgPort: 7000,
		targets: []types.TargetDescription{ipTarget(t, b1.Addr), ipTarget(t, b2.Addr)},
		tgAttrs: map[string]string{"deregistration_delay.timeout_seconds": "3"},
	})
	waitHealth(t, s, st.TG, b2.Addr, "healthy", 30*time.Second)
	ctx := context.Background()
	target := []types.TargetDescription{ipTarget(t, b2.Addr)}
	if _, err := s.ELB.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(st.TG), Targets: target}); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, s, st.TG, b2.Addr, "draining Target.DeregistrationInProgress", 5*time.Second)
	if _, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(st.TG), Targets: target}); err != nil {
		t.Fatal(err)
	}
	// Past the old delay, the target is healthy again and takes flows.
	time.Sleep(4 * time.Second)
	waitHealth(t, s, st.TG, b2.Addr, "healthy", 30*time.Second)
	eventually(t, 5*time.Second, "the registered-again target takes flows", func() error {
		if got := flowsTo(t, st.listenerAddr("a", 7000), 20); got[b2.Name] == 0 {
			return errNotYetf("flows went:\n%s", histogram(got))
		}
		return nil
	})
}

// TestShutdownWithOpenFlows: SIGTERM with flows open still ends kelb
// server, cleanly. On the userspace plane the flows end with the process; on
// the kernel plane they live in conntrack and go on, while new connections
// are refused (the table keeps no listener).
func TestShutdownWithOpenFlows(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	b := startEchoBackend(t, "target-1", tn.backend("a", 1)+":7000")
	st := createStack(t, s, stackSpec{
		name: "shutdown", port: 7000, tgPort: 7000,
		targets: []types.TargetDescription{ipTarget(t, b.Addr)},
	})
	waitHealth(t, s, st.TG, b.Addr, "healthy", 30*time.Second)
	var open []*echoConn
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := dialEcho(ctx, st.listenerAddr("a", 7000))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		open = append(open, c)
	}
	s.stop(syscall.SIGTERM)
	s.mu.Lock()
	state := s.cmd.ProcessState
	s.mu.Unlock()
	if !state.Success() {
		t.Errorf("kelb server on SIGTERM with open flows: %v", state)
	}
	addr := st.listenerAddr("a", 7000)
	if s.kernelPlane() {
		for i, c := range open {
			if err := c.roundTrip("after"); err != nil {
				t.Errorf("flow %d through %s ended with kelb server on the kernel plane: %v", i, addr, err)
			}
		}
		if _, err := whoAnswers(addr); err == nil {
			t.Errorf("%s forwards new connections after a clean stop", addr)
		}
		return
	}
	for _, c := range open {
		if err := c.roundTrip("after"); err == nil {
			t.Errorf("a flow through %s outlived kelb server on the userspace plane", addr)
		}
	}
}

// TestPreserveClientIP: with preserve_client_ip.enabled the target sees
// the client's address; without it (the default for TCP ip targets) the
// load balancer's.
func TestPreserveClientIP(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		preserve string
	}{
		{"on", "true"},
		{"off", "false"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tn := newNet()
			s := startServer(t, tn, serverOptions{})
			b := startHTTPBackend(t, "target-1", tn.backend("a", 1)+":8080")
			st := createStack(t, s, stackSpec{
				name: "preserve-" + tt.name, port: 80, tgPort: 8080,
				targets: []types.TargetDescription{ipTarget(t, b.Addr)},
				tgAttrs: map[string]string{"preserve_client_ip.enabled": tt.preserve},
			})
			waitHealth(t, s, st.TG, b.Addr, "healthy", 30*time.Second)
			c := &http.Client{
				Transport: &http.Transport{
					DisableKeepAlives: true,
					DialContext:       (&net.Dialer{LocalAddr: mustTCPAddr(t, tn.client()+":0")}).DialContext,
				},
				Timeout: 5 * time.Second,
			}
			resp, err := c.Get("http://" + st.listenerAddr("a", 80) + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var seen string
			for _, l := range strings.Split(string(body), "\n") {
				if v, ok := strings.CutPrefix(l, "client_address="); ok {
					seen, _, _ = net.SplitHostPort(v)
				}
			}
			want := st.Addr[region+"a"]
			if tt.preserve == "true" {
				want = tn.client()
			}
			if seen != want {
				t.Errorf("target saw the client as %q, want %q", seen, want)
			}
		})
	}
}

// TestLiveReconfiguration changes a running load balancer: turning
// cross-zone load balancing on spreads zone a's flows to zone b's target,
// and moving the listener to another port closes the old one. Each change
// is in effect when its API call returns.
func TestLiveReconfiguration(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	ba := startEchoBackend(t, "target-a", tn.backend("a", 1)+":7000")
	bb := startEchoBackend(t, "target-b", tn.backend("b", 1)+":7000")
	st := createStack(t, s, stackSpec{
		name: "live", port: 7000, tgPort: 7000,
		targets: []types.TargetDescription{ipTarget(t, ba.Addr), ipTarget(t, bb.Addr)},
	})
	waitHealth(t, s, st.TG, ba.Addr, "healthy", 30*time.Second)
	waitHealth(t, s, st.TG, bb.Addr, "healthy", 30*time.Second)
	ctx := context.Background()
	if got := flowsTo(t, st.listenerAddr("a", 7000), 20); got[ba.Name] != 20 {
		t.Fatalf("cross-zone off: zone a's flows went:\n%s", histogram(got))
	}
	if _, err := s.ELB.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{
		LoadBalancerArn: aws.String(st.LB),
		Attributes:      []types.LoadBalancerAttribute{{Key: aws.String("load_balancing.cross_zone.enabled"), Value: aws.String("true")}},
	}); err != nil {
		t.Fatal(err)
	}
	if got := flowsTo(t, st.listenerAddr("a", 7000), 30); got[bb.Name] == 0 || got[ba.Name] == 0 {
		t.Errorf("cross-zone on: zone a's flows went:\n%s", histogram(got))
	}

	if _, err := s.ELB.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: aws.String(st.Listener), Port: aws.Int32(7100)}); err != nil {
		t.Fatal(err)
	}
	if _, err := whoAnswers(st.listenerAddr("a", 7100)); err != nil {
		t.Errorf("the new port right after ModifyListener: %v", err)
	}
	if _, err := whoAnswers(st.listenerAddr("a", 7000)); err == nil {
		t.Errorf("the old port still answers after ModifyListener")
	}
}
