package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/kelb-io/kelb/internal/dataplane/kernel"
)

// TestKernelPlaneRestartUnderLoad runs an NLB on the kernel data plane
// (kelb server --dataplane kernel) and keeps twenty connections talking
// while kelb server is killed, restarted and stopped: no established flow
// loses a message, and new connections are forwarded while kelb is killed
// (the table stays) and refused after a clean stop (the table keeps no
// listener).
func TestKernelPlaneRestartUnderLoad(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("the kernel data plane needs CAP_NET_ADMIN")
	}
	if err := kernel.Probe(); err != nil {
		t.Skipf("no kernel data plane here: %v", err)
	}
	tn := newNet()
	// startServer's cleanup removes the table the clean stop leaves.
	s := startServer(t, tn, serverOptions{extraArgs: []string{"--dataplane", "kernel"}})
	if !s.kernelPlane() {
		t.Fatalf("kelb server --dataplane kernel did not log %q:\n%s", kernelReadyLog, s.logTail(30))
	}
	b1 := startEchoBackend(t, "target-1", tn.backend("a", 1)+":7000")
	b2 := startEchoBackend(t, "target-2", tn.backend("a", 2)+":7000")
	st := createStack(t, s, stackSpec{
		name: "kernel", port: 7000, tgPort: 7000,
		targets: []types.TargetDescription{ipTarget(t, b1.Addr), ipTarget(t, b2.Addr)},
		tgAttrs: map[string]string{"proxy_protocol_v2.enabled": "false"},
	})
	waitHealth(t, s, st.TG, b1.Addr, "healthy", 30*time.Second)
	waitHealth(t, s, st.TG, b2.Addr, "healthy", 30*time.Second)
	addr := st.listenerAddr("a", 7000)
	if !strings.Contains(s.allLogs(), `plane=kernel`) {
		t.Errorf("kelb server did not log the listener's plane:\n%s", s.logTail(30))
	}
	resp, err := http.Get(s.Metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `kelb_nlb_listener_plane{address="`+addr+`"`) || !strings.Contains(string(body), `plane="kernel"`) {
		t.Errorf("no kelb_nlb_listener_plane series of the kernel plane for %s", addr)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var conns []*echoConn
	for range 20 {
		c, err := dialEcho(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	// Each connection round-trips a line every 10 ms until stop.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	sent := 0
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				if err := c.roundTrip(fmt.Sprintf("conn %d line %d", i, n)); err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("connection %d, line %d: %v", i, n, err))
					mu.Unlock()
					return
				}
				mu.Lock()
				sent++
				mu.Unlock()
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)

	s.stop(syscall.SIGKILL)
	time.Sleep(time.Second)
	if _, err := whoAnswers(addr); err != nil {
		t.Errorf("new connection with kelb server killed: %v", err)
	}
	s.restart()
	time.Sleep(time.Second)
	s.stop(syscall.SIGTERM)
	time.Sleep(time.Second)
	if _, err := whoAnswers(addr); err == nil {
		t.Errorf("%s forwards new connections after a clean stop", addr)
	}
	close(stop)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	t.Logf("%d lines round-tripped over 20 connections across a kill, a restart and a clean stop", sent)
	if sent < 20 {
		t.Errorf("only %d lines round-tripped", sent)
	}
}
