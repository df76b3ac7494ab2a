package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// proxyV2Signature opens every PROXY protocol v2 header.
var proxyV2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

// proxyHeader is what a PROXY v2 header says about a TCP over IPv4 flow.
type proxyHeader struct {
	Command byte // 0x1 PROXY, 0x0 LOCAL
	Source  netip.AddrPort
	Dest    netip.AddrPort
}

// readProxyV2 reads a PROXY v2 header from r, as HAProxy's specification
// lays it out: signature, version/command, family/protocol, length, then
// addresses and TLVs within length.
func readProxyV2(r io.Reader) (proxyHeader, error) {
	var fixed [16]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return proxyHeader{}, fmt.Errorf("fixed part: %w", err)
	}
	if !bytes.Equal(fixed[:12], proxyV2Signature) {
		return proxyHeader{}, fmt.Errorf("no PROXY v2 signature: %q", fixed[:12])
	}
	if fixed[12]>>4 != 2 {
		return proxyHeader{}, fmt.Errorf("version %d, want 2", fixed[12]>>4)
	}
	h := proxyHeader{Command: fixed[12] & 0xf}
	if fixed[13] != 0x11 {
		return proxyHeader{}, fmt.Errorf("family/protocol %#x, want 0x11 (TCP over IPv4)", fixed[13])
	}
	rest := make([]byte, binary.BigEndian.Uint16(fixed[14:16]))
	if _, err := io.ReadFull(r, rest); err != nil {
		return proxyHeader{}, fmt.Errorf("addresses: %w", err)
	}
	if len(rest) < 12 {
		return proxyHeader{}, fmt.Errorf("address block of %d bytes, want at least 12", len(rest))
	}
	src := netip.AddrFrom4([4]byte(rest[0:4]))
	dst := netip.AddrFrom4([4]byte(rest[4:8]))
	h.Source = netip.AddrPortFrom(src, binary.BigEndian.Uint16(rest[8:10]))
	h.Dest = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(rest[10:12]))
	return h, nil
}

// TestProxyProtocolV2 turns proxy_protocol_v2.enabled on: the target reads
// a PROXY v2 header carrying the client's address and port and the load
// balancer's, then the client's data.
func TestProxyProtocolV2(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})

	// The backend reports the header of every connection that carries
	// data; health checks connect and close without any.
	type result struct {
		h    proxyHeader
		data string
		err  error
	}
	results := make(chan result, 16)
	backendAddr := tn.backend("a", 1) + ":7000"
	ln := listenRetry(t, "tcp", backendAddr)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				h, err := readProxyV2(c)
				if err != nil && h.Command == 0 && isEOF(err) {
					return // a health check
				}
				var line [6]byte
				if err == nil {
					_, err = io.ReadFull(c, line[:])
				}
				select {
				case results <- result{h: h, data: string(line[:]), err: err}:
				default:
				}
				_, _ = c.Write([]byte("ok"))
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })

	st := createStack(t, s, stackSpec{
		name: "proxy-v2", port: 7000, tgPort: 7000,
		targets: []types.TargetDescription{ipTarget(t, backendAddr)},
		tgAttrs: map[string]string{"proxy_protocol_v2.enabled": "true"},
	})
	waitHealth(t, s, st.TG, backendAddr, "healthy", 30*time.Second)

	lbAddr := st.listenerAddr("a", 7000)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(tn.client())}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", lbAddr)
	if err != nil {
		t.Fatalf("connect to %s from %s: %v", lbAddr, tn.client(), err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
		t.Fatalf("answer through the load balancer: %v", err)
	}

	var got result
	select {
	case got = <-results:
	case <-time.After(10 * time.Second):
		t.Fatal("the backend saw no connection with data")
	}
	if got.err != nil {
		t.Fatalf("backend: %v", got.err)
	}
	want := proxyHeader{
		Command: 0x1,
		Source:  netip.MustParseAddrPort(c.LocalAddr().String()),
		Dest:    netip.MustParseAddrPort(lbAddr),
	}
	t.Logf("PROXY v2 header: command %#x, source %s, destination %s", got.h.Command, got.h.Source, got.h.Dest)
	if got.h != want {
		t.Errorf("PROXY v2 header = %+v, want %+v", got.h, want)
	}
	if got.data != "hello\n" {
		t.Errorf("data after the header = %q, want %q", got.data, "hello\n")
	}
}

func isEOF(err error) bool {
	return err != nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF))
}

// TestUDPRoundTrip sends datagrams through a UDP listener to a UDP echo
// backend and reads the answers from the load balancer's address; the
// backend sees the client's address.
func TestUDPRoundTrip(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	backend := tn.backend("a", 1) + ":5300"
	startUDPEchoBackend(t, "udp-1", backend)
	// UDP target groups are health-checked over TCP.
	startHTTPBackend(t, "udp-1-health", tn.backend("a", 1)+":5301")
	st := createStack(t, s, stackSpec{
		name: "udp", protocol: types.ProtocolEnumUdp, port: 53, tgPort: 5300, healthCheckPort: "5301",
		targets: []types.TargetDescription{ipTarget(t, backend)},
	})
	waitHealth(t, s, st.TG, backend, "healthy", 30*time.Second)

	lbAddr := st.listenerAddr("a", 53)
	for _, from := range []string{"127.0.0.1", tn.client()} {
		t.Run("from "+from, func(t *testing.T) {
			raddr, err := net.ResolveUDPAddr("udp", lbAddr)
			if err != nil {
				t.Fatal(err)
			}
			c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)}, raddr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			buf := make([]byte, 1500)
			for i := range 3 {
				msg := fmt.Sprintf("ping-%d", i)
				var n int
				// UDP may drop: resend a few times before giving up.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				for ctx.Err() == nil {
					if _, err := c.Write([]byte(msg)); err != nil {
						t.Fatal(err)
					}
					_ = c.SetReadDeadline(time.Now().Add(time.Second))
					n, err = c.Read(buf)
					if err == nil {
						break
					}
				}
				cancel()
				if err != nil {
					t.Fatalf("no answer to %q through %s: %v", msg, lbAddr, err)
				}
				// preserve_client_ip.enabled is on by default for UDP
				// target groups: the target sees the client's address.
				if got, want := string(buf[:n]), "udp-1 from "+from+": "+msg; got != want {
					t.Errorf("answer = %q, want %q", got, want)
				}
			}
		})
	}
}
