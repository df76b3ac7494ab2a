package l7

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kelb-io/kelb/internal/elb"
)

func TestPlaneWebSocketUpgrade(t *testing.T) {
	echo := backend(t, "127.0.0.1", "ws", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "want an upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprint(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		io.Copy(conn, brw) // echo until the client closes
	}))
	lbAddr := freeAddr(t, "127.0.0.25")
	p, _ := newTestPlane(t, Options{})
	if err := p.Apply(Config{
		Listeners:    []Listener{{ListenerARN: "l", LoadBalancer: "app/lb/1", Protocol: "HTTP", Address: lbAddr, IdleTimeout: time.Minute, DefaultActions: forward("tg")}},
		TargetGroups: []TargetGroup{testGroup("tg", echo)},
	}); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", lbAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(conn, "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status = %d, want 101", resp.StatusCode)
	}
	for _, msg := range []string{"hello", "through kelb"} {
		fmt.Fprint(conn, msg)
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(br, buf); err != nil {
			t.Fatal(err)
		}
		if string(buf) != msg {
			t.Errorf("echo = %q, want %q", buf, msg)
		}
	}
}

func TestPlaneGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("kelb.test", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)

	lbAddr := freeAddr(t, "127.0.0.26")
	p, _ := newTestPlane(t, Options{})
	tg := testGroup("tg", ln.Addr().String())
	tg.ProtocolVersion = "GRPC"
	if err := p.Apply(Config{
		Listeners: []Listener{{ListenerARN: "l", LoadBalancer: "app/lb/1", Protocol: "HTTP", Address: lbAddr, IdleTimeout: time.Minute, HTTP2: true,
			Rules:          []elb.Rule{{ARN: "grpc", Conditions: []elb.RuleCondition{cond("path-pattern", "/grpc.health.v1.Health/*")}, Actions: forward("tg")}},
			DefaultActions: []elb.Action{{Type: elb.ActionFixedResponse, FixedResponse: &elb.FixedResponseConfig{StatusCode: "404"}}}}},
		TargetGroups: []TargetGroup{tg},
	}); err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(lbAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: "kelb.test"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("status = %v, want SERVING", resp.Status)
	}
	// A streaming call: Watch sends the current status, then changes.
	stream, err := healthpb.NewHealthClient(cc).Watch(ctx, &healthpb.HealthCheckRequest{Service: "kelb.test"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := stream.Recv(); err != nil || m.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first watch message = %v, %v", m, err)
	}
	hs.SetServingStatus("kelb.test", healthpb.HealthCheckResponse_NOT_SERVING)
	if m, err := stream.Recv(); err != nil || m.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("second watch message = %v, %v", m, err)
	}
}

func TestPlaneWeightedForward(t *testing.T) {
	a := backend(t, "127.0.0.1", "a", nil)
	b := backend(t, "127.0.0.1", "b", nil)
	lbAddr := freeAddr(t, "127.0.0.27")
	p, _ := newTestPlane(t, Options{})
	actions := []elb.Action{{Type: elb.ActionForward, Forward: &elb.ForwardConfig{TargetGroups: []elb.WeightedTargetGroup{
		{TargetGroupARN: "tg-a", Weight: 3}, {TargetGroupARN: "tg-b", Weight: 1}}, StickinessEnabled: true, StickinessDurationSeconds: 300}}}
	if err := p.Apply(Config{
		Listeners:    []Listener{{ListenerARN: "l", LoadBalancer: "app/lb/1", Protocol: "HTTP", Address: lbAddr, IdleTimeout: time.Minute, DefaultActions: actions}},
		TargetGroups: []TargetGroup{testGroup("tg-a", a), testGroup("tg-b", b)},
	}); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{}
	counts := map[string]int{}
	const n = 400
	for range n {
		_, body, _ := get(t, c, "http://"+lbAddr+"/")
		counts[strings.Fields(body)[0]]++
	}
	// 3:1 within a generous margin (expected 300/100, sd about 9).
	if counts["a"] < 240 || counts["b"] < 50 || counts["a"]+counts["b"] != n {
		t.Errorf("weighted spread = %v, want about 300 a and 100 b", counts)
	}
	// Group stickiness: the AWSALBTG cookie keeps a client on its group.
	_, _, h := get(t, c, "http://"+lbAddr+"/")
	cookie := strings.Split(h.Get("Set-Cookie"), ";")[0]
	if !strings.HasPrefix(cookie, cookieTGGroup+"=") {
		t.Fatalf("Set-Cookie = %q, want %s", h.Get("Set-Cookie"), cookieTGGroup)
	}
	first := ""
	for i := range 20 {
		_, body, _ := get(t, c, "http://"+lbAddr+"/", "Cookie", cookie)
		if i == 0 {
			first = strings.Fields(body)[0]
		} else if got := strings.Fields(body)[0]; got != first {
			t.Fatalf("request %d with the group cookie went to %s, the first to %s", i, got, first)
		}
	}
}

// An upgraded connection stays open while bytes move in either direction
// and is closed, with its target connection, once idle for the load
// balancer's idle timeout.
func TestPlaneWebSocketIdleTimeout(t *testing.T) {
	targetClosed := make(chan struct{})
	ws := backend(t, "127.0.0.1", "ws", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprint(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		defer close(targetClosed)
		for {
			b, err := brw.ReadByte()
			if err != nil {
				return // kelb closed the connection
			}
			if b != 's' {
				conn.Write([]byte{b}) // echo
				continue
			}
			// Stream from the target alone, longer than the idle timeout.
			for range 8 {
				time.Sleep(250 * time.Millisecond)
				if _, err := conn.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}))
	lbAddr := freeAddr(t, "127.0.0.26")
	p, _ := newTestPlane(t, Options{})
	if err := p.Apply(Config{
		Listeners:    []Listener{{ListenerARN: "l", LoadBalancer: "app/lb/1", Protocol: "HTTP", Address: lbAddr, IdleTimeout: time.Second, DefaultActions: forward("tg")}},
		TargetGroups: []TargetGroup{testGroup("tg", ws)},
	}); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", lbAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprint(conn, "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status = %d, want 101", resp.StatusCode)
	}
	// The target sends for twice the idle timeout while the client is
	// silent: the connection stays open.
	fmt.Fprint(conn, "s")
	buf := make([]byte, 8)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "xxxxxxxx" {
		t.Fatalf("stream from the target = %q, %v; want 8 x", buf, err)
	}
	// The client sends for twice the idle timeout: it stays open.
	for range 8 {
		time.Sleep(250 * time.Millisecond)
		fmt.Fprint(conn, "c")
		if b, err := br.ReadByte(); err != nil || b != 'c' {
			t.Fatalf("echo = %q, %v; want c", b, err)
		}
	}
	// Silent both ways: kelb closes the client's and the target's
	// connections.
	if b, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle upgraded connection: read %q, %v; want it closed by kelb", b, err)
	}
	select {
	case <-targetClosed:
	case <-time.After(10 * time.Second):
		t.Fatal("the target's connection stayed open after the idle timeout")
	}
}
