package l7

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/confview"
	"github.com/kelb-io/kelb/internal/elb"
)

type healthMap map[string]string

func (h healthMap) TargetHealth(_ string, k elb.TargetKey) (elb.TargetHealth, bool) {
	s, ok := h[k.ID]
	return elb.TargetHealth{State: s}, ok
}

func TestBuild(t *testing.T) {
	lbARN := "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/web/abc"
	tgARN := "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/web/def"
	emptyARN := "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/empty/123"
	fwd := func(arn string) []elb.Action { return []elb.Action{{Type: elb.ActionForward, TargetGroupARN: arn}} }
	state := elb.State{
		LoadBalancers: []elb.LoadBalancer{
			{ARN: lbARN, Type: elb.TypeApplication, State: elb.StateActive,
				Zones:      []elb.ZoneAddress{{Zone: "a", Address: netip.MustParseAddr("198.19.1.1")}, {Zone: "b", Address: netip.MustParseAddr("198.19.2.1")}},
				Attributes: map[string]string{"idle_timeout.timeout_seconds": "5", "routing.http2.enabled": "false", "routing.http.xff_header_processing.mode": "remove"}},
			{ARN: "nlb", Type: elb.TypeNetwork, Zones: []elb.ZoneAddress{{Zone: "a", Address: netip.MustParseAddr("198.19.1.2")}}},
		},
		Listeners: []elb.Listener{
			{ARN: "l-http", LoadBalancerARN: lbARN, Protocol: "HTTP", Port: 80, DefaultActions: fwd(tgARN)},
			{ARN: "l-https", LoadBalancerARN: lbARN, Protocol: "HTTPS", Port: 443, DefaultActions: fwd(tgARN), SslPolicy: "ELBSecurityPolicy-2016-08",
				Certificates: []elb.Certificate{{ARN: "sni"}, {ARN: "default", IsDefault: true}}},
			{ARN: "l-tcp", LoadBalancerARN: "nlb", Protocol: "TCP", Port: 80, DefaultActions: fwd("other")},
		},
		Rules: []elb.Rule{
			{ARN: "r20", ListenerARN: "l-http", Priority: "20", Actions: fwd(emptyARN)},
			{ARN: "r3", ListenerARN: "l-http", Priority: "3", Actions: fwd(tgARN)},
		},
		TargetGroups: []elb.TargetGroup{
			{ARN: tgARN, Protocol: "HTTP", Port: 8080, Attributes: map[string]string{
				"stickiness.enabled": "true", "stickiness.type": "lb_cookie", "stickiness.lb_cookie.duration_seconds": "60",
				"load_balancing.algorithm.type": "least_outstanding_requests", "slow_start.duration_seconds": "30"},
				Targets: []elb.Target{{ID: "10.0.0.1"}, {ID: "10.0.0.2", Port: 9090}, {ID: "10.0.0.3"}, {ID: "10.0.0.4", DeregisteredAt: time.Unix(1, 0)}}},
			{ARN: emptyARN, Protocol: "HTTPS", ProtocolVersion: "GRPC", Port: 443, Targets: []elb.Target{{ID: "10.0.1.1"}}},
		},
	}
	health := healthMap{"10.0.0.1": elb.HealthHealthy, "10.0.0.2": elb.HealthHealthy, "10.0.0.3": elb.HealthUnhealthy, "10.0.0.4": elb.HealthHealthy,
		"10.0.1.1": elb.HealthUnhealthy}
	got := Build(confview.New(state), health)

	rules := []elb.Rule{state.Rules[1], state.Rules[0]}
	listener := func(arn, proto, addr, zone string) Listener {
		l := Listener{ListenerARN: arn, LoadBalancer: "app/web/abc", LoadBalancerARN: lbARN, Zone: zone, Protocol: proto, Address: addr,
			IdleTimeout: 5 * time.Second, XFFMode: "remove", DefaultActions: fwd(tgARN)}
		if proto == "HTTPS" {
			l.Certificates, l.SSLPolicy = []string{"default", "sni"}, "ELBSecurityPolicy-2016-08"
		} else {
			l.Rules = rules
		}
		return l
	}
	want := Config{
		Listeners: []Listener{
			listener("l-http", "HTTP", "198.19.1.1:80", "a"),
			listener("l-https", "HTTPS", "198.19.1.1:443", "a"),
			listener("l-http", "HTTP", "198.19.2.1:80", "b"),
			listener("l-https", "HTTPS", "198.19.2.1:443", "b"),
		},
		TargetGroups: []TargetGroup{
			{ARN: emptyARN, Label: "targetgroup/empty/123", Protocol: "HTTPS", ProtocolVersion: "GRPC", Algorithm: "round_robin",
				ResponseTimeout: 5 * time.Second, XFFMode: "remove", Routing: RoutingFailOpen, Targets: []string{"10.0.1.1:443"}},
			{ARN: tgARN, Label: "targetgroup/web/def", Protocol: "HTTP", ProtocolVersion: "HTTP1", Algorithm: "least_outstanding_requests",
				Stickiness: "lb_cookie", StickinessDuration: time.Minute, SlowStart: 30 * time.Second,
				ResponseTimeout: 5 * time.Second, XFFMode: "remove", Routing: RoutingHealthy, Targets: []string{"10.0.0.1:8080", "10.0.0.2:9090"}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Build (-want +got):\n%s", diff)
	}
}

func TestRedirectURL(t *testing.T) {
	tests := []struct {
		name     string
		cfg      elb.RedirectConfig
		target   string
		host     string
		protocol string
		port     string
		want     string
	}{
		{name: "http to https", cfg: elb.RedirectConfig{Protocol: "HTTPS", Port: "443"}, target: "/a/b?x=1", host: "web.test", protocol: "HTTP", port: "80",
			want: "https://web.test:443/a/b?x=1"},
		{name: "defaults keep everything", target: "/p", host: "web.test:8080", protocol: "HTTP", port: "8080", want: "http://web.test:8080/p"},
		{name: "placeholders", cfg: elb.RedirectConfig{Host: "new.#{host}", Path: "/v2/#{path}", Query: "#{query}&from=#{port}"},
			target: "/old?q=1", host: "web.test", protocol: "HTTPS", port: "443", want: "https://new.web.test:443/v2/old?q=1&from=443"},
		{name: "fixed everything", cfg: elb.RedirectConfig{Protocol: "HTTP", Host: "other.test", Port: "81", Path: "/x", Query: "y=1"},
			target: "/ignored?z", host: "web.test", protocol: "HTTPS", port: "443", want: "http://other.test:81/x?y=1"},
		{name: "empty query dropped", cfg: elb.RedirectConfig{Protocol: "#{protocol}"}, target: "/", host: "web.test", protocol: "HTTP", port: "80", want: "http://web.test:80/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tt.target, nil)
			r.Host = tt.host
			if got := redirectURL(tt.cfg, r, tt.protocol, tt.port); got != tt.want {
				t.Errorf("redirectURL = %q, want %q", got, tt.want)
			}
		})
	}
}

func BenchmarkProxiedRequest(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	lnLB, err := net.Listen("tcp", "127.0.0.28:0")
	if err != nil {
		b.Fatal(err)
	}
	lbAddr := lnLB.Addr().String()
	lnLB.Close()
	p := New(Options{})
	b.Cleanup(func() { p.Close() })
	if err := p.Apply(Config{
		Listeners:    []Listener{{ListenerARN: "l", LoadBalancer: "app/lb/1", Protocol: "HTTP", Address: lbAddr, IdleTimeout: time.Minute, DefaultActions: forward("tg")}},
		TargetGroups: []TargetGroup{testGroup("tg", ln.Addr().String())},
	}); err != nil {
		b.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Get("http://" + lbAddr + "/")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
