package kernel

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/kelb-io/kelb/internal/dataplane"
	"github.com/kelb-io/kelb/internal/devcluster/kubelet/netnstest"
)

// TestManyIdleFlows holds KELB_SCALE_FLOWS (default 9,000: both ends of
// every flow are sockets of this process, which must stay under its
// descriptor limit) idle TCP flows through one kernel plane listener from
// several client addresses: the flows live in conntrack (the plane holds no
// socket for them), Collect counts them all, and an established flow and a
// new one still work.
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
	// Both ends of every flow are sockets of this test process.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if need := uint64(2*n + 500); lim.Cur < need {
		lim.Cur = max(need, lim.Max)
		if lim.Max < need {
			lim.Max = need
		}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Skipf("%d flows need %d descriptors: %v", n, need, err)
		}
	}
	// The namespace's own port range: 64,000 ports per client address.
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", []byte("1024 65535"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_max"); err == nil {
		if max, _ := strconv.Atoi(string(b[:len(b)-1])); max < n+1000 {
			t.Skipf("nf_conntrack_max is %d, below %d flows", max, n)
		}
	}

	// The target greets and then holds each connection, with no goroutine
	// per connection.
	ln, err := net.Listen("tcp4", "198.18.1.11:8080")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
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
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})

	reg := prometheus.NewRegistry()
	p := newPlane(t, Options{Registerer: reg})
	t.Cleanup(func() { _ = p.Remove() })
	lb := netip.AddrPortFrom(lbAddr, 80)
	if err := p.Apply(dataplane.Config{Listeners: []dataplane.Listener{{Protocol: dataplane.ProtocolTCP, Address: lb.String(),
		LoadBalancer: "net/scale/1", TargetGroup: "targetgroup/scale/1", Targets: []string{"198.18.1.11:8080"}, PreserveClientIP: true}}}); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	conns := make([]net.Conn, n)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	g, ctx := errgroup.WithContext(ctx)
	const workers = 16
	for w := range workers {
		g.Go(func() error {
			buf := make([]byte, 2)
			for i := w; i < n; i += workers {
				// 50,000 flows per client address.
				from := netip.AddrFrom4([4]byte{198, 18, 2, byte(1 + i/50000)})
				d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: from.AsSlice()}}
				c, err := d.DialContext(ctx, "tcp4", lb.String())
				if err != nil {
					return fmt.Errorf("flow %d: %w", i, err)
				}
				conns[i] = c
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Read(buf); err != nil {
					return fmt.Errorf("flow %d: greeting: %w", i, err)
				}
			}
			return nil
		})
	}
	err = g.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	if err != nil {
		t.Fatal(err)
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
	// The first flow is still up, and a new one is forwarded.
	if _, err := conns[0].Write([]byte("x")); err != nil {
		t.Errorf("first flow after %d more: %v", n-1, err)
	}
	c, _, greeting := dialLB(t, clientIP, lb)
	c.Close()
	if greeting != "a" {
		t.Errorf("new flow greeted %q", greeting)
	}
	var fds int
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		fds = len(ents)
	}
	t.Logf("%d idle flows opened in %v; Collect read them from conntrack in %v; the test process holds %d descriptors (both ends of every flow), the plane none per flow",
		n, opened.Round(time.Millisecond), collected.Round(time.Millisecond), fds)
}
