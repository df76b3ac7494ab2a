package dataplane

import (
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kelb-io/kelb/internal/confview"
	"github.com/kelb-io/kelb/internal/dataplane/maglev"
	"github.com/kelb-io/kelb/internal/elb"
)

// metricValues returns every sample of the kelb_nlb_* families by name and
// label values.
func metricValues(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() == "origin" {
					name += "{" + l.GetValue() + "}"
				}
			}
			out[name] += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return out
}

func TestTCPMetrics(t *testing.T) {
	a := startBackend(t, "a", "127.0.0.11", false)
	s := lbState{port: freePort(t), targets: []elb.Target{a.target("zone-a")}}
	reg := prometheus.NewRegistry()
	p := newPlane(t, Options{Registerer: reg})
	apply(t, p, Build(confview.New(s.state()), healthMap{testTGARN: {a.key(): elb.HealthHealthy}}))

	c, greeting := dial(t, zoneAAddr, s.port)
	if err := c.echo("0123456789"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "one active flow", func() bool { return metricValues(t, reg)["kelb_nlb_active_flows"] == 1 })
	c.Close()
	eventually(t, "no active flow", func() bool { return metricValues(t, reg)["kelb_nlb_active_flows"] == 0 })

	// Without targets the next connection is reset by kelb.
	apply(t, p, Build(confview.New(lbState{port: s.port}.state()), nil))
	if _, _, err := tryDial(zoneAAddr, s.port); err == nil {
		t.Fatal("connection without targets succeeded")
	}
	eventually(t, "the reset to be counted", func() bool { return metricValues(t, reg)["kelb_nlb_tcp_resets_total{elb}"] == 1 })

	got := metricValues(t, reg)
	// Bytes: the greeting, the echoed line each way, and the target's
	// "bye" after the client's close.
	wantBytes := float64(len(greeting)+1) + 2*float64(len("0123456789\n")) + float64(len("bye\n"))
	want := map[string]float64{
		"kelb_nlb_active_flows":                       0,
		"kelb_nlb_new_flows_total":                    2,
		"kelb_nlb_processed_bytes_total":              wantBytes,
		"kelb_nlb_tcp_resets_total{client}":           0,
		"kelb_nlb_tcp_resets_total{target}":           0,
		"kelb_nlb_tcp_resets_total{elb}":              1,
		"kelb_nlb_preserve_client_ip_fallbacks_total": 0,
		"kelb_nlb_target_connection_errors_total":     0,
		"kelb_nlb_evicted_flows_total":                0,
		"kelb_nlb_refused_flows_total":                0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}

	// The load balancer goes away, and so do its series.
	apply(t, p, Config{})
	if got := metricValues(t, reg); len(got) != 0 {
		t.Errorf("metrics of a deleted load balancer are still exported: %v", got)
	}
}

func TestApplyReusesUnchangedTables(t *testing.T) {
	a := startBackend(t, "a", "127.0.0.11", false)
	b := startBackend(t, "b", "127.0.0.12", false)
	s := lbState{port: freePort(t), targets: []elb.Target{a.target("zone-a"), b.target("zone-b")}}
	h := healthMap{testTGARN: {a.key(): elb.HealthHealthy, b.key(): elb.HealthHealthy}}
	p := newPlane(t, Options{})
	apply(t, p, Build(confview.New(s.state()), h))
	tables := func() map[string]*tableID {
		p.mu.Lock()
		defer p.mu.Unlock()
		out := map[string]*tableID{}
		for k, tab := range p.tables {
			out[k] = &tableID{tab: tab}
		}
		return out
	}
	before := tables()
	// b turns unhealthy: zone b fails over to a's set, whose table exists.
	h[testTGARN][b.key()] = elb.HealthUnhealthy
	apply(t, p, Build(confview.New(s.state()), h))
	after := tables()
	key := a.addr.String()
	if before[key] == nil || after[key] == nil || before[key].tab != after[key].tab {
		t.Errorf("table of the unchanged target set %s was rebuilt", key)
	}
	if len(after) != 1 {
		t.Errorf("%d tables kept after the change, want 1 (unused ones dropped)", len(after))
	}
}

type tableID struct{ tab *maglev.Table }

func TestPreserveClientIPFallbackCounted(t *testing.T) {
	// An IPv6 target cannot see an IPv4 client's address: kelb connects
	// from its own address and counts the fallback.
	a := startBackend(t, "a", "::1", false)
	s := lbState{port: freePort(t), tgAttrs: map[string]string{attrPreserveClientIP: "true"},
		targets: []elb.Target{a.target("zone-a")}}
	reg := prometheus.NewRegistry()
	p := newPlane(t, Options{Registerer: reg})
	apply(t, p, Build(confview.New(s.state()), healthMap{testTGARN: {a.key(): elb.HealthHealthy}}))
	c, greeting := dial(t, zoneAAddr, s.port)
	if err := c.echo("over IPv6"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(greeting, "a [::1]:") {
		t.Errorf("target saw %q, want a connection from ::1", greeting)
	}
	if got := metricValues(t, reg)["kelb_nlb_preserve_client_ip_fallbacks_total"]; got != 1 {
		t.Errorf("preserve_client_ip fallbacks = %v, want 1", got)
	}
}

func TestTCPResetOrigins(t *testing.T) {
	tests := []struct {
		name string
		// reset resets the flow from one side: the client connection c or
		// the target's end of it.
		reset      func(t *testing.T, c *clientConn, b *backend)
		wantOrigin string
	}{
		{
			name: "client",
			reset: func(t *testing.T, c *clientConn, b *backend) {
				_ = c.SetLinger(0)
				c.Close()
			},
			wantOrigin: "kelb_nlb_tcp_resets_total{client}",
		},
		{
			name: "target",
			reset: func(t *testing.T, c *clientConn, b *backend) {
				b.mu.Lock()
				defer b.mu.Unlock()
				for _, tc := range b.conns {
					_ = tc.(*net.TCPConn).SetLinger(0)
					tc.Close()
				}
			},
			wantOrigin: "kelb_nlb_tcp_resets_total{target}",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := startBackend(t, "a", "127.0.0.11", false)
			s := lbState{port: freePort(t), targets: []elb.Target{a.target("zone-a")}}
			reg := prometheus.NewRegistry()
			p := newPlane(t, Options{Registerer: reg})
			apply(t, p, Build(confview.New(s.state()), healthMap{testTGARN: {a.key(): elb.HealthHealthy}}))
			c, _ := dial(t, zoneAAddr, s.port)
			if err := c.echo("hello"); err != nil {
				t.Fatal(err)
			}
			tt.reset(t, c, a)
			eventually(t, "the flow to end", func() bool { return metricValues(t, reg)["kelb_nlb_active_flows"] == 0 })
			got := metricValues(t, reg)
			want := map[string]float64{
				"kelb_nlb_tcp_resets_total{client}": 0,
				"kelb_nlb_tcp_resets_total{target}": 0,
				"kelb_nlb_tcp_resets_total{elb}":    0,
			}
			want[tt.wantOrigin] = 1
			for k := range want {
				if got[k] != want[k] {
					t.Errorf("%s = %v, want %v", k, got[k], want[k])
				}
			}
		})
	}
}
