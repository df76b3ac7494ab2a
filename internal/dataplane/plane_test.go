package dataplane

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/confview"
	"github.com/kelb-io/kelb/internal/dataplane/proxyproto"
	"github.com/kelb-io/kelb/internal/devcluster/kubelet/netnstest"
	"github.com/kelb-io/kelb/internal/elb"
)

// Loopback addresses of the tests: the load balancer's two zones, and the
// targets' addresses.
var (
	zoneAAddr = netip.MustParseAddr("127.0.0.2")
	zoneBAddr = netip.MustParseAddr("127.0.0.3")
	clientIP  = netip.MustParseAddr("127.0.0.9")
)

// backend is a TCP target: it greets each connection with its name and the
// connection's source address (or the PROXY header's), echoes, and says
// "bye" after the client's EOF.
type backend struct {
	name  string
	addr  netip.AddrPort
	ln    net.Listener
	proxy bool
	// tls, when set, makes the backend a TLS target (after the PROXY
	// header); its greeting then ends with the negotiated ALPN protocol.
	tls *tls.Config

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func startBackend(t *testing.T, name, ip string, proxy bool) *backend {
	t.Helper()
	return startBackendOf(t, &backend{name: name, proxy: proxy}, ip)
}

func startBackendOf(t *testing.T, b *backend, ip string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", netip.AddrPortFrom(netip.MustParseAddr(ip), 0).String())
	if err != nil {
		t.Fatalf("listen backend %s: %v", b.name, err)
	}
	b.addr, b.ln = ln.Addr().(*net.TCPAddr).AddrPort(), ln
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				b.serve(c)
			}()
		}
	}()
	t.Cleanup(b.stop)
	return b
}

func (b *backend) serve(c net.Conn) {
	defer c.Close()
	src := c.RemoteAddr().String()
	if b.proxy {
		h, err := proxyproto.Read(c)
		if err != nil {
			fmt.Fprintf(c, "bad-proxy-header %v\n", err)
			return
		}
		src = h.Source.String() + " to " + h.Destination.String()
	}
	if b.tls != nil {
		tc := tls.Server(c, b.tls)
		if err := tc.Handshake(); err != nil {
			return
		}
		src += " alpn=" + tc.ConnectionState().NegotiatedProtocol
		c = tc
	}
	if _, err := fmt.Fprintf(c, "%s %s\n", b.name, src); err != nil {
		return
	}
	if _, err := io.Copy(c, c); err != nil {
		return
	}
	fmt.Fprintf(c, "bye\n")
}

func (b *backend) stop() {
	b.ln.Close()
	b.mu.Lock()
	for _, c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// target is the backend as an elb.Target in zone.
func (b *backend) target(zone string) elb.Target {
	return elb.Target{ID: b.addr.Addr().String(), Port: int32(b.addr.Port()), AvailabilityZone: zone}
}

func (b *backend) key() elb.TargetKey {
	return elb.TargetKey{ID: b.addr.Addr().String(), Port: int32(b.addr.Port())}
}

// freePort returns a port free for TCP and UDP on both zone addresses. It is
// taken below the kernel's ephemeral range, so that kelb's own connections
// to targets (from the zone addresses) cannot take it before Apply binds it.
func freePort(t *testing.T) uint16 {
	t.Helper()
	for range 100 {
		port := uint16(20000 + rand.IntN(10000))
		ok := true
		for _, a := range []netip.Addr{zoneAAddr, zoneBAddr} {
			addr := netip.AddrPortFrom(a, port).String()
			u, err := net.ListenPacket("udp4", addr)
			if err != nil {
				ok = false
				break
			}
			u.Close()
			l, err := net.Listen("tcp4", addr)
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// lbState is a network load balancer in zones a and b with one listener on
// port forwarding to a target group of targets.
type lbState struct {
	port       uint16
	protocol   string
	tgProtocol string
	lbAttrs    map[string]string
	tgAttrs    map[string]string
	targets    []elb.Target
}

func (s lbState) state() elb.State {
	st := testState(stateOpts{protocol: s.protocol, tgProtocol: s.tgProtocol, lbAttrs: s.lbAttrs, tgAttrs: s.tgAttrs, targets: s.targets})
	st.LoadBalancers[0].Zones = []elb.ZoneAddress{{Zone: "zone-a", Address: zoneAAddr}, {Zone: "zone-b", Address: zoneBAddr}}
	st.Listeners[0].Port = int32(s.port)
	return st
}

func newPlane(t *testing.T, opts Options) *Plane {
	t.Helper()
	p := New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return p
}

// TestPlane is a data plane the behaviour suite runs against.
type TestPlane interface {
	Apply(Config) error
	Run(context.Context) error
	Close()
}

// KernelPlaneForTest makes kelb's kernel plane (with the userspace plane for
// the listeners the kernel cannot run). Package dataplane_test sets it: it
// can import package kernel, which imports this one.
var KernelPlaneForTest func(Options) (TestPlane, error)

// planeKind is a plane of the behaviour suite.
type planeKind struct {
	name   string
	kernel bool
}

// forEachPlane runs a behaviour test against every plane: the userspace
// plane, and the kernel plane where the test can be root. With root the
// whole test runs in a network namespace of its own (netnstest), so that the
// kernel plane's nftables table and conntrack entries are private to it.
func forEachPlane(t *testing.T, run func(t *testing.T, k planeKind)) {
	t.Helper()
	kinds := []planeKind{{name: "userspace"}}
	if os.Geteuid() == 0 && KernelPlaneForTest != nil {
		if !netnstest.Enter(t) {
			return
		}
		kinds = append(kinds, planeKind{name: "kernel", kernel: true})
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) { run(t, k) })
	}
}

// newPlaneOf starts a plane of kind k; Cleanup stops it.
func newPlaneOf(t *testing.T, k planeKind, opts Options) TestPlane {
	t.Helper()
	if !k.kernel {
		return newPlane(t, opts)
	}
	p, err := KernelPlaneForTest(opts)
	if err != nil {
		t.Fatalf("kernel plane: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		p.Close()
	})
	return p
}

// wantReset checks that a new connection was reset: the userspace plane
// accepts and resets it, the kernel plane answers its SYN with a reset,
// which the client sees as a refusal.
func (k planeKind) wantReset(t *testing.T, err error) {
	t.Helper()
	want := syscall.ECONNRESET
	if k.kernel {
		want = syscall.ECONNREFUSED
	}
	if !errors.Is(err, want) {
		t.Errorf("connection: %v, want %v", err, want)
	}
}

// waitClosed checks that kelb closed an established connection: the
// userspace plane resets it at once; the kernel plane has deleted its
// conntrack entry, so its next packet is answered with a reset.
func (k planeKind) waitClosed(t *testing.T, c *clientConn) {
	t.Helper()
	if !k.kernel {
		waitClosed(t, c)
		return
	}
	if err := c.echo("after close"); err == nil {
		t.Fatal("closed connection still forwards")
	}
}

func apply(t *testing.T, p TestPlane, cfg Config) {
	t.Helper()
	if err := p.Apply(cfg); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// clientConn is a client connection through the load balancer.
type clientConn struct {
	*net.TCPConn
	r *bufio.Reader
}

// dial connects to the load balancer at lb:port from clientIP and returns
// the connection and the greeting line of the target it reached.
func dial(t *testing.T, lb netip.Addr, port uint16) (*clientConn, string) {
	t.Helper()
	c, greeting, err := tryDial(lb, port)
	if err != nil {
		t.Fatalf("connect through %s:%d: %v", lb, port, err)
	}
	t.Cleanup(func() { c.Close() })
	return c, greeting
}

func tryDial(lb netip.Addr, port uint16) (*clientConn, string, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: clientIP.AsSlice()}}
	nc, err := d.Dial("tcp4", netip.AddrPortFrom(lb, port).String())
	if err != nil {
		return nil, "", err
	}
	c := &clientConn{TCPConn: nc.(*net.TCPConn), r: bufio.NewReader(nc)}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, "", fmt.Errorf("read greeting: %w", err)
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, strings.TrimSpace(line), nil
}

// echo sends msg and checks that it comes back.
func (c *clientConn) echo(msg string) error {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	if got := strings.TrimSpace(line); got != msg {
		return fmt.Errorf("echo = %q, want %q", got, msg)
	}
	return nil
}

func targetName(greeting string) string {
	name, _, _ := strings.Cut(greeting, " ")
	return name
}

// eventually polls cond until it holds or the bounded wait ends.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitClosed reads from c until the connection ends, and fails if it does
// not end within the bounded wait.
func waitClosed(t *testing.T, c *clientConn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after the wait")
	}
}

func TestTCPSpread(t *testing.T) {
	forEachPlane(t, func(t *testing.T, k planeKind) {
		tests := []struct {
			name      string
			crossZone string
			// want per LB zone address: how many of 50 connections each
			// backend may get (min, max).
			wantA, wantB map[string][2]int
		}{
			{
				name:      "cross-zone spreads over both zones",
				crossZone: "true",
				wantA:     map[string][2]int{"a": {15, 35}, "b": {15, 35}},
				wantB:     map[string][2]int{"a": {15, 35}, "b": {15, 35}},
			},
			{
				name:      "zone-local",
				crossZone: "false",
				wantA:     map[string][2]int{"a": {50, 50}},
				wantB:     map[string][2]int{"b": {50, 50}},
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a := startBackend(t, "a", "127.0.0.11", false)
				b := startBackend(t, "b", "127.0.0.12", false)
				s := lbState{port: freePort(t), lbAttrs: map[string]string{attrCrossZone: tt.crossZone},
					targets: []elb.Target{a.target("zone-a"), b.target("zone-b")}}
				h := healthMap{testTGARN: {a.key(): elb.HealthHealthy, b.key(): elb.HealthHealthy}}
				p := newPlaneOf(t, k, Options{})
				apply(t, p, Build(confview.New(s.state()), h))
				for _, zone := range []struct {
					addr netip.Addr
					want map[string][2]int
				}{{zoneAAddr, tt.wantA}, {zoneBAddr, tt.wantB}} {
					counts := map[string]int{}
					for range 50 {
						c, greeting := dial(t, zone.addr, s.port)
						counts[targetName(greeting)]++
						c.Close()
					}
					for name, n := range counts {
						want, ok := zone.want[name]
						if !ok || n < want[0] || n > want[1] {
							t.Errorf("via %s: target %s got %d of 50 connections, want %v (all: %v)", zone.addr, name, n, zone.want, counts)
						}
					}
				}
			})
		}
	})
}

func TestTCPHealthRouting(t *testing.T) {
	forEachPlane(t, func(t *testing.T, k planeKind) {
		tests := []struct {
			name           string
			healthA        string
			healthB        string
			crossZone      string
			wantViaA       string // the only target reached through zone a
			wantViaB       string
			wantAnyTargets bool // fail open: both targets may be reached
		}{
			{name: "unhealthy target gets no new flows", healthA: elb.HealthUnhealthy, healthB: elb.HealthHealthy, crossZone: "true", wantViaA: "b", wantViaB: "b"},
			{name: "initial target gets no new flows", healthA: elb.HealthHealthy, healthB: elb.HealthInitial, crossZone: "true", wantViaA: "a", wantViaB: "a"},
			{name: "zone without healthy targets fails over", healthA: elb.HealthUnhealthy, healthB: elb.HealthHealthy, crossZone: "false", wantViaA: "b", wantViaB: "b"},
			{name: "no healthy target fails open", healthA: elb.HealthUnhealthy, healthB: elb.HealthUnhealthy, crossZone: "false", wantViaA: "a", wantViaB: "b"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a := startBackend(t, "a", "127.0.0.11", false)
				b := startBackend(t, "b", "127.0.0.12", false)
				s := lbState{port: freePort(t), lbAttrs: map[string]string{attrCrossZone: tt.crossZone},
					targets: []elb.Target{a.target("zone-a"), b.target("zone-b")}}
				h := healthMap{testTGARN: {a.key(): tt.healthA, b.key(): tt.healthB}}
				p := newPlaneOf(t, k, Options{})
				apply(t, p, Build(confview.New(s.state()), h))
				for lb, want := range map[netip.Addr]string{zoneAAddr: tt.wantViaA, zoneBAddr: tt.wantViaB} {
					for range 20 {
						c, greeting := dial(t, lb, s.port)
						if got := targetName(greeting); got != want {
							t.Fatalf("via %s reached target %q, want %q", lb, got, want)
						}
						c.Close()
					}
				}
			})
		}
	})
}

func TestTCPNoTargetsResets(t *testing.T) {
	forEachPlane(t, func(t *testing.T, k planeKind) {
		s := lbState{port: freePort(t)}
		p := newPlaneOf(t, k, Options{})
		apply(t, p, Build(confview.New(s.state()), nil))
		_, _, err := tryDial(zoneAAddr, s.port)
		k.wantReset(t, err)
	})
}

func TestTCPDialFailover(t *testing.T) {
	forEachPlane(t, func(t *testing.T, k planeKind) {
		if k.kernel {
			t.Log("the kernel plane does not retry a refusing target: health checks take it out of the set")
			return
		}
		a := startBackend(t, "a", "127.0.0.11", false)
		// A target that refuses connections: a port nothing listens on.
		dead := startBackend(t, "dead", "127.0.0.12", false)
		dead.stop()
		s := lbState{port: freePort(t), targets: []elb.Target{a.target("zone-a"), dead.target("zone-a")}}
		h := healthMap{testTGARN: {a.key(): elb.HealthHealthy, dead.key(): elb.HealthHealthy}}
		p := newPlaneOf(t, k, Options{})
		apply(t, p, Build(confview.New(s.state()), h))
		for range 20 {
			c, greeting := dial(t, zoneAAddr, s.port)
			if got := targetName(greeting); got != "a" {
				t.Fatalf("reached %q, want the live target a", got)
			}
			c.Close()
		}
	})
}

func TestTCPHalfClose(t *testing.T) {
	forEachPlane(t, func(t *testing.T, k planeKind) {
		a := startBackend(t, "a", "127.0.0.11", false)
		s := lbState{port: freePort(t), targets: []elb.Target{a.target("zone-a")}}
		p := newPlaneOf(t, k, Options{})
		apply(t, p, Build(confview.New(s.state()), healthMap{testTGARN: {a.key(): elb.HealthHealthy}}))
		c, _ := dial(t, zoneAAddr, s.port)
		if _, err := io.WriteString(c, "last words\n"); err != nil {
			t.Fatal(err)
		}
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		rest, err := io.ReadAll(c.r)
		if err != nil {
			t.Fatalf("read after half-close: %v", err)
		}
		if diff := cmp.Diff("last words\nbye\n", string(rest)); diff != "" {
			t.Errorf("data after half-close (-want +got):\n%s", diff)
		}
	})
}

// connectedTo dials until it reaches target name (flows spread by hash).
func connectedTo(t *testing.T, port uint16, name string) *clientConn {
	t.Helper()
	for range 100 {
		c, greeting := dial(t, zoneAAddr, port)
		if targetName(greeting) == name {
			return c
		}
		c.Close()
	}
	t.Fatalf("no connection reached target %s", name)
	return nil
}

func TestTCPDrainingAndTermination(t *testing.T) {
	forEachPlane(t, func(t *testing.T, k planeKind) {
		tests := []struct {
			name string
			// change turns target a's state after the connection is up.
			change        func(s *lbState, h healthMap, a *backend)
			wantConnAlive bool
		}{
			{
				name: "draining target keeps its connection",
				change: func(s *lbState, h healthMap, a *backend) {
					s.targets[0].DeregisteredAt = time.Unix(1, 0)
					h[testTGARN][a.key()] = elb.HealthDraining
				},
				wantConnAlive: true,
			},
			{
				name: "deregistered target keeps its connection without termination",
				change: func(s *lbState, h healthMap, a *backend) {
					s.targets = s.targets[1:]
				},
				wantConnAlive: true,
			},
			{
				name: "deregistered target's connection closed with termination",
				change: func(s *lbState, h healthMap, a *backend) {
					s.tgAttrs[attrTerminateOnDeregister] = "true"
					s.targets = s.targets[1:]
				},
				wantConnAlive: false,
			},
			{
				name: "unhealthy target's connection closed",
				change: func(s *lbState, h healthMap, a *backend) {
					h[testTGARN][a.key()] = elb.HealthUnhealthy
				},
				wantConnAlive: false,
			},
			{
				name: "unhealthy target keeps its connection when termination is off",
				change: func(s *lbState, h healthMap, a *backend) {
					s.tgAttrs[attrTerminateOnUnhealthy] = "false"
					h[testTGARN][a.key()] = elb.HealthUnhealthy
				},
				wantConnAlive: true,
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a := startBackend(t, "a", "127.0.0.11", false)
				b := startBackend(t, "b", "127.0.0.12", false)
				s := lbState{port: freePort(t), tgAttrs: map[string]string{},
					targets: []elb.Target{a.target("zone-a"), b.target("zone-a")}}
				h := healthMap{testTGARN: {a.key(): elb.HealthHealthy, b.key(): elb.HealthHealthy}}
				p := newPlaneOf(t, k, Options{})
				apply(t, p, Build(confview.New(s.state()), h))
				conn := connectedTo(t, s.port, "a")
				if err := conn.echo("before"); err != nil {
					t.Fatal(err)
				}

				tt.change(&s, h, a)
				apply(t, p, Build(confview.New(s.state()), h))

				for range 20 {
					c, greeting := dial(t, zoneAAddr, s.port)
					if got := targetName(greeting); got != "b" {
						t.Fatalf("new connection reached %q after the change, want b", got)
					}
					c.Close()
				}
				if tt.wantConnAlive {
					if err := conn.echo("after"); err != nil {
						t.Errorf("established connection broke: %v", err)
					}
				} else {
					k.waitClosed(t, conn)
				}
			})
		}
	})
}

func TestTCPProxyProtocolV2(t *testing.T) {
	forEachPlane(t, func(t *testing.T, k planeKind) {
		a := startBackend(t, "a", "127.0.0.11", true)
		s := lbState{port: freePort(t), tgAttrs: map[string]string{attrProxyProtocolV2: "true"},
			targets: []elb.Target{a.target("zone-a")}}
		p := newPlaneOf(t, k, Options{})
		apply(t, p, Build(confview.New(s.state()), healthMap{testTGARN: {a.key(): elb.HealthHealthy}}))
		c, greeting := dial(t, zoneBAddr, s.port)
		want := fmt.Sprintf("a %s to %s", c.LocalAddr(), netip.AddrPortFrom(zoneBAddr, s.port))
		if diff := cmp.Diff(want, greeting); diff != "" {
			t.Errorf("target's view of the PROXY header (-want +got):\n%s", diff)
		}
		if err := c.echo("data after the header"); err != nil {
			t.Error(err)
		}
	})
}

func TestTCPPreserveClientIP(t *testing.T) {
	forEachPlane(t, func(t *testing.T, k planeKind) {
		tests := []struct {
			preserve string
			wantIP   netip.Addr
		}{
			{"true", clientIP},
			{"false", zoneAAddr},
		}
		for _, tt := range tests {
			t.Run(tt.preserve, func(t *testing.T) {
				a := startBackend(t, "a", "127.0.0.11", false)
				s := lbState{port: freePort(t), tgAttrs: map[string]string{attrPreserveClientIP: tt.preserve},
					targets: []elb.Target{a.target("zone-a")}}
				p := newPlaneOf(t, k, Options{})
				apply(t, p, Build(confview.New(s.state()), healthMap{testTGARN: {a.key(): elb.HealthHealthy}}))
				_, greeting := dial(t, zoneAAddr, s.port)
				_, src, _ := strings.Cut(greeting, " ")
				got, err := netip.ParseAddrPort(src)
				if err != nil {
					t.Fatalf("target saw source %q: %v", src, err)
				}
				if got.Addr() != tt.wantIP {
					t.Errorf("target saw the connection from %s, want %s", got.Addr(), tt.wantIP)
				}
			})
		}
	})
}

func TestTCPIdleTimeout(t *testing.T) {
	forEachPlane(t, func(t *testing.T, k planeKind) {
		a := startBackend(t, "a", "127.0.0.11", false)
		s := lbState{port: freePort(t), targets: []elb.Target{a.target("zone-a")}}
		p := newPlaneOf(t, k, Options{})
		cfg := Build(confview.New(s.state()), healthMap{testTGARN: {a.key(): elb.HealthHealthy}})
		// The kernel plane's conntrack timeouts count whole seconds.
		for i := range cfg.Listeners {
			cfg.Listeners[i].IdleTimeout = time.Second
		}
		apply(t, p, cfg)

		idle, _ := dial(t, zoneAAddr, s.port)
		busy, _ := dial(t, zoneAAddr, s.port)
		// busy talks every 100ms for two and a half idle timeouts; idle says
		// nothing.
		for i := range 25 {
			if err := busy.echo(fmt.Sprint("tick ", i)); err != nil {
				t.Fatalf("busy connection broke at tick %d: %v", i, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		k.waitClosed(t, idle)
	})
}

func TestApplyKeepsEstablishedConnections(t *testing.T) {
	forEachPlane(t, func(t *testing.T, k planeKind) {
		a := startBackend(t, "a", "127.0.0.11", false)
		b := startBackend(t, "b", "127.0.0.12", false)
		c := startBackend(t, "c", "127.0.0.13", false)
		s := lbState{port: freePort(t), targets: []elb.Target{a.target("zone-a"), b.target("zone-a")}}
		h := healthMap{testTGARN: {a.key(): elb.HealthHealthy, b.key(): elb.HealthHealthy, c.key(): elb.HealthInitial}}
		p := newPlaneOf(t, k, Options{})
		apply(t, p, Build(confview.New(s.state()), h))

		// Ten connections talk without pause while the configuration changes
		// under them: a target joins, turns healthy, cross-zone flips, the
		// target leaves again.
		var conns []*clientConn
		for range 10 {
			conn, _ := dial(t, zoneAAddr, s.port)
			conns = append(conns, conn)
		}
		stop := make(chan struct{})
		errs := make(chan error, len(conns))
		var wg sync.WaitGroup
		for i, conn := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ; n++ {
					select {
					case <-stop:
						errs <- nil
						return
					default:
					}
					if err := conn.echo(fmt.Sprintf("conn %d message %d", i, n)); err != nil {
						errs <- fmt.Errorf("connection %d, message %d: %w", i, n, err)
						return
					}
				}
			}()
		}
		for i := range 40 {
			switch i % 4 {
			case 0:
				s.targets = append(s.targets[:2], c.target("zone-a"))
			case 1:
				h[testTGARN][c.key()] = elb.HealthHealthy
			case 2:
				s.lbAttrs = map[string]string{attrCrossZone: "true"}
			case 3:
				s.targets = s.targets[:2]
				s.lbAttrs = nil
				h[testTGARN][c.key()] = elb.HealthInitial
			}
			apply(t, p, Build(confview.New(s.state()), h))
			time.Sleep(5 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})
}

func TestApplyOpensAndClosesListeners(t *testing.T) {
	forEachPlane(t, func(t *testing.T, k planeKind) {
		a := startBackend(t, "a", "127.0.0.11", false)
		s := lbState{port: freePort(t), targets: []elb.Target{a.target("zone-a")}}
		h := healthMap{testTGARN: {a.key(): elb.HealthHealthy}}
		p := newPlaneOf(t, k, Options{})
		apply(t, p, Build(confview.New(s.state()), h))
		c, _ := dial(t, zoneAAddr, s.port)

		apply(t, p, Config{})
		if _, _, err := tryDial(zoneAAddr, s.port); err == nil {
			t.Error("removed listener still accepts connections")
		}
		if err := c.echo("still here"); err != nil {
			t.Errorf("connection of a removed listener broke: %v", err)
		}

		apply(t, p, Build(confview.New(s.state()), h))
		c2, _ := dial(t, zoneAAddr, s.port)
		if err := c2.echo("back"); err != nil {
			t.Error(err)
		}
	})
}

func TestApplyReportsBadListeners(t *testing.T) {
	forEachPlane(t, func(t *testing.T, k planeKind) {
		port := freePort(t)
		p := newPlaneOf(t, k, Options{})
		good := Listener{Protocol: ProtocolTCP, Address: netip.AddrPortFrom(zoneAAddr, port).String()}
		if k.kernel {
			// A socket on the listener's address: the kernel plane's table
			// answers before it does.
			squatter, err := net.Listen("tcp4", good.Address)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { squatter.Close() })
		}
		err := p.Apply(Config{Listeners: []Listener{
			good,
			{Protocol: "SCTP", Address: "127.0.0.2:1"},
			{Protocol: ProtocolTCP, Address: "not-an-address"},
			{Protocol: ProtocolTCP, Address: good.Address},
		}})
		if err == nil {
			t.Fatal("Apply of invalid listeners returned no error")
		}
		for _, want := range []string{"SCTP", "not-an-address", "already used"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Apply error %q does not mention %q", err, want)
			}
		}
		// The valid listener is up: it resets (no targets).
		_, _, dialErr := tryDial(zoneAAddr, port)
		k.wantReset(t, dialErr)
	})
}

func TestClose(t *testing.T) {
	a := startBackend(t, "a", "127.0.0.11", false)
	s := lbState{port: freePort(t), targets: []elb.Target{a.target("zone-a")}}
	p := New(Options{})
	apply(t, p, Build(confview.New(s.state()), healthMap{testTGARN: {a.key(): elb.HealthHealthy}}))
	c, _ := dial(t, zoneAAddr, s.port)
	p.Close()
	waitClosed(t, c)
	if err := p.Apply(Config{}); err == nil {
		t.Error("Apply after Close returned no error")
	}
	p.Close() // idempotent
}

func TestTCPSourceIPStickiness(t *testing.T) {
	forEachPlane(t, func(t *testing.T, k planeKind) {
		tests := []struct {
			name       string
			stickiness map[string]string
			wantOne    bool // every connection of the client on one target
		}{
			{"source_ip", map[string]string{attrStickinessEnabled: "true", attrStickinessType: "source_ip"}, true},
			{"off: flows spread", nil, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var targets []elb.Target
				h := healthMap{testTGARN: {}}
				for i := range 4 {
					b := startBackend(t, fmt.Sprint("t", i), fmt.Sprintf("127.0.0.%d", 11+i), false)
					targets = append(targets, b.target("zone-a"))
					h[testTGARN][b.key()] = elb.HealthHealthy
				}
				s := lbState{port: freePort(t), tgAttrs: tt.stickiness, targets: targets}
				p := newPlaneOf(t, k, Options{})
				apply(t, p, Build(confview.New(s.state()), h))
				seen := map[string]bool{}
				for range 20 {
					c, greeting := dial(t, zoneAAddr, s.port)
					seen[targetName(greeting)] = true
					c.Close()
				}
				if got := len(seen) == 1; got != tt.wantOne {
					t.Errorf("20 connections from one client reached %d targets %v", len(seen), seen)
				}
			})
		}
	})
}

func TestSourceRanges(t *testing.T) {
	forEachPlane(t, func(t *testing.T, k planeKind) {
		tests := []struct {
			ranges    string
			wantReach bool
		}{
			{"", true},
			{"127.0.0.9/32", true},
			{"10.0.0.0/8, 127.0.0.0/30", false},
		}
		for _, tt := range tests {
			t.Run(tt.ranges, func(t *testing.T) {
				tcp := startBackend(t, "tcp", "127.0.0.11", false)
				startUDPBackendAt(t, "udp", tcp.addr)
				s := lbState{port: freePort(t), protocol: "TCP_UDP", targets: []elb.Target{tcp.target("zone-a")}}
				st := s.state()
				st.Listeners[0].Attributes = map[string]string{elb.AttrSourceRanges: tt.ranges}
				p := newPlaneOf(t, k, Options{})
				apply(t, p, Build(confview.New(st), healthMap{testTGARN: {tcp.key(): elb.HealthHealthy}}))

				c, _, err := tryDial(zoneAAddr, s.port)
				if c != nil {
					c.Close()
				}
				if gotReach := err == nil; gotReach != tt.wantReach {
					t.Errorf("TCP from %s reached the target: %v, want %v (err %v)", clientIP, gotReach, tt.wantReach, err)
				}
				if !tt.wantReach {
					k.wantReset(t, err)
				}

				u := udpClient(t)
				lb := netip.AddrPortFrom(zoneAAddr, s.port)
				if tt.wantReach {
					exchange(t, u, lb, "in range")
					return
				}
				_, err = u.WriteToUDPAddrPort([]byte("out of range"), lb)
				if k.kernel && errors.Is(err, syscall.EPERM) {
					// The table dropped the datagram on the way out of this
					// local client.
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				_ = u.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				if n, _, err := u.ReadFromUDPAddrPort(make([]byte, 100)); err == nil {
					t.Errorf("UDP from outside the source ranges got a %d byte reply", n)
				}
			})
		}
	})
}

func TestIPv6ListenerWithProxyProtocol(t *testing.T) {
	forEachPlane(t, func(t *testing.T, k planeKind) {
		a := startBackend(t, "a", "::1", true)
		ln, err := net.Listen("tcp6", "[::1]:0")
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		lb := netip.AddrPortFrom(netip.IPv6Loopback(), uint16(port))
		p := newPlaneOf(t, k, Options{})
		apply(t, p, Config{
			Listeners: []Listener{{Protocol: ProtocolTCP, Address: lb.String(), TargetGroupARN: testTGARN,
				Targets: []string{a.addr.String()}, ProxyProtocolV2: true}},
		})
		c, err := net.Dial("tcp6", lb.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatalf("read greeting: %v", err)
		}
		want := fmt.Sprintf("a %s to %s\n", c.LocalAddr(), lb)
		if diff := cmp.Diff(want, line); diff != "" {
			t.Errorf("target's view of the IPv6 PROXY header (-want +got):\n%s", diff)
		}
	})
}

// TestListenerBindsAddressNotYetConfigured checks IP_FREEBIND: a load
// balancer's listeners open before its address is configured on the host.
// Nothing is sent to the address.
func TestListenerBindsAddressNotYetConfigured(t *testing.T) {
	forEachPlane(t, func(t *testing.T, k planeKind) {
		p := newPlaneOf(t, k, Options{})
		addr := "198.19.255.77:80"
		err := p.Apply(Config{Listeners: []Listener{
			{Protocol: ProtocolTCP, Address: addr},
			{Protocol: ProtocolUDP, Address: addr},
		}})
		if err != nil {
			t.Fatalf("Apply with an unconfigured address: %v", err)
		}
	})
}

func TestListenerOpensOnceItsPortIsFree(t *testing.T) {
	forEachPlane(t, func(t *testing.T, k planeKind) {
		if k.kernel {
			t.Log("the kernel plane binds no socket")
			return
		}
		a := startBackend(t, "a", "127.0.0.11", false)
		s := lbState{port: freePort(t), targets: []elb.Target{a.target("zone-a")}}
		squatter, err := net.Listen("tcp4", netip.AddrPortFrom(zoneAAddr, s.port).String())
		if err != nil {
			t.Fatal(err)
		}
		// A short UDP flow timeout makes Run tick, and retry, often.
		p := newPlaneOf(t, k, Options{UDPFlowTimeout: 200 * time.Millisecond})
		err = p.Apply(Build(confview.New(s.state()), healthMap{testTGARN: {a.key(): elb.HealthHealthy}}))
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			t.Fatalf("Apply with the port taken: %v, want address already in use", err)
		}
		// Zone b's listener opened regardless.
		c, _ := dial(t, zoneBAddr, s.port)
		c.Close()

		squatter.Close()
		eventually(t, "zone a's listener to open", func() bool {
			c, greeting, err := tryDial(zoneAAddr, s.port)
			if err != nil {
				return false
			}
			c.Close()
			return targetName(greeting) == "a"
		})
	})
}
