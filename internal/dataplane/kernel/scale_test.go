package kernel

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/kelb-io/kelb/internal/dataplane"
	"github.com/kelb-io/kelb/internal/devcluster/kubelet/netnstest"
)

// flowsPerProcess keeps each helper process under the descriptor limit (20,000
// here): a client process holds one socket per flow, a target process one
// per accepted flow.
const flowsPerProcess = 12000

// TestManyIdleFlows holds KELB_SCALE_FLOWS (default 9,000; the figure is
// taken with 100,000) idle TCP flows through one kernel plane listener. The
// clients and targets are helper processes (this test binary again, see
// TestScaleHelper), each under its descriptor limit, with clients on several
// addresses; the plane holds no socket for the flows: they live in
// conntrack. Collect counts them all, and a new flow still works.
func TestManyIdleFlows(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	n := 9000
	if v := os.Getenv("KELB_SCALE_FLOWS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("KELB_SCALE_FLOWS=%q: want a positive number", v)
		}
	}
	if b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_max"); err == nil {
		if max, _ := strconv.Atoi(strings.TrimSpace(string(b))); max < n+1000 {
			t.Skipf("nf_conntrack_max is %d, below %d flows", max, n)
		}
	}
	// The namespace's own port range: 64,000 ports per client address.
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", []byte("1024 65535"), 0o644); err != nil {
		t.Fatal(err)
	}
	clients := (n + flowsPerProcess - 1) / flowsPerProcess
	// Maglev spreads flows within a few percent: one target more than
	// client processes keeps every target under flowsPerProcess.
	var targets []string
	for i := range clients + 1 {
		addr := fmt.Sprintf("198.18.1.%d:8080", 11+i)
		helper(t, "target", addr, 0)
		targets = append(targets, addr)
	}
	reg := prometheus.NewRegistry()
	p := newPlane(t, Options{Registerer: reg})
	t.Cleanup(func() { _ = p.Remove() })
	lb := netip.AddrPortFrom(lbAddr, 80)
	if err := p.Apply(dataplane.Config{Listeners: []dataplane.Listener{{Protocol: dataplane.ProtocolTCP, Address: lb.String(),
		LoadBalancer: "net/scale/1", TargetGroup: "targetgroup/scale/1", Targets: targets, PreserveClientIP: true}}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var g errgroup.Group
	for i := range clients {
		count := min(flowsPerProcess, n-i*flowsPerProcess)
		g.Go(func() error {
			helper(t, "clients", fmt.Sprintf("198.18.2.%d", 1+i), count)
			return nil
		})
	}
	_ = g.Wait()
	if t.Failed() {
		return
	}
	opened := time.Since(start)

	start = time.Now()
	if err := p.Collect(); err != nil {
		t.Fatal(err)
	}
	collected := time.Since(start)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	active, newFlows := 0.0, 0.0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "kelb_nlb_active_flows":
				active += m.GetGauge().GetValue()
			case "kelb_nlb_new_flows_total":
				newFlows += m.GetCounter().GetValue()
			}
		}
	}
	if int(active) != n || int(newFlows) != n {
		t.Errorf("active flows %v, new flows %v; want %d each", active, newFlows, n)
	}
	c, _, _ := dialLB(t, clientIP, lb)
	c.Close()
	var fds int
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		fds = len(ents)
	}
	t.Logf("%d idle flows from %d client processes to %d targets opened in %v; Collect read them from conntrack in %v; the plane's process holds %d descriptors",
		n, clients, len(targets), opened.Round(time.Millisecond), collected.Round(time.Millisecond), fds)
}

// helper starts this test binary as a helper process of role (target:
// listen on arg and hold every accepted connection; clients: open count
// connections from address arg to the load balancer and hold them), waits
// for it to say it is ready, and stops it when t ends.
func helper(t *testing.T, role, arg string, count int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestScaleHelper$", "-test.count", "1")
	cmd.Env = append(os.Environ(), "KELB_SCALE_ROLE="+role, "KELB_SCALE_ARG="+arg, fmt.Sprint("KELB_SCALE_COUNT=", count))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the helper exits when its stdin closes
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if line := sc.Text(); line == "ready" {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return
		} else if strings.HasPrefix(line, "error") {
			t.Errorf("%s helper %s: %s", role, arg, line)
			return
		}
	}
	t.Errorf("%s helper %s ended without being ready", role, arg)
}

// TestScaleHelper is TestManyIdleFlows's helper process; it does nothing
// in a test run of its own.
func TestScaleHelper(t *testing.T) {
	role, arg := os.Getenv("KELB_SCALE_ROLE"), os.Getenv("KELB_SCALE_ARG")
	if role == "" {
		return
	}
	count, _ := strconv.Atoi(os.Getenv("KELB_SCALE_COUNT"))
	var mu sync.Mutex
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	switch role {
	case "target":
		ln, err := net.Listen("tcp4", arg)
		if err != nil {
			fmt.Printf("error %v\n", err)
			return
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte("a\n"))
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}
		}()
	case "clients":
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		g, ctx := errgroup.WithContext(ctx)
		const workers = 8
		for w := range workers {
			g.Go(func() error {
				buf := make([]byte, 2)
				d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(arg)}}
				for i := w; i < count; i += workers {
					c, err := d.DialContext(ctx, "tcp4", netip.AddrPortFrom(lbAddr, 80).String())
					if err != nil {
						return fmt.Errorf("flow %d: %w", i, err)
					}
					mu.Lock()
					held = append(held, c)
					mu.Unlock()
					_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
					if _, err := io.ReadFull(c, buf); err != nil {
						return fmt.Errorf("flow %d: greeting: %w", i, err)
					}
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			fmt.Printf("error %v\n", err)
			return
		}
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
}
