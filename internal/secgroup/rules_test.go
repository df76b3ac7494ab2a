package secgroup

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestAdmitted(t *testing.T) {
	groups := []SecurityGroup{
		{ID: "sg-1", Ingress: []Rule{
			{Protocol: ProtocolTCP, FromPort: 80, ToPort: 80, CIDR: "10.0.0.0/8"},
			{Protocol: ProtocolTCP, FromPort: 1000, ToPort: 2000, CIDR: "172.16.0.0/12"},
			{Protocol: ProtocolUDP, FromPort: 53, ToPort: 53, CIDR: "192.168.0.0/16"},
			{Protocol: ProtocolTCP, FromPort: 80, ToPort: 80, GroupID: "sg-2"},
			{Protocol: ProtocolICMP, FromPort: -1, ToPort: -1, CIDR: "0.0.0.0/0"},
		}, Egress: []Rule{{Protocol: ProtocolAll, CIDR: "0.0.0.0/0"}}},
		{ID: "sg-2", Ingress: []Rule{
			{Protocol: ProtocolAll, CIDR: "198.18.0.7/32"},
			{Protocol: ProtocolTCP, FromPort: 0, ToPort: 65535, CIDR: "10.1.0.0/16"},
			{Protocol: ProtocolTCP, FromPort: 80, ToPort: 80, CIDR: "2001:db8::/32"},
		}},
	}
	for _, tt := range []struct {
		protocol string
		port     int
		want     []netip.Prefix
	}{
		{ProtocolTCP, 80, prefixes("10.0.0.0/8", "198.18.0.7/32", "2001:db8::/32")},
		{ProtocolTCP, 1000, prefixes("10.1.0.0/16", "172.16.0.0/12", "198.18.0.7/32")},
		{ProtocolTCP, 2001, prefixes("10.1.0.0/16", "198.18.0.7/32")},
		{ProtocolUDP, 53, prefixes("192.168.0.0/16", "198.18.0.7/32")},
		{ProtocolUDP, 80, prefixes("198.18.0.7/32")},
	} {
		got := Admitted(groups, tt.protocol, tt.port)
		if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
			t.Errorf("Admitted(%s %d) (-want +got):\n%s", tt.protocol, tt.port, diff)
		}
	}
	if got := Admitted(nil, ProtocolTCP, 80); len(got) != 0 {
		t.Errorf("Admitted(no groups) = %v", got)
	}
}

func TestIntersect(t *testing.T) {
	for _, tt := range []struct {
		a, b, want []netip.Prefix
	}{
		{prefixes("10.0.0.0/8"), prefixes("10.1.0.0/16", "11.0.0.0/8"), prefixes("10.1.0.0/16")},
		{prefixes("10.1.2.0/24", "192.168.0.0/16"), prefixes("10.0.0.0/8", "192.168.7.7/32"), prefixes("10.1.2.0/24", "192.168.7.7/32")},
		{prefixes("0.0.0.0/0"), prefixes("::/0"), nil},
		{prefixes("10.0.0.0/8"), nil, nil},
		{prefixes("10.0.0.0/8", "10.0.0.0/16"), prefixes("0.0.0.0/0"), prefixes("10.0.0.0/8")},
	} {
		got := Intersect(tt.a, tt.b)
		if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
			t.Errorf("Intersect(%v, %v) (-want +got):\n%s", tt.a, tt.b, diff)
		}
	}
}

func TestExpandAndPermissions(t *testing.T) {
	p80 := int32(80)
	rules, err := expand(Permission{Protocol: "6", FromPort: &p80, ToPort: &p80, Peers: []Peer{
		{CIDR: "10.1.2.3/8", Description: "office"}, {GroupID: "sg-2"}, {CIDR: "2001:db8::1/32"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{
		{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDR: "10.0.0.0/8", Description: "office"},
		{Protocol: "tcp", FromPort: 80, ToPort: 80, GroupID: "sg-2"},
		{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDR: "2001:db8::/32"},
	}
	if diff := cmp.Diff(want, rules); diff != "" {
		t.Errorf("expand (-want +got):\n%s", diff)
	}
	all, err := expand(Permission{Protocol: "all", Peers: []Peer{{CIDR: "0.0.0.0/0"}}})
	if err != nil {
		t.Fatal(err)
	}
	perms := Permissions(append(rules, all...))
	if len(perms) != 2 || len(perms[0].Peers) != 3 || *perms[0].FromPort != 80 || perms[1].Protocol != "-1" || perms[1].FromPort != nil {
		t.Errorf("Permissions = %+v", perms)
	}

	p90 := int32(90)
	p70000 := int32(70000)
	for _, tt := range []struct {
		name string
		p    Permission
		code string
	}{
		{"unknown protocol", Permission{Protocol: "sctp-ish", Peers: []Peer{{CIDR: "10.0.0.0/8"}}}, CodeInvalidParameterValue},
		{"tcp without ports", Permission{Protocol: "tcp", Peers: []Peer{{CIDR: "10.0.0.0/8"}}}, CodeInvalidParameterValue},
		{"ports the wrong way", Permission{Protocol: "tcp", FromPort: &p90, ToPort: &p80, Peers: []Peer{{CIDR: "10.0.0.0/8"}}}, CodeInvalidParameterValue},
		{"port out of range", Permission{Protocol: "udp", FromPort: &p80, ToPort: &p70000, Peers: []Peer{{CIDR: "10.0.0.0/8"}}}, CodeInvalidParameterValue},
		{"bad CIDR", Permission{Protocol: "-1", Peers: []Peer{{CIDR: "10.0.0/8"}}}, CodeInvalidParameterValue},
		{"no peer", Permission{Protocol: "-1"}, CodeMissingParameter},
		{"prefix list", Permission{Protocol: "-1", PrefixLists: []string{"pl-1"}, Peers: []Peer{{CIDR: "10.0.0.0/8"}}}, CodeInvalidPrefixListNotFound},
		{"bad description", Permission{Protocol: "-1", Peers: []Peer{{CIDR: "10.0.0.0/8", Description: "a<b"}}}, CodeInvalidParameterValue},
	} {
		_, err := expand(tt.p)
		e, ok := err.(*Error)
		if !ok || e.Code != tt.code {
			t.Errorf("%s: error %v, want %s", tt.name, err, tt.code)
		}
	}
}

func FuzzMinimal(f *testing.F) {
	f.Add([]byte{10, 0, 0, 0, 8, 10, 1, 0, 0, 16, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var in []netip.Prefix
		for len(b) >= 5 {
			p, err := netip.AddrFrom4([4]byte(b[:4])).Prefix(int(b[4] % 33))
			if err == nil {
				in = append(in, p)
			}
			b = b[5:]
		}
		out := Minimal(in)
		// Every input address is still covered, and no output prefix
		// covers another.
		for _, p := range in {
			covered := false
			for _, o := range out {
				covered = covered || (o.Bits() <= p.Bits() && o.Contains(p.Addr()))
			}
			if !covered {
				t.Fatalf("Minimal(%v) = %v loses %v", in, out, p)
			}
		}
		for i, a := range out {
			for j, c := range out {
				if i != j && a.Overlaps(c) {
					t.Fatalf("Minimal(%v) = %v keeps overlapping %v and %v", in, out, a, c)
				}
			}
		}
	})
}
