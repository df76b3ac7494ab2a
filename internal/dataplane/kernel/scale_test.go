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
	"runtime"
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
	n := scaleFlows(t, "KELB_SCALE_FLOWS", 9000)
	// Maglev spreads flows within a few percent: one target more than
	// client processes keeps every target under flowsPerProcess.
	var targets []string
	for i := range (n+flowsPerProcess-1)/flowsPerProcess + 1 {
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
	clients := openFlows(t, "clients", n)
	if t.Failed() {
		return
	}
	opened := time.Since(start)

	start = time.Now()
	if err := p.Collect(); err != nil {
		t.Fatal(err)
	}
	collected := time.Since(start)
	active, newFlows := flowMetrics(t, reg)
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

// TestManyUDPSources sends one datagram from each of
// KELB_SCALE_UDP_SOURCES (default 3,000; the figure is taken with 100,000)
// client source address:ports through one kernel plane UDP listener to UDP
// echo targets and reads each echo. Clients and targets are helper
// processes (see TestScaleHelper); the plane's process keeps the
// descriptors and, after reading the flows into the metrics, the Go heap it
// had before them, give or take a small constant: the flows live in
// conntrack. Collect counts them all as active flows, and a new UDP flow and
// a new TCP flow through the same load balancer still work.
func TestManyUDPSources(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	n := scaleFlows(t, "KELB_SCALE_UDP_SOURCES", 3000)
	// A UDP target is one socket however many flows it serves.
	udpTargets := []string{"198.18.1.11:5300", "198.18.1.12:5300"}
	for _, addr := range udpTargets {
		helper(t, "udptarget", addr, 0)
	}
	tcpTarget := "198.18.1.21:8080"
	helper(t, "target", tcpTarget, 0)
	reg := prometheus.NewRegistry()
	// A flow timeout longer than the test: every source is a flow until
	// it is counted.
	p := newPlane(t, Options{Registerer: reg, UDPFlowTimeout: 10 * time.Minute})
	t.Cleanup(func() { _ = p.Remove() })
	udpLB, tcpLB := netip.AddrPortFrom(lbAddr, 53), netip.AddrPortFrom(lbAddr, 80)
	if err := p.Apply(dataplane.Config{Listeners: []dataplane.Listener{
		{Protocol: dataplane.ProtocolUDP, Address: udpLB.String(), LoadBalancer: "net/scale/1",
			TargetGroup: "targetgroup/scale-udp/1", Targets: udpTargets, PreserveClientIP: true},
		{Protocol: dataplane.ProtocolTCP, Address: tcpLB.String(), LoadBalancer: "net/scale/1",
			TargetGroup: "targetgroup/scale-tcp/1", Targets: []string{tcpTarget}, PreserveClientIP: true},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := p.Collect(); err != nil {
		t.Fatal(err)
	}
	before := usageOf(t)

	start := time.Now()
	clients := openFlows(t, "udpclients", n)
	if t.Failed() {
		return
	}
	opened := time.Since(start)
	start = time.Now()
	if err := p.Collect(); err != nil {
		t.Fatal(err)
	}
	collected := time.Since(start)
	after := usageOf(t)
	active, newFlows := flowMetrics(t, reg)
	if int(active) != n || int(newFlows) != n {
		t.Errorf("active flows %v, new flows %v; want %d each", active, newFlows, n)
	}
	// The constants: a descriptor or two the runtime or a netlink
	// connection may hold, and a MiB of heap that no per-flow state fits in
	// at 100,000 flows.
	if after.fds > before.fds+2 {
		t.Errorf("the plane's process holds %d descriptors after %d UDP flows, %d before", after.fds, n, before.fds)
	}
	if after.heap > before.heap+1<<20 {
		t.Errorf("the plane's process has %d bytes of Go heap after %d UDP flows, %d before", after.heap, n, before.heap)
	}

	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(clientIP, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := udpEcho(context.Background(), c, udpLB); err != nil {
		t.Errorf("a new UDP flow after %d: %v", n, err)
	}
	tc, _, _ := dialLB(t, clientIP, tcpLB)
	tc.Close()
	t.Logf("%d UDP sources from %d client processes to %d targets answered in %v; Collect read them from conntrack in %v; the plane's process held %d descriptors and %d KiB of Go heap before them, %d and %d KiB after",
		n, clients, len(udpTargets), opened.Round(time.Millisecond), collected.Round(time.Millisecond),
		before.fds, before.heap>>10, after.fds, after.heap>>10)
}

// usage is what the plane's process holds: descriptors and live Go heap.
type usage struct {
	fds  int
	heap uint64
}

// usageOf measures this process's usage, after a garbage collection. The
// descriptors leave out pipes and process descriptors: those of the helper
// processes, which the plane has none of.
func usageOf(t *testing.T) usage {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var u usage
	for _, e := range ents {
		link, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil && (strings.HasPrefix(link, "pipe:") || link == "anon_inode:[pidfd]") {
			continue
		}
		u.fds++
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	u.heap = ms.HeapAlloc
	return u
}

// scaleFlows returns the number of flows a scale test holds: the positive
// number in environment variable env, or def. It skips the test when
// conntrack cannot hold them, and opens the namespace's own port range:
// 64,000 ports per client address.
func scaleFlows(t *testing.T, env string, def int) int {
	t.Helper()
	n := def
	if v := os.Getenv(env); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", env, v)
		}
	}
	if b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_max"); err == nil {
		if max, _ := strconv.Atoi(strings.TrimSpace(string(b))); max < n+1000 {
			t.Skipf("nf_conntrack_max is %d, below %d flows", max, n)
		}
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", []byte("1024 65535"), 0o644); err != nil {
		t.Fatal(err)
	}
	return n
}

// openFlows starts the client helper processes of role that open n flows
// between them, flowsPerProcess each from addresses 198.18.2.1 on, waits
// until they all hold their flows and returns how many processes it
// started.
func openFlows(t *testing.T, role string, n int) int {
	t.Helper()
	clients := (n + flowsPerProcess - 1) / flowsPerProcess
	var g errgroup.Group
	for i := range clients {
		count := min(flowsPerProcess, n-i*flowsPerProcess)
		g.Go(func() error {
			helper(t, role, fmt.Sprintf("198.18.2.%d", 1+i), count)
			return nil
		})
	}
	_ = g.Wait()
	return clients
}

// flowMetrics returns the active flows and new flows the plane's metrics
// in reg count over all its listeners.
func flowMetrics(t *testing.T, reg *prometheus.Registry) (active, newFlows float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
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
	return active, newFlows
}

// helper starts this test binary as a helper process of role (target:
// listen on TCP address arg and hold every accepted connection; udptarget:
// echo every datagram to UDP address arg on one socket; clients and
// udpclients: open count TCP or UDP flows from address arg to the load
// balancer and hold their sockets), waits for it to say it is ready, and
// stops it when t ends.
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

// TestScaleHelper is the scale tests' helper process; it does nothing in a
// test run of its own.
func TestScaleHelper(t *testing.T) {
	role, arg := os.Getenv("KELB_SCALE_ROLE"), os.Getenv("KELB_SCALE_ARG")
	if role == "" {
		return
	}
	count, _ := strconv.Atoi(os.Getenv("KELB_SCALE_COUNT"))
	var mu sync.Mutex
	var held []io.Closer
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	hold := func(c io.Closer) {
		mu.Lock()
		held = append(held, c)
		mu.Unlock()
	}
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
				hold(c)
			}
		}()
	case "udptarget":
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(arg)))
		if err != nil {
			fmt.Printf("error %v\n", err)
			return
		}
		defer c.Close()
		go func() {
			buf := make([]byte, 1500)
			for {
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				_, _ = c.WriteToUDPAddrPort(buf[:n], from)
			}
		}()
	case "clients", "udpclients":
		open := openTCP
		if role == "udpclients" {
			open = openUDP
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		g, ctx := errgroup.WithContext(ctx)
		const workers = 8
		for w := range workers {
			g.Go(func() error {
				for i := w; i < count; i += workers {
					c, err := open(ctx, arg)
					if err != nil {
						return fmt.Errorf("flow %d: %w", i, err)
					}
					hold(c)
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

// openTCP opens a TCP flow from address from to the scale tests' TCP
// listener and reads its target's greeting.
func openTCP(ctx context.Context, from string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.DialContext(ctx, "tcp4", netip.AddrPortFrom(lbAddr, 80).String())
	if err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	return c, nil
}

// openUDP opens a UDP flow from a new port of address from to the scale
// tests' UDP listener: one datagram and its echo, the datagram sent again
// after a second without an echo, at most five times.
func openUDP(ctx context.Context, from string) (net.Conn, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(from)})
	if err != nil {
		return nil, err
	}
	if err := udpEcho(ctx, c, netip.AddrPortFrom(lbAddr, 53)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// udpEcho sends one datagram from c to lb and reads its echo, which must
// come from lb; it sends again after a second without, at most five times.
func udpEcho(ctx context.Context, c *net.UDPConn, lb netip.AddrPort) error {
	msg := []byte(c.LocalAddr().String())
	buf := make([]byte, 1500)
	var err error
	for range 5 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, err = c.WriteToUDPAddrPort(msg, lb); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		var n int
		var from netip.AddrPort
		if n, from, err = c.ReadFromUDPAddrPort(buf); err != nil {
			continue
		}
		if from != lb || string(buf[:n]) != string(msg) {
			return fmt.Errorf("echo %q from %s, want %q from %s", buf[:n], from, msg, lb)
		}
		return nil
	}
	return fmt.Errorf("no echo from %s: %w", lb, err)
}
