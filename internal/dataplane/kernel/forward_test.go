package kernel

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kelb-io/kelb/internal/dataplane"
	"github.com/kelb-io/kelb/internal/devcluster/kubelet/netnstest"
)

// Addresses inside the test namespace (all of 198.18.0.0/15 is local there).
var (
	lbAddr   = netip.MustParseAddr("198.18.0.2")
	clientIP = netip.MustParseAddr("198.18.0.9")
)

// echoServer is a TCP target: it greets each connection with its name and
// the connection's source address, then echoes.
type echoServer struct {
	name string
	addr netip.AddrPort
	ln   net.Listener
	wg   sync.WaitGroup
}

func startEcho(t *testing.T, name, addr string) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{name: name, addr: ln.Addr().(*net.TCPAddr).AddrPort(), ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "%s %s\n", name, c.RemoteAddr())
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func dialLB(t *testing.T, from netip.Addr, lb netip.AddrPort) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	d := net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: from.AsSlice()}}
	c, err := d.Dial("tcp4", lb.String())
	if err != nil {
		t.Fatalf("dial %s: %v\n%s", lb, err, nftList(t))
	}
	t.Cleanup(func() { c.Close() })
	r := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("greeting through %s: %v", lb, err)
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, r, strings.TrimSpace(line)
}

func nftList(t *testing.T) string {
	out, _ := exec.Command("nft", "list", "tables").CombinedOutput()
	return string(out)
}

func TestForwardTCP(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	a := startEcho(t, "a", "198.18.1.11:8080")
	b := startEcho(t, "b", "198.18.1.12:8080")
	p := newPlane(t, Options{})
	t.Cleanup(func() { _ = p.Remove() })
	lb := netip.AddrPortFrom(lbAddr, 80)
	cfg := dataplane.Config{Listeners: []dataplane.Listener{{Protocol: dataplane.ProtocolTCP, Address: lb.String(),
		Targets: []string{a.addr.String(), b.addr.String()}, PreserveClientIP: true}}}
	if err := p.Apply(cfg); err != nil {
		t.Fatalf("Apply: %v\n%s", err, nftList(t))
	}
	counts := map[string]int{}
	for range 40 {
		c, _, greeting := dialLB(t, clientIP, lb)
		name, src, _ := strings.Cut(greeting, " ")
		counts[name]++
		if !strings.HasPrefix(src, clientIP.String()+":") {
			t.Errorf("target saw %s, want the client's address", src)
		}
		c.Close()
	}
	if counts["a"] < 5 || counts["b"] < 5 {
		t.Errorf("40 connections spread %v\n%s", counts, nftList(t))
	}
}

func echoLine(c net.Conn, r *bufio.Reader, msg string) error {
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if got := strings.TrimSpace(line); got != msg {
		return fmt.Errorf("echo %q, want %q", got, msg)
	}
	return nil
}

func newPlane(t *testing.T, opts Options) *Plane {
	t.Helper()
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEstablishedFlowsSurviveRestart: the table and conntrack keep
// forwarding while no kelb runs (a kill -9 leaves them), a new Plane
// reconciles the table without breaking established flows, and a removed
// table stops new flows only.
func TestEstablishedFlowsSurviveRestart(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	a := startEcho(t, "a", "198.18.1.11:8080")
	b := startEcho(t, "b", "198.18.1.12:8080")
	lb := netip.AddrPortFrom(lbAddr, 80)
	cfg := dataplane.Config{Listeners: []dataplane.Listener{{Protocol: dataplane.ProtocolTCP, Address: lb.String(),
		Targets: []string{a.addr.String(), b.addr.String()}}}}

	first := newPlane(t, Options{})
	if err := first.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	c, r, _ := dialLB(t, clientIP, lb)
	if err := echoLine(c, r, "before"); err != nil {
		t.Fatal(err)
	}
	first.Close() // as a killed kelb: the table stays

	if err := echoLine(c, r, "while kelb is down"); err != nil {
		t.Errorf("established flow while kelb is down: %v", err)
	}
	down, _, _ := dialLB(t, clientIP, lb)
	down.Close()

	second := newPlane(t, Options{})
	if err := second.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if err := echoLine(c, r, "after the restart"); err != nil {
		t.Errorf("established flow after the restart: %v", err)
	}
	// A change of the target set rewrites the map; the flow stays.
	cfg.Listeners[0].Targets = cfg.Listeners[0].Targets[1:]
	if err := second.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if err := echoLine(c, r, "after a re-Apply"); err != nil {
		t.Errorf("established flow after a re-Apply: %v", err)
	}
	for range 10 {
		n, _, greeting := dialLB(t, clientIP, lb)
		n.Close()
		if !strings.HasPrefix(greeting, "b ") {
			t.Fatalf("new flow reached %q after a left", greeting)
		}
	}

	// A clean stop: the table keeps its hooks and no listener.
	second.Stop()
	if err := echoLine(c, r, "after a clean stop"); err != nil {
		t.Errorf("established flow after a clean stop: %v", err)
	}
	d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: clientIP.AsSlice()}}
	if n, err := d.Dial("tcp4", lb.String()); err == nil {
		n.Close()
		t.Error("new connection forwarded after a clean stop")
	}

	if err := RemoveTable(TableName); err != nil {
		t.Fatal(err)
	}
	if out := nftList(t); strings.Contains(out, "table ip") {
		t.Errorf("table still there after RemoveTable:\n%s", out)
	}
}

// TestHairpin: a target that is its own client reaches itself through the
// load balancer with client addresses preserved; it sees the load
// balancer's address, since a reply to its own address would not pass NAT.
func TestHairpin(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	a := startEcho(t, "a", "198.18.1.11:8080")
	lb := netip.AddrPortFrom(lbAddr, 80)
	p := newPlane(t, Options{})
	t.Cleanup(func() { _ = p.Remove() })
	cfg := dataplane.Config{Listeners: []dataplane.Listener{{Protocol: dataplane.ProtocolTCP, Address: lb.String(),
		Targets: []string{a.addr.String()}, PreserveClientIP: true}}}
	if err := p.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		from netip.Addr
		want netip.Addr
	}{{clientIP, clientIP}, {a.addr.Addr(), lbAddr}} {
		c, r, greeting := dialLB(t, tt.from, lb)
		_, src, _ := strings.Cut(greeting, " ")
		if got, err := netip.ParseAddrPort(src); err != nil || got.Addr() != tt.want {
			t.Errorf("connection from %s: target saw %s, want %s", tt.from, src, tt.want)
		}
		if err := echoLine(c, r, "hairpin"); err != nil {
			t.Error(err)
		}
	}
}

// TestMetricsFromKernelCounters: new flows and kelb's resets come from the
// table's counters, active flows and processed bytes from conntrack.
func TestMetricsFromKernelCounters(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	a := startEcho(t, "a", "198.18.1.11:8080")
	reg := prometheus.NewRegistry()
	p := newPlane(t, Options{Registerer: reg})
	t.Cleanup(func() { _ = p.Remove() })
	lb := netip.AddrPortFrom(lbAddr, 80)
	cfg := dataplane.Config{Listeners: []dataplane.Listener{{Protocol: dataplane.ProtocolTCP, Address: lb.String(),
		LoadBalancer: "net/lb/1", TargetGroup: "targetgroup/tg/1", Targets: []string{a.addr.String()},
		SourceRanges: []string{"198.18.0.9/32"}}}}
	if err := p.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	// Run turns accounting on; this test collects without it.
	if err := os.WriteFile("/proc/sys/net/netfilter/nf_conntrack_acct", []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var readers []*bufio.Reader
	for range 3 {
		c, r, _ := dialLB(t, clientIP, lb) // kept open
		conns, readers = append(conns, c), append(readers, r)
	}
	d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(198, 18, 0, 10)}}
	if c, err := d.Dial("tcp4", lb.String()); err == nil {
		c.Close()
		t.Fatal("a client outside the source ranges connected")
	}
	if err := p.Collect(); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"kelb_nlb_new_flows_total": 3, "kelb_nlb_active_flows": 3, "kelb_nlb_tcp_resets_total": 1}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[mf.GetName()] += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s = %v, want %v", name, got[name], w)
		}
	}
	if got["kelb_conntrack_entries"] < 3 {
		t.Errorf("kelb_conntrack_entries = %v, want at least 3", got["kelb_conntrack_entries"])
	}

	// Processed bytes: each Collect adds what flowed since the last one,
	// once.
	processed := func() float64 {
		t.Helper()
		if err := p.Collect(); err != nil {
			t.Fatal(err)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "kelb_nlb_processed_bytes_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return 0
	}
	first := processed()
	if err := echoLine(conns[0], readers[0], "0123456789"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the client's delayed ACK
	second := processed()
	if second <= first {
		t.Errorf("processed bytes %v after an echo, %v before", second, first)
	}
	if third := processed(); third != second {
		t.Errorf("processed bytes %v on a read without traffic, %v before", third, second)
	}
}

// TestUDPFlowTimeout: a UDP flow is answered from the listener's address,
// and its conntrack entry, which holds its target, ends after the UDP flow
// timeout without a datagram.
func TestUDPFlowTimeout(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	target, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("198.18.1.11:5300")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { target.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := target.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = target.WriteToUDPAddrPort([]byte(fmt.Sprintf("%s %s", from, buf[:n])), from)
		}
	}()
	reg := prometheus.NewRegistry()
	p := newPlane(t, Options{Registerer: reg, UDPFlowTimeout: time.Second})
	t.Cleanup(func() { _ = p.Remove() })
	lb := netip.AddrPortFrom(lbAddr, 53)
	if err := p.Apply(dataplane.Config{Listeners: []dataplane.Listener{{Protocol: dataplane.ProtocolUDP, Address: lb.String(),
		LoadBalancer: "net/udp/1", TargetGroup: "targetgroup/udp/1", Targets: []string{"198.18.1.11:5300"}, PreserveClientIP: true}}}); err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(clientIP, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.WriteToUDPAddrPort([]byte("hello"), lb); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 1500)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	if from != lb {
		t.Errorf("reply from %s, want the listener's %s", from, lb)
	}
	if want := c.LocalAddr().String() + " hello"; string(buf[:n]) != want {
		t.Errorf("reply %q, want %q", buf[:n], want)
	}
	activeFlows := func() float64 {
		if err := p.Collect(); err != nil {
			t.Fatal(err)
		}
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "kelb_nlb_active_flows" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	if got := activeFlows(); got != 1 {
		t.Fatalf("active flows = %v, want 1", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for activeFlows() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle UDP flow's conntrack entry outlived the flow timeout")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
