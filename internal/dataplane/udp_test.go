package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kelb-io/kelb/internal/confview"
	"github.com/kelb-io/kelb/internal/elb"
)

// udpBackend answers each datagram with "<name> <source> <data>".
type udpBackend struct {
	name string
	conn *net.UDPConn
	addr netip.AddrPort
	wg   sync.WaitGroup
}

func startUDPBackend(t *testing.T, name, ip string) *udpBackend {
	t.Helper()
	return startUDPBackendAt(t, name, netip.AddrPortFrom(netip.MustParseAddr(ip), 0))
}

func startUDPBackendAt(t *testing.T, name string, addr netip.AddrPort) *udpBackend {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatalf("listen UDP backend %s on %s: %v", name, addr, err)
	}
	b := &udpBackend{name: name, conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort()}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		buf := make([]byte, 65535)
		for {
			n, src, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteToUDPAddrPort(fmt.Appendf(nil, "%s %s %s", name, src, buf[:n]), src)
		}
	}()
	t.Cleanup(func() {
		c.Close()
		b.wg.Wait()
	})
	return b
}

func (b *udpBackend) target(zone string) elb.Target {
	return elb.Target{ID: b.addr.Addr().String(), Port: int32(b.addr.Port()), AvailabilityZone: zone}
}

func (b *udpBackend) key() elb.TargetKey {
	return elb.TargetKey{ID: b.addr.Addr().String(), Port: int32(b.addr.Port())}
}

// udpClient is a client socket on clientIP.
func udpClient(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(clientIP, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends msg to lb and returns the reply and where it came from.
func exchange(t *testing.T, c *net.UDPConn, lb netip.AddrPort, msg string) (string, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 2048)
	// UDP may drop; retry a few times within the bounded wait.
	for range 5 {
		if _, err := c.WriteToUDPAddrPort([]byte(msg), lb); err != nil {
			t.Fatalf("send to %s: %v", lb, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		n, from, err := c.ReadFromUDPAddrPort(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			continue
		}
		if err != nil {
			t.Fatalf("receive from %s: %v", lb, err)
		}
		return string(buf[:n]), from
	}
	t.Fatalf("no reply from %s", lb)
	return "", netip.AddrPort{}
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
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

func TestUDPRoundTripAndExpiry(t *testing.T) {
	a := startUDPBackend(t, "a", "127.0.0.11")
	s := lbState{port: freePort(t), protocol: "UDP", targets: []elb.Target{a.target("zone-a")}}
	reg := prometheus.NewRegistry()
	p := newPlane(t, Options{Registerer: reg, UDPFlowTimeout: 300 * time.Millisecond})
	apply(t, p, Build(confview.New(s.state()), healthMap{testTGARN: {a.key(): elb.HealthHealthy}}))
	lb := netip.AddrPortFrom(zoneAAddr, s.port)
	c := udpClient(t)

	reply, from := exchange(t, c, lb, "hello")
	if from != lb {
		t.Errorf("reply came from %s, want the listener address %s", from, lb)
	}
	name, rest, _ := strings.Cut(reply, " ")
	firstSource, data, _ := strings.Cut(rest, " ")
	if diff := cmp.Diff([]string{"a", "hello"}, []string{name, data}); diff != "" {
		t.Errorf("reply (-want +got):\n%s", diff)
	}
	// The same flow keeps its socket to the target.
	reply, _ = exchange(t, c, lb, "again")
	if !strings.HasPrefix(reply, "a "+firstSource+" ") {
		t.Errorf("second datagram of the flow arrived as %q, want it from %s", reply, firstSource)
	}
	if got := gaugeValue(t, reg, "kelb_nlb_active_flows"); got != 1 {
		t.Errorf("active flows = %v, want 1", got)
	}

	eventually(t, "the idle UDP flow to expire", func() bool {
		return gaugeValue(t, reg, "kelb_nlb_active_flows") == 0
	})
	reply, _ = exchange(t, c, lb, "after expiry")
	if strings.HasPrefix(reply, "a "+firstSource+" ") {
		t.Errorf("datagram after expiry used the expired flow's socket %s", firstSource)
	}
	if got := gaugeValue(t, reg, "kelb_nlb_new_flows_total"); got != 2 {
		t.Errorf("new flows = %v, want 2", got)
	}
}

func TestTCPUDPListenerServesBoth(t *testing.T) {
	forEachPlane(t, func(t *testing.T, k planeKind) {
		tcp := startBackend(t, "tcp", "127.0.0.11", false)
		// A TCP_UDP target is one address and port for both protocols.
		startUDPBackendAt(t, "udp", tcp.addr)
		s := lbState{port: freePort(t), protocol: "TCP_UDP", targets: []elb.Target{tcp.target("zone-a")}}
		p := newPlaneOf(t, k, Options{})
		apply(t, p, Build(confview.New(s.state()), healthMap{testTGARN: {tcp.key(): elb.HealthHealthy}}))

		c, greeting := dial(t, zoneAAddr, s.port)
		c.Close()
		if got := targetName(greeting); got != "tcp" {
			t.Errorf("TCP reached %q, want tcp", got)
		}
		reply, _ := exchange(t, udpClient(t), netip.AddrPortFrom(zoneAAddr, s.port), "x")
		if got, _, _ := strings.Cut(reply, " "); got != "udp" {
			t.Errorf("UDP reached %q, want udp", got)
		}
	})
}

func TestUDPTerminateOnUnhealthy(t *testing.T) {
	forEachPlane(t, func(t *testing.T, k planeKind) {
		a := startUDPBackend(t, "a", "127.0.0.11")
		b := startUDPBackend(t, "b", "127.0.0.12")
		s := lbState{port: freePort(t), protocol: "UDP", targets: []elb.Target{a.target("zone-a"), b.target("zone-a")}}
		h := healthMap{testTGARN: {a.key(): elb.HealthHealthy, b.key(): elb.HealthHealthy}}
		p := newPlaneOf(t, k, Options{})
		apply(t, p, Build(confview.New(s.state()), h))
		lb := netip.AddrPortFrom(zoneAAddr, s.port)
		c := udpClient(t)
		reply, _ := exchange(t, c, lb, "x")
		first, _, _ := strings.Cut(reply, " ")
		other := map[string]*udpBackend{"a": b, "b": a}[first]
		target := map[string]*udpBackend{"a": a, "b": b}[first]

		h[testTGARN][target.key()] = elb.HealthUnhealthy
		apply(t, p, Build(confview.New(s.state()), h))
		reply, _ = exchange(t, c, lb, "y")
		if got, _, _ := strings.Cut(reply, " "); got != other.name {
			t.Errorf("after %s turned unhealthy the flow reached %q, want %q", first, got, other.name)
		}
	})
}

func TestUDPPreserveClientIP(t *testing.T) {
	forEachPlane(t, func(t *testing.T, k planeKind) {
		a := startUDPBackend(t, "a", "127.0.0.11")
		// A UDP target group of ip targets preserves client IPs by default.
		s := lbState{port: freePort(t), protocol: "UDP", tgProtocol: "UDP", targets: []elb.Target{a.target("zone-a")}}
		p := newPlaneOf(t, k, Options{})
		apply(t, p, Build(confview.New(s.state()), healthMap{testTGARN: {a.key(): elb.HealthHealthy}}))
		reply, _ := exchange(t, udpClient(t), netip.AddrPortFrom(zoneAAddr, s.port), "x")
		_, rest, _ := strings.Cut(reply, " ")
		src, _, _ := strings.Cut(rest, " ")
		got, err := netip.ParseAddrPort(src)
		if err != nil {
			t.Fatalf("target saw source %q: %v", src, err)
		}
		if got.Addr() != clientIP {
			t.Errorf("target saw the flow from %s, want the client's %s", got.Addr(), clientIP)
		}
	})
}
