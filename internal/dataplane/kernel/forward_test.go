package kernel

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

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
	out, _ := exec.Command("nft", "list", "table", "ip", TableName).CombinedOutput()
	return string(out)
}

func TestForwardTCP(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	a := startEcho(t, "a", "198.18.1.11:8080")
	b := startEcho(t, "b", "198.18.1.12:8080")
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
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
