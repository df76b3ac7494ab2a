package dataplane

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kelb-io/kelb/internal/connlimit"
	"github.com/kelb-io/kelb/internal/dataplane/l7"
	"github.com/kelb-io/kelb/internal/elb"
)

var budgetALB = netip.MustParseAddr("127.0.0.44")

// An NLB listener and an ALB listener share one descriptor budget: their
// flows and connections together never exceed it, a connection flood on
// the ALB takes only its own idle connections' places, and at the budget a
// new flow or connection takes the place of an idle one of the other
// plane.
func TestBudgetSharedByFlowsAndALBConnections(t *testing.T) {
	const slots = 8
	budget := connlimit.NewBudget(slots)

	nlbReg := prometheus.NewRegistry()
	nlb := boundsPlane(t, Options{Registerer: nlbReg, Bounds: Bounds{MaxFlows: 100, MaxFlowsPerListener: 100}, Budget: budget})
	lb := netip.AddrPortFrom(boundsLB, boundsPort(t))
	boundsListener(t, nlb, ProtocolTCP, []netip.AddrPort{lb}, boundsTCPTarget(t))

	albReg := prometheus.NewRegistry()
	alb := l7.New(l7.Options{Registerer: albReg, MaxConns: 100, Budget: budget})
	t.Cleanup(func() { alb.Close() })
	albAddr := budgetALBListener(t, alb)

	// inUse checks the bound and returns the flows and the ALB
	// connections (whose gauge follows evictions once their goroutines
	// have seen them).
	inUse := func() (flows, conns int) {
		t.Helper()
		if n := budget.InUse(); n > slots {
			t.Fatalf("%d slots of the budget of %d in use", n, slots)
		}
		m := metricValues(t, nlbReg)
		a := metricValues(t, albReg)
		return int(m["kelb_nlb_active_flows"]), int(a["kelb_alb_active_connections"])
	}

	// Five flows, then a flood of stalled connections on the ALB: the ALB
	// keeps the three slots left, evicting its own idle connections.
	var flows []*boundsConn
	t.Cleanup(func() {
		for _, c := range flows {
			c.Close()
		}
	})
	for range 5 {
		c, err := boundsDial(lb)
		if err != nil {
			t.Fatal(err)
		}
		flows = append(flows, c)
	}
	var flood []net.Conn
	t.Cleanup(func() {
		for _, c := range flood {
			c.Close()
		}
	})
	for i := range 20 {
		c, err := net.DialTimeout("tcp4", albAddr, 5*time.Second)
		if err != nil {
			t.Fatalf("ALB connection %d: %v", i, err)
		}
		flood = append(flood, c)
		// A head begun, never finished (an idle connection that sent
		// nothing waits in the kernel: TCP_DEFER_ACCEPT).
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\n"); err != nil {
			t.Fatal(err)
		}
		inUse()
	}
	eventually(t, "the ALB to hold the three slots left", func() bool {
		f, c := inUse()
		return f == 5 && c == 3
	})
	open := 0
	for _, c := range flood {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
			open++
		}
	}
	if open != 3 {
		t.Errorf("%d ALB connections of the flood left open, want 3", open)
	}
	for _, c := range flows {
		if err := c.echo("flows survive the ALB flood"); err != nil {
			t.Fatal(err)
		}
	}

	// A request on a new ALB connection is served, in the place of an
	// idle one.
	if body, err := budgetGet(albAddr); err != nil || body != "alb" {
		t.Fatalf("ALB request at the budget: %q, %v", body, err)
	}
	inUse()

	// A new flow at the budget, with no flow idle: it takes an idle ALB
	// connection's place.
	c, err := net.DialTimeout("tcp4", albAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	flood = append(flood, c)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the ALB to hold the three slots left again", func() bool {
		f, c := inUse()
		return f == 5 && c == 3 && budget.InUse() == slots
	})
	fc, err := boundsDial(lb)
	if err != nil {
		t.Fatalf("new flow at the budget: %v", err)
	}
	flows = append(flows, fc)
	eventually(t, "6 flows and 2 ALB connections", func() bool {
		f, c := inUse()
		return f == 6 && c == 2
	})

	// Flows fill the budget; once they are idle, a new ALB connection
	// takes the place of one of them.
	for _, c := range flood {
		c.Close()
	}
	flood = nil
	eventually(t, "the ALB connections to close", func() bool { _, c := inUse(); return c == 0 })
	for range 2 {
		c, err := boundsDial(lb)
		if err != nil {
			t.Fatal(err)
		}
		flows = append(flows, c)
	}
	if f, _ := inUse(); f != slots {
		t.Fatalf("%d flows, want %d", f, slots)
	}
	time.Sleep(evictableAfter + 100*time.Millisecond)
	if body, err := budgetGet(albAddr); err != nil || body != "alb" {
		t.Fatalf("ALB request with the budget held by idle flows: %q, %v", body, err)
	}
	eventually(t, "an idle flow to give its slot to the ALB connection", func() bool {
		f, _ := inUse()
		return f == slots-1
	})
}

// budgetALBListener starts an HTTP target answering "alb" and an ALB
// listener forwarding to it, and returns the listener's address.
func budgetALBListener(t *testing.T, p *l7.Plane) string {
	t.Helper()
	tln, err := net.Listen("tcp4", netip.AddrPortFrom(boundsTarget, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "alb") })}
	go srv.Serve(tln)
	t.Cleanup(func() { srv.Close() })
	ln, err := net.Listen("tcp4", netip.AddrPortFrom(budgetALB, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	fc := &elb.ForwardConfig{TargetGroups: []elb.WeightedTargetGroup{{TargetGroupARN: "tg", Weight: 1}}}
	if err := p.Apply(l7.Config{
		Listeners: []l7.Listener{{ListenerARN: "l", LoadBalancer: "app/budget/1", Protocol: "HTTP", Address: addr,
			IdleTimeout: time.Minute, DefaultActions: []elb.Action{{Type: elb.ActionForward, Forward: fc}}}},
		TargetGroups: []l7.TargetGroup{{ARN: "tg", Label: "tg", Protocol: "HTTP", ProtocolVersion: "HTTP1", Algorithm: "round_robin",
			ResponseTimeout: 5 * time.Second, Routing: l7.RoutingHealthy, Targets: []string{tln.Addr().String()}}},
	}); err != nil {
		t.Fatal(err)
	}
	return addr
}

// budgetGet sends one request to an ALB listener on a new connection.
func budgetGet(addr string) (string, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), err
}
