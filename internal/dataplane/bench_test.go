package dataplane

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/kelb-io/kelb/internal/dataplane/maglev"
	"github.com/kelb-io/kelb/internal/elb"
)

func BenchmarkFlowHash(b *testing.B) {
	src := netip.MustParseAddrPort("198.18.1.10:51000")
	dst := netip.MustParseAddrPort("198.19.1.5:80")
	b.ReportAllocs()
	var sink uint64
	for i := 0; b.Loop(); i++ {
		sink += flowHash(ipProtoTCP, netip.AddrPortFrom(src.Addr(), uint16(i)), dst)
	}
	_ = sink
}

// BenchmarkPick is the whole per-flow target choice: hash and Maglev lookup.
func BenchmarkPick(b *testing.B) {
	var targets []string
	for i := range 10 {
		targets = append(targets, fmt.Sprintf("198.18.1.%d:8080", i+1))
	}
	table, err := maglev.New(targets, maglev.DefaultSize)
	if err != nil {
		b.Fatal(err)
	}
	r := &route{local: netip.MustParseAddrPort("198.19.1.5:80"), table: table}
	for _, t := range targets {
		r.targets = append(r.targets, netip.MustParseAddrPort(t))
	}
	src := netip.MustParseAddrPort("198.18.9.10:0")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, ok := r.pick(r.flowHash(ipProtoTCP, netip.AddrPortFrom(src.Addr(), uint16(i))), 0); !ok {
			b.Fatal("no target")
		}
	}
}

// BenchmarkUDPForward sends one datagram through the load balancer to an
// echoing target and reads the reply, per op: allocs/op covers kelb's
// packet path both ways (the client and target loops do not allocate).
func BenchmarkUDPForward(b *testing.B) {
	target, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 11)})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, src, err := target.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = target.WriteToUDPAddrPort(buf[:n], src)
		}
	}()
	b.Cleanup(func() {
		target.Close()
		<-done
	})
	taddr := target.LocalAddr().(*net.UDPAddr).AddrPort()
	lb := netip.AddrPortFrom(zoneAAddr, 29999)
	p := New(Options{})
	b.Cleanup(p.Close)
	err = p.Apply(Config{Listeners: []Listener{{
		Protocol: ProtocolUDP, Address: lb.String(), TargetGroupARN: testTGARN,
		Targets: []string{taddr.String()},
	}}, TargetGroups: []TargetGroup{{ARN: testTGARN, Targets: []TargetState{{Address: taddr.String(), Health: elb.HealthHealthy}}}}})
	if err != nil {
		b.Fatal(err)
	}
	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: clientIP.AsSlice()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { client.Close() })
	msg := make([]byte, 64)
	buf := make([]byte, 2048)
	roundTrip := func() {
		if _, err := client.WriteToUDPAddrPort(msg, lb); err != nil {
			b.Fatal(err)
		}
		if _, _, err := client.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatal(err)
		}
	}
	roundTrip() // opens the flow
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		roundTrip()
	}
}

// tcpBench runs a plane with one TCP listener in front of an echo target
// and returns the listener's address.
func tcpBench(b *testing.B) netip.AddrPort {
	b.Helper()
	target, err := net.Listen("tcp4", "127.0.0.11:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
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
	b.Cleanup(func() {
		target.Close()
		<-done
	})
	taddr := target.Addr().String()
	lb := netip.AddrPortFrom(zoneAAddr, 29998)
	p := New(Options{})
	b.Cleanup(p.Close)
	err = p.Apply(Config{Listeners: []Listener{{
		Protocol: ProtocolTCP, Address: lb.String(), TargetGroupARN: testTGARN,
		Targets: []string{taddr}, IdleTimeout: defaultIdleTimeout,
	}}, TargetGroups: []TargetGroup{{ARN: testTGARN, Targets: []TargetState{{Address: taddr, Health: elb.HealthHealthy}}}}})
	if err != nil {
		b.Fatal(err)
	}
	return lb
}

// BenchmarkTCPRequest is one small request and response over an
// established connection through the load balancer (keep-alive).
func BenchmarkTCPRequest(b *testing.B) {
	lb := tcpBench(b)
	c, err := net.Dial("tcp4", lb.String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	msg := make([]byte, 100)
	buf := make([]byte, 100)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTCPConnection is a new connection per op: accept, pick, connect
// to the target, one request and response, close.
func BenchmarkTCPConnection(b *testing.B) {
	lb := tcpBench(b)
	msg := make([]byte, 100)
	buf := make([]byte, 100)
	b.ReportAllocs()
	for b.Loop() {
		c, err := net.Dial("tcp4", lb.String())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
