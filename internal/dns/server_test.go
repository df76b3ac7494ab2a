package dns

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mdns "github.com/miekg/dns"

	"github.com/kelb-io/kelb/internal/confview"
	"github.com/kelb-io/kelb/internal/elb"
)

// startServer runs a server on a free loopback port until the test ends.
func startServer(t *testing.T, o Options) *Server {
	t.Helper()
	o.Addr = "127.0.0.1:0"
	s := NewServer(o)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-errc:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server not ready")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return s
}

// query asks addr over network ("udp" or "tcp").
func query(t *testing.T, network, addr, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	c := &mdns.Client{Net: network, Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s query %s %s: %v", network, name, mdns.TypeToString[qtype], err)
	}
	return resp
}

// reply is the part of a response the tests compare.
type reply struct {
	Rcode     string
	Truncated bool
	Answer    []string // sorted "name ttl type value"
	Authority []string // record types
}

func summarize(m *mdns.Msg) reply {
	r := reply{Rcode: mdns.RcodeToString[m.Rcode], Truncated: m.Truncated}
	for _, rr := range m.Answer {
		h := rr.Header()
		var v string
		switch rr := rr.(type) {
		case *mdns.A:
			v = rr.A.String()
		case *mdns.AAAA:
			v = rr.AAAA.String()
		default:
			v = rr.String()
		}
		r.Answer = append(r.Answer, fmt.Sprintf("%s %d %s %s", h.Name, h.Ttl, mdns.TypeToString[h.Rrtype], v))
	}
	slices.Sort(r.Answer)
	for _, rr := range m.Ns {
		r.Authority = append(r.Authority, mdns.TypeToString[rr.Header().Rrtype])
	}
	return r
}

func TestServerAnswers(t *testing.T) {
	s := startServer(t, Options{Domain: "kelb.local"})
	s.Update(confview.New(threeZones()), healthMap{"198.18.1.5": elb.HealthHealthy, "198.18.2.5": elb.HealthHealthy, "198.18.3.5": elb.HealthHealthy}, nil)

	nlbA := []string{
		nlbName + ". 60 A 198.19.1.1",
		nlbName + ". 60 A 198.19.2.1",
		nlbName + ". 60 A 198.19.3.1",
	}
	tests := []struct {
		name  string
		qname string
		qtype uint16
		want  reply
	}{
		{name: "A", qname: nlbName + ".", qtype: mdns.TypeA,
			want: reply{Rcode: "NOERROR", Answer: nlbA}},
		{name: "any case", qname: "WEB-0123456789ABCDEF.elb.US-WEST-2.kelb.local.", qtype: mdns.TypeA,
			want: reply{Rcode: "NOERROR", Answer: []string{
				"WEB-0123456789ABCDEF.elb.US-WEST-2.kelb.local. 60 A 198.19.1.1",
				"WEB-0123456789ABCDEF.elb.US-WEST-2.kelb.local. 60 A 198.19.2.1",
				"WEB-0123456789ABCDEF.elb.US-WEST-2.kelb.local. 60 A 198.19.3.1",
			}}},
		{name: "no AAAA for an ipv4 load balancer", qname: nlbName + ".", qtype: mdns.TypeAAAA,
			want: reply{Rcode: "NOERROR", Authority: []string{"SOA"}}},
		{name: "AAAA for a dualstack load balancer", qname: albName + ".", qtype: mdns.TypeAAAA,
			want: reply{Rcode: "NOERROR", Answer: []string{albName + ". 60 AAAA fd00:19:1::2"}}},
		{name: "dualstack name", qname: "dualstack." + albName + ".", qtype: mdns.TypeA,
			want: reply{Rcode: "NOERROR", Answer: []string{
				"dualstack." + albName + ". 60 A 198.19.1.2",
				"dualstack." + albName + ". 60 A 198.19.2.2",
			}}},
		{name: "unknown name in the domain", qname: "gone-0123456789abcdef.elb.us-west-2.kelb.local.", qtype: mdns.TypeA,
			want: reply{Rcode: "NXDOMAIN", Authority: []string{"SOA"}}},
		{name: "ancestor of a load balancer name", qname: "elb.us-west-2.kelb.local.", qtype: mdns.TypeA,
			want: reply{Rcode: "NOERROR", Authority: []string{"SOA"}}},
		{name: "SOA of the domain", qname: "kelb.local.", qtype: mdns.TypeSOA,
			want: reply{Rcode: "NOERROR", Answer: []string{
				"kelb.local. 60 SOA kelb.local.\t60\tIN\tSOA\tns.kelb.local. hostmaster.kelb.local. 7 7200 900 1209600 60",
			}}},
		{name: "outside the domain without upstream", qname: "example.com.", qtype: mdns.TypeA,
			want: reply{Rcode: "REFUSED"}},
	}
	for _, tt := range tests {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tt.name+"/"+network, func(t *testing.T) {
				got := summarize(query(t, network, s.Addr(), tt.qname, tt.qtype))
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("reply (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestServerUpdateWhileServing(t *testing.T) {
	s := startServer(t, Options{Domain: "kelb.local", TTL: 5})
	ask := func() reply { return summarize(query(t, "udp", s.Addr(), nlbName+".", mdns.TypeA)) }

	if got := ask(); got.Rcode != "NXDOMAIN" {
		t.Fatalf("before any update: %+v, want NXDOMAIN", got)
	}
	st := threeZones()
	s.Update(confview.New(st), healthMap{"198.18.1.5": elb.HealthHealthy, "198.18.2.5": elb.HealthHealthy, "198.18.3.5": elb.HealthHealthy}, nil)
	want := reply{Rcode: "NOERROR", Answer: []string{
		nlbName + ". 5 A 198.19.1.1", nlbName + ". 5 A 198.19.2.1", nlbName + ". 5 A 198.19.3.1"}}
	if diff := cmp.Diff(want, ask()); diff != "" {
		t.Errorf("all healthy (-want +got):\n%s", diff)
	}

	// zone-b's only target fails: zone-b leaves DNS.
	s.Update(confview.New(st), healthMap{"198.18.1.5": elb.HealthHealthy, "198.18.2.5": elb.HealthUnhealthy, "198.18.3.5": elb.HealthHealthy}, nil)
	want.Answer = []string{nlbName + ". 5 A 198.19.1.1", nlbName + ". 5 A 198.19.3.1"}
	if diff := cmp.Diff(want, ask()); diff != "" {
		t.Errorf("zone-b unhealthy (-want +got):\n%s", diff)
	}

	// The load balancer is deleted.
	st.LoadBalancers = st.LoadBalancers[1:]
	s.Update(confview.New(st), healthMap{}, nil)
	if got := ask(); got.Rcode != "NXDOMAIN" {
		t.Errorf("after deletion: %+v, want NXDOMAIN", got)
	}
}

func TestServerTruncatesToTCP(t *testing.T) {
	s := startServer(t, Options{Domain: "kelb.local"})
	st := threeZones()
	lb := &st.LoadBalancers[0]
	lb.Zones = nil
	for i := range 60 {
		lb.Zones = append(lb.Zones, elb.ZoneAddress{Zone: fmt.Sprintf("zone-%d", i), Address: netip.AddrFrom4([4]byte{198, 19, byte(i), 1})})
	}
	s.Update(confview.New(st), nil, nil)

	udp := query(t, "udp", s.Addr(), nlbName+".", mdns.TypeA)
	if !udp.Truncated || len(udp.Answer) >= 60 {
		t.Errorf("udp: truncated %v with %d answers, want truncated with fewer than 60", udp.Truncated, len(udp.Answer))
	}
	tcp := query(t, "tcp", s.Addr(), nlbName+".", mdns.TypeA)
	if tcp.Truncated || len(tcp.Answer) != 60 {
		t.Errorf("tcp: truncated %v with %d answers, want all 60", tcp.Truncated, len(tcp.Answer))
	}

	// A client that advertises a large EDNS buffer gets everything over UDP.
	m := new(mdns.Msg)
	m.SetQuestion(nlbName+".", mdns.TypeA)
	m.SetEdns0(4096, false)
	resp, _, err := (&mdns.Client{Net: "udp", UDPSize: 4096, Timeout: 5 * time.Second}).Exchange(m, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Truncated || len(resp.Answer) != 60 {
		t.Errorf("udp with edns: truncated %v with %d answers, want all 60", resp.Truncated, len(resp.Answer))
	}
}

func TestServerForwardsToUpstream(t *testing.T) {
	// The upstream is another kelb DNS server, authoritative for its own
	// domain.
	upstream := startServer(t, Options{Domain: "example.test"})
	upState := elb.State{LoadBalancers: []elb.LoadBalancer{{ARN: "up", DNSName: "app.example.test",
		Zones: []elb.ZoneAddress{{Zone: "z", Address: netip.MustParseAddr("198.19.9.9")}}}}}
	upstream.Update(confview.New(upState), nil, nil)

	dead := startServer(t, Options{}) // refuses everything
	closed := closedAddress(t)
	tests := []struct {
		name     string
		upstream []string
		want     reply
	}{
		{name: "skips failing upstreams", upstream: []string{closed, dead.Addr(), upstream.Addr()},
			want: reply{Rcode: "NOERROR", Answer: []string{"App.Example.Test. 60 A 198.19.9.9"}}},
		{name: "refused by every upstream", upstream: []string{dead.Addr()},
			want: reply{Rcode: "REFUSED"}},
		{name: "no upstream answers", upstream: []string{closed},
			want: reply{Rcode: "SERVFAIL"}},
	}
	for _, tt := range tests {
		s := startServer(t, Options{Domain: "kelb.local", Upstream: tt.upstream})
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tt.name+"/"+network, func(t *testing.T) {
				got := summarize(query(t, network, s.Addr(), "App.Example.Test.", mdns.TypeA))
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("forwarded (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// closedAddress is a loopback address where nothing listens, over UDP or
// TCP.
func closedAddress(t *testing.T) string {
	t.Helper()
	pc, ln, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	ln.Close()
	return addr
}

func TestServerTCPDeadlinesAndCap(t *testing.T) {
	s := startServer(t, Options{Domain: "kelb.local", MaxTCPConns: 2})
	s.Update(confview.New(threeZones()), nil, nil)
	// Two connections take the cap, each with a query that never ends:
	// the read deadline closes them.
	var stalled []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte{0, 40, 1, 2, 3}) // 40 bytes announced, 3 sent
		stalled = append(stalled, c)
	}
	for i, c := range stalled {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("stalled connection %d: read %v, want EOF", i, err)
		}
	}
	// A well-behaved client is answered over TCP.
	if got := query(t, "tcp", s.Addr(), nlbName+".", mdns.TypeA); len(got.Answer) == 0 {
		t.Errorf("tcp query after stalled connections: %v", got)
	}
}
