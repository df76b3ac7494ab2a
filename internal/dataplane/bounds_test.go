package dataplane

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kelb-io/kelb/internal/elb"
)

// Loopback addresses of the bounds tests, apart from the other tests'.
var (
	boundsLB     = netip.MustParseAddr("127.0.0.40")
	boundsLB2    = netip.MustParseAddr("127.0.0.43")
	boundsClient = netip.MustParseAddr("127.0.0.41")
	boundsTarget = netip.MustParseAddr("127.0.0.42")
)

func TestDeriveBounds(t *testing.T) {
	tests := []struct {
		name                    string
		limit                   uint64
		reserve, max, perListen int
		want                    Bounds
		wantErr                 bool
	}{
		{name: "large limit: the defaults", limit: 1 << 20, reserve: DefaultDescriptorReserve,
			want: Bounds{MaxFlows: DefaultMaxFlows, MaxFlowsPerListener: DefaultMaxFlowsPerListener, Pipes: DefaultPipes, Slots: (1<<20 - 2048 - 2*128) / 2}},
		{name: "limit of this machine", limit: 20000, reserve: 2048,
			want: Bounds{MaxFlows: (20000 - 2048 - 2*128) / 2, MaxFlowsPerListener: (20000 - 2048 - 2*128) / 2, Pipes: 128, Slots: (20000 - 2048 - 2*128) / 2}},
		{name: "flags lower than the limit allows", limit: 1 << 20, reserve: 1000, max: 5000, perListen: 100,
			want: Bounds{MaxFlows: 5000, MaxFlowsPerListener: 100, Pipes: 128, Slots: (1<<20 - 1000 - 2*128) / 2}},
		{name: "small limit: reserve at most half, fewer pipes", limit: 1024, reserve: 2048,
			want: Bounds{MaxFlows: (512 - 2*32) / 2, MaxFlowsPerListener: (512 - 2*32) / 2, Pipes: 32, Slots: (512 - 2*32) / 2}},
		{name: "no room at all", limit: 8, reserve: 0, wantErr: true},
		{name: "negative reserve", limit: 4096, reserve: -1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DeriveBounds(tt.limit, tt.reserve, tt.max, tt.perListen)
			if (err != nil) != tt.wantErr {
				t.Fatalf("DeriveBounds error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DeriveBounds (-want +got):\n%s", diff)
			}
			if err == nil && DescriptorsPerFlow*max(got.MaxFlows, got.Slots)+2*got.Pipes > int(tt.limit)-min(tt.reserve, int(tt.limit)/2) {
				t.Errorf("bounds %+v take more than the limit %d less the reserve", got, tt.limit)
			}
		})
	}
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// fakeClock is a settable Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// boundsTCPTarget echoes every line on every connection until the test ends.
func boundsTCPTarget(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp4", netip.AddrPortFrom(boundsTarget, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				// A read and write loop: io.Copy between TCP
				// connections would splice through pipes of Go's.
				buf := make([]byte, 512)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// boundsUDPTarget answers each datagram with the address it came from
// (kelb's flow socket), so a client sees whether its flow is still the same.
func boundsUDPTarget(t *testing.T) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(boundsTarget, 0)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			_, src, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteToUDPAddrPort([]byte(src.String()), src)
		}
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// boundsListener runs one listener of protocol on lb in front of target.
func boundsListener(t *testing.T, p *Plane, protocol string, lbs []netip.AddrPort, target netip.AddrPort) {
	t.Helper()
	cfg := Config{TargetGroups: []TargetGroup{{ARN: "tg", Targets: []TargetState{{Address: target.String(), Health: elb.HealthHealthy}}}}}
	for _, lb := range lbs {
		cfg.Listeners = append(cfg.Listeners, Listener{
			LoadBalancer: "net/bounds/1", TargetGroup: "targetgroup/bounds/1",
			Protocol: protocol, Address: lb.String(), TargetGroupARN: "tg",
			Targets: []string{target.String()}, IdleTimeout: time.Hour,
		})
	}
	if err := p.Apply(cfg); err != nil {
		t.Fatal(err)
	}
}

// boundsPort returns a port free for TCP and UDP on the bounds tests'
// load balancer addresses.
func boundsPort(t *testing.T) uint16 {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp4", netip.AddrPortFrom(boundsLB, 0).String())
		if err != nil {
			t.Fatal(err)
		}
		port := uint16(ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
		ok := true
		for _, a := range []netip.Addr{boundsLB, boundsLB2} {
			u, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, port)))
			if err != nil {
				ok = false
				break
			}
			u.Close()
		}
		if ok {
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func boundsPlane(t *testing.T, opts Options) *Plane {
	t.Helper()
	p := New(opts)
	t.Cleanup(p.Close)
	return p
}

// boundsConn is a client connection that echoes through the load balancer.
type boundsConn struct {
	*net.TCPConn
	r *bufio.Reader
}

func boundsDial(lb netip.AddrPort) (*boundsConn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: boundsClient.AsSlice()}}
	nc, err := d.Dial("tcp4", lb.String())
	if err != nil {
		return nil, err
	}
	c := &boundsConn{TCPConn: nc.(*net.TCPConn), r: bufio.NewReader(nc)}
	if err := c.echo("hello"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *boundsConn) echo(msg string) error {
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

// closed reports whether the load balancer ended c (reset or EOF) within
// the bounded wait.
func (c *boundsConn) closed() bool {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.r.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// metric is the sum of a kelb_nlb_* family's samples.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return sum
}

// An idle TCP flow holds its two sockets and no other descriptor: no splice
// pipe stays with it, and none lingers after the flows end.
func TestIdleTCPFlowDescriptors(t *testing.T) {
	const flows = 300
	target := boundsTCPTarget(t)
	lb := netip.AddrPortFrom(boundsLB, boundsPort(t))
	p := boundsPlane(t, Options{})
	boundsListener(t, p, ProtocolTCP, []netip.AddrPort{lb}, target)
	// One flow first, so that the pool's first pipes are counted in the
	// baseline.
	warm, err := boundsDial(lb)
	if err != nil {
		t.Fatal(err)
	}
	warm.Close()
	before := openFDs(t)

	var conns []*boundsConn
	for i := range flows {
		c, err := boundsDial(lb)
		if err != nil {
			t.Fatalf("flow %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	// Each flow is data both ways, then idle. In this process a flow is
	// also the client's socket and the target's accepted one.
	during := openFDs(t)
	kelbPerFlow := float64(during-before-2*flows) / flows
	t.Logf("%d idle TCP flows: %d descriptors more, %.2f per flow for kelb", flows, during-before, kelbPerFlow)
	if slack := 2*idlePipes + 16; during-before > 4*flows+slack {
		t.Errorf("%d idle flows take %d descriptors, want at most %d (2 per flow for kelb, 2 for the test's ends, %d slack)",
			flows, during-before, 4*flows+slack, slack)
	}
	for _, c := range conns {
		if err := c.echo("still there"); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	eventually(t, "descriptors back to the baseline", func() bool { return openFDs(t) <= before+2*idlePipes })
}

// A UDP listener at its bound evicts its oldest idle flow for each new one,
// keeps flows that carry data, refuses new flows when nothing is idle, and
// opens new flows again once some are.
func TestUDPFlowBound(t *testing.T) {
	const bound, clients = 64, 2000
	target := boundsUDPTarget(t)
	lb := netip.AddrPortFrom(boundsLB, boundsPort(t))
	clock := newFakeClock()
	reg := prometheus.NewRegistry()
	p := boundsPlane(t, Options{Now: clock.Now, Registerer: reg, Bounds: Bounds{MaxFlows: 10 * bound, MaxFlowsPerListener: bound}})
	boundsListener(t, p, ProtocolUDP, []netip.AddrPort{lb}, target)
	before := openFDs(t)

	// send sends one datagram from port and returns the flow socket the
	// target saw, or "" when no answer came.
	send := func(port uint16) string {
		t.Helper()
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(boundsClient, port)))
		if err != nil {
			t.Fatalf("client port %d: %v", port, err)
		}
		defer c.Close()
		if _, err := c.WriteToUDPAddrPort([]byte("ping"), lb); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			return ""
		}
		return string(buf[:n])
	}
	const hot, base = 21000, 21001 // below the ephemeral range
	hotFlow := send(hot)
	if hotFlow == "" {
		t.Fatal("no answer to the first flow")
	}
	// Thousands of source ports, one datagram each, 50 ms apart: a flow
	// is evictable after 20 newer ones. The hot port sends every 10.
	for i := range clients {
		clock.advance(50 * time.Millisecond)
		if send(base+uint16(i)) == "" {
			t.Fatalf("no answer from new flow %d", i)
		}
		if i%10 == 0 {
			if got := send(hot); got != hotFlow {
				t.Fatalf("the active flow was evicted (flow socket %s, then %s)", hotFlow, got)
			}
		}
	}
	flowPorts := func() map[uint16]bool {
		out := map[uint16]bool{}
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, s := range p.sockets {
			u := s.(*udpListener)
			for i := range u.shards {
				u.shards[i].mu.RLock()
				for c := range u.shards[i].flows {
					out[c.Port()] = true
				}
				u.shards[i].mu.RUnlock()
			}
		}
		return out
	}
	want := map[uint16]bool{hot: true}
	for i := clients - bound + 1; i < clients; i++ {
		want[base+uint16(i)] = true
	}
	if diff := cmp.Diff(want, flowPorts()); diff != "" {
		t.Errorf("flows kept: not the active one and the newest (-want +got):\n%s", diff)
	}
	if got, want := metric(t, reg, "kelb_nlb_evicted_flows_total"), float64(clients+1-bound); got != want {
		t.Errorf("evicted flows = %v, want %v", got, want)
	}
	if got := metric(t, reg, "kelb_nlb_active_flows"); got != bound {
		t.Errorf("active flows = %v, want %v", got, bound)
	}
	if got := openFDs(t) - before; got > bound+8 {
		t.Errorf("%d flows hold %d descriptors, want at most %d", bound, got, bound+8)
	}
	t.Logf("%d source ports against a bound of %d: %d flows, %d descriptors more", clients+1, bound, len(flowPorts()), openFDs(t)-before)

	// Every flow active in the last second: a new one is refused.
	for port := range flowPorts() {
		if send(port) == "" {
			t.Fatalf("no answer from kept flow %d", port)
		}
	}
	if got := send(base + clients); got != "" {
		t.Errorf("a new flow was opened at the bound with no idle flow (flow socket %s)", got)
	}
	if got := metric(t, reg, "kelb_nlb_refused_flows_total"); got < 1 {
		t.Errorf("refused flows = %v, want at least 1", got)
	}
	// A second later the oldest are idle again: new flows work.
	clock.advance(2 * evictableAfter)
	if send(base+clients) == "" {
		t.Error("no answer from a new flow once flows were idle")
	}
}

// A TCP listener at its bound resets its oldest idle connection for a new
// one; with no idle connection it resets the new one. The plane's total
// bound evicts across listeners.
func TestTCPFlowBound(t *testing.T) {
	const bound = 8
	target := boundsTCPTarget(t)
	port := boundsPort(t)
	lbA, lbB := netip.AddrPortFrom(boundsLB, port), netip.AddrPortFrom(boundsLB2, port)
	clock := newFakeClock()
	reg := prometheus.NewRegistry()
	p := boundsPlane(t, Options{Now: clock.Now, Registerer: reg, Bounds: Bounds{MaxFlows: bound + 2, MaxFlowsPerListener: bound}})
	boundsListener(t, p, ProtocolTCP, []netip.AddrPort{lbA, lbB}, target)

	var conns []*boundsConn
	for i := range bound {
		clock.advance(10 * time.Millisecond)
		c, err := boundsDial(lbA)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	clock.advance(2 * evictableAfter)
	if err := conns[0].echo("busy"); err != nil {
		t.Fatal(err)
	}
	// The listener's bound: the oldest idle connection (the second) goes.
	c, err := boundsDial(lbA)
	if err != nil {
		t.Fatalf("connection at the bound: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if !conns[1].closed() {
		t.Error("the oldest idle connection was not reset")
	}
	if err := conns[0].echo("still busy"); err != nil {
		t.Errorf("the active connection was evicted: %v", err)
	}
	live := append(append([]*boundsConn{conns[0]}, conns[2:]...), c)
	if got := metric(t, reg, "kelb_nlb_evicted_flows_total"); got != 1 {
		t.Errorf("evicted flows = %v, want 1", got)
	}

	// Every connection active (live[0] the longest ago): the next one is
	// reset.
	for _, c := range live {
		clock.advance(time.Millisecond)
		if err := c.echo("active"); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := boundsDial(lbA); err == nil {
		c.Close()
		t.Error("a connection was admitted at the bound with no idle flow")
	}
	eventually(t, "the refusal to be counted", func() bool { return metric(t, reg, "kelb_nlb_refused_flows_total") == 1 })

	// The other listener has room of its own but the plane's total bound
	// (10) is reached at its third connection: the oldest idle flow of
	// any listener goes, here one of lbA's.
	clock.advance(2 * evictableAfter)
	for i := range 3 {
		clock.advance(10 * time.Millisecond)
		c, err := boundsDial(lbB)
		if err != nil {
			t.Fatalf("connection %d to the second listener: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
	}
	if !live[0].closed() {
		t.Error("the oldest idle connection of the plane was not reset")
	}
	if got := metric(t, reg, "kelb_nlb_evicted_flows_total"); got != 2 {
		t.Errorf("evicted flows = %v, want 2", got)
	}
	eventually(t, "the plane at its total bound", func() bool { return p.total.n.Load() == bound+2 })
}

// Close ends every flow and the plane leaves no descriptor behind.
func TestCloseReleasesDescriptors(t *testing.T) {
	target := boundsTCPTarget(t)
	lb := netip.AddrPortFrom(boundsLB, boundsPort(t))
	before := openFDs(t)
	p := New(Options{})
	boundsListener(t, p, ProtocolTCP, []netip.AddrPort{lb}, target)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var conns []*boundsConn
	for range 20 {
		c, err := boundsDial(lb)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	p.Close()
	for _, c := range conns {
		if !c.closed() {
			t.Error("a flow outlived Close")
		}
		c.Close()
	}
	for ctx.Err() == nil && openFDs(t) > before {
		time.Sleep(10 * time.Millisecond)
	}
	if got := openFDs(t); got > before {
		t.Errorf("%d descriptors left open after Close", got-before)
	}
}
