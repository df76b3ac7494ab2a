package kernel

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables/expr"

	"github.com/kelb-io/kelb/internal/dataplane"
	"github.com/kelb-io/kelb/internal/dataplane/maglev"
)

func TestChoose(t *testing.T) {
	tests := []struct {
		name string
		l    dataplane.Listener
		want string
	}{
		{"IPv4 TCP", dataplane.Listener{Protocol: "TCP", Address: "198.19.0.1:80", Targets: []string{"198.18.0.1:8080"}}, PlaneKernel},
		{"UDP without targets", dataplane.Listener{Protocol: "UDP", Address: "198.19.0.1:53"}, PlaneKernel},
		{"PROXY protocol v2", dataplane.Listener{Protocol: "TCP", Address: "198.19.0.1:80", ProxyProtocolV2: true}, PlaneUserspace},
		{"TLS", dataplane.Listener{Protocol: "TLS", Address: "198.19.0.1:443", Targets: []string{"198.18.0.1:8080"},
			TLS: &dataplane.TLSSettings{Certificates: []string{"arn:c"}}}, PlaneUserspace},
		{"IPv6 listener", dataplane.Listener{Protocol: "TCP", Address: "[2001:db8::1]:80"}, PlaneUserspace},
		{"IPv6 target", dataplane.Listener{Protocol: "TCP", Address: "198.19.0.1:80", Targets: []string{"[2001:db8::2]:80"}}, PlaneUserspace},
		{"unparseable address", dataplane.Listener{Protocol: "TCP", Address: "nowhere"}, PlaneUserspace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := Choose(tt.l)
			if got != tt.want {
				t.Errorf("Choose = %s (%s), want %s", got, why, tt.want)
			}
			if (got == PlaneUserspace) != (why != "") {
				t.Errorf("reason %q for plane %s", why, got)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	k := dataplane.Listener{Protocol: "TCP", Address: "198.19.0.1:80"}
	u := dataplane.Listener{Protocol: "TCP", Address: "198.19.0.1:81", ProxyProtocolV2: true}
	// A TLS listener is served by the userspace plane beside TCP listeners
	// the kernel serves.
	tl := dataplane.Listener{Protocol: "TLS", Address: "198.19.0.1:443", TLS: &dataplane.TLSSettings{Certificates: []string{"arn:c"}}}
	groups := []dataplane.TargetGroup{{ARN: "tg"}}
	cfg := dataplane.Config{Listeners: []dataplane.Listener{k, u, tl}, TargetGroups: groups}
	kc, uc := Split(cfg, true)
	if diff := cmp.Diff(dataplane.Config{Listeners: []dataplane.Listener{k}, TargetGroups: groups}, kc); diff != "" {
		t.Errorf("kernel share (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(dataplane.Config{Listeners: []dataplane.Listener{u, tl}, TargetGroups: groups}, uc); diff != "" {
		t.Errorf("userspace share (-want +got):\n%s", diff)
	}
	kc, uc = Split(cfg, false)
	if len(kc.Listeners) != 0 || len(uc.Listeners) != 3 {
		t.Errorf("without a kernel plane: kernel %v, userspace %v", kc.Listeners, uc.Listeners)
	}
}

func TestDescribe(t *testing.T) {
	targets := []string{"198.18.1.1:8080", "198.18.1.2:8080", "198.18.1.3:8080"}
	cfg := dataplane.Config{Listeners: []dataplane.Listener{
		{Protocol: "TCP", Address: "198.19.0.1:80", Targets: targets, PreserveClientIP: true, IdleTimeout: 350 * time.Second,
			SourceRanges: []string{"10.1.2.3/8", "2001:db8::/32"}},
		{Protocol: "UDP", Address: "198.19.0.1:53", Targets: targets[:1], SourceIPAffinity: true},
		{Protocol: "TCP", Address: "198.19.0.2:80", IdleTimeout: 1500 * time.Millisecond},
		{Protocol: "TCP", Address: "198.19.0.2:80"},
		{Protocol: "SCTP", Address: "198.19.0.3:80"},
	}}
	cache := map[string][]netip.AddrPort{}
	d, err := Describe(cfg, 120*time.Second, cache)
	for _, want := range []string{"198.19.0.2:80", "already used", "SCTP"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Describe error %v does not mention %q", err, want)
		}
	}
	var names []string
	for _, s := range d.Services {
		names = append(names, s.Name)
	}
	if diff := cmp.Diff([]string{"tcp_198.19.0.1_80", "tcp_198.19.0.2_80", "udp_198.19.0.1_53"}, names); diff != "" {
		t.Fatalf("services (-want +got):\n%s", diff)
	}
	tcp, empty, udp := d.Services[0], d.Services[1], d.Services[2]

	table, err := maglev.New(targets, Slots)
	if err != nil {
		t.Fatal(err)
	}
	if len(tcp.Slots) != Slots {
		t.Fatalf("%d slots, want %d", len(tcp.Slots), Slots)
	}
	for h, got := range tcp.Slots {
		if want := targets[table.Lookup(uint64(h))]; got.String() != want {
			t.Fatalf("slot %d = %s, want maglev's %s", h, got, want)
		}
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"TCP SNAT", tcp.SNAT, false},
		{"UDP SNAT", udp.SNAT, true},
		{"UDP source hash", udp.SourceHash, true},
		{"TCP sources", tcp.Sources, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
		{"TCP all sources", tcp.AllSources, false},
		{"UDP all sources", udp.AllSources, true},
		{"TCP timeout", tcp.Timeout, uint32(350)},
		{"rounded timeout", empty.Timeout, uint32(2)},
		{"UDP timeout", udp.Timeout, uint32(120)},
		{"no targets", len(empty.Slots), 0},
		{"TCP timeouts", d.TCPTimeouts, []uint32{2, 350}},
		// Only listeners that preserve the client's address hairpin.
		{"hairpin", d.Hairpin, []netip.Addr{netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("198.18.1.3")}},
		{"cached tables", len(cache), 2},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, c.got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
			cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.what, diff)
		}
	}
}

func TestChains(t *testing.T) {
	d, err := Describe(dataplane.Config{Listeners: []dataplane.Listener{
		{Protocol: "TCP", Address: "198.19.0.1:80", Targets: []string{"198.18.1.1:80"}, SourceRanges: []string{"10.0.0.0/8", "192.0.2.0/24"}},
		{Protocol: "UDP", Address: "198.19.0.1:53"},
	}}, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	chains := map[string]Chain{}
	var order []string
	for _, c := range Chains(d) {
		chains[c.Name] = c
		order = append(order, c.Name)
	}
	want := []string{"prerouting", "output", "postrouting", "tcp_198.19.0.1_80", "tcp_198.19.0.1_80_fwd", "udp_198.19.0.1_53", "udp_198.19.0.1_53_fwd", "services"}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Fatalf("chains (-want +got):\n%s", diff)
	}
	for _, base := range []string{"prerouting", "output", "postrouting"} {
		if chains[base].Hook == nil {
			t.Errorf("chain %s has no hook", base)
		}
	}
	if n := len(chains["services"].Rules); n != 2 {
		t.Errorf("services has %d rules, want one per listener", n)
	}
	last := func(r Rule) expr.Any { return r[len(r)-1] }
	// Two source ranges, then the reset of everyone else.
	admit := chains["tcp_198.19.0.1_80"].Rules
	if len(admit) != 3 {
		t.Fatalf("TCP admission has %d rules, want 3", len(admit))
	}
	if _, ok := last(admit[2]).(*expr.Reject); !ok {
		t.Errorf("TCP admission ends with %T, want a reset", last(admit[2]))
	}
	// Non-SYN reset, then DNAT through the Maglev map.
	fwd := chains["tcp_198.19.0.1_80_fwd"].Rules
	if nat, ok := last(fwd[len(fwd)-1]).(*expr.NAT); !ok || nat.Type != expr.NATTypeDestNAT {
		t.Errorf("TCP forwarding ends with %T, want DNAT", last(fwd[len(fwd)-1]))
	}
	// A UDP listener without targets drops.
	udp := chains["udp_198.19.0.1_53_fwd"].Rules
	if v, ok := last(udp[len(udp)-1]).(*expr.Verdict); len(udp) != 1 || !ok || v.Kind != expr.VerdictDrop {
		t.Errorf("UDP forwarding without targets: %d rules ending with %v, want one drop", len(udp), last(udp[len(udp)-1]))
	}
	// No listener preserves the client's address: no hairpin rule.
	post := chains["postrouting"].Rules
	if len(post) != 1 {
		t.Fatalf("postrouting has %d rules, want the SNAT of marked flows alone", len(post))
	}
	if nat, ok := last(post[0]).(*expr.NAT); !ok || nat.Type != expr.NATTypeSourceNAT {
		t.Errorf("postrouting ends with %T, want SNAT to the load balancer's address", last(post[0]))
	}
	// --snat-source node: a masquerade instead.
	d.Masquerade = true
	for _, c := range Chains(d) {
		if c.Name == "postrouting" {
			if _, ok := last(c.Rules[0]).(*expr.Masq); !ok {
				t.Errorf("postrouting with Masquerade ends with %T, want a masquerade", last(c.Rules[0]))
			}
		}
	}
}

func TestPrefixMask(t *testing.T) {
	for bits, want := range map[int][4]byte{0: {}, 8: {255}, 20: {255, 255, 240}, 32: {255, 255, 255, 255}} {
		if got := prefixMask(bits); got != want {
			t.Errorf("prefixMask(%d) = %v, want %v", bits, got, want)
		}
	}
}
