package bgp

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParsePeer(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Peer
		wantErr string
	}{
		{in: "198.18.0.1,asn=64513", want: Peer{Address: netip.MustParseAddr("198.18.0.1"), ASN: 64513}},
		{in: "198.18.0.1,asn=4200000000,port=1179,hold=30s,password=s3cret", want: Peer{
			Address: netip.MustParseAddr("198.18.0.1"), ASN: 4200000000, Port: 1179, HoldTime: 30 * time.Second, Password: "s3cret"}},
		{in: "2001:db8::1,hold=3s,asn=65000", want: Peer{Address: netip.MustParseAddr("2001:db8::1"), ASN: 65000, HoldTime: 3 * time.Second}},
		{in: "::ffff:198.18.0.1,asn=1", want: Peer{Address: netip.MustParseAddr("198.18.0.1"), ASN: 1}},
		{in: "", wantErr: `address "": want an IP address`},
		{in: "router.example,asn=1", wantErr: `address "router.example": want an IP address`},
		{in: "198.18.0.1", wantErr: "asn=N is required"},
		{in: "198.18.0.1,asn=0", wantErr: `asn "0": want a number from 1 to 4294967295`},
		{in: "198.18.0.1,asn=4294967296", wantErr: `asn "4294967296": want a number from 1 to 4294967295`},
		{in: "198.18.0.1,asn=x", wantErr: `asn "x"`},
		{in: "198.18.0.1,asn=1,asn=2", wantErr: "option asn given twice"},
		{in: "198.18.0.1,asn=1,port=0", wantErr: `port "0": want a number from 1 to 65535`},
		{in: "198.18.0.1,asn=1,port=70000", wantErr: `port "70000"`},
		{in: "198.18.0.1,asn=1,hold=9", wantErr: `hold "9": want a duration such as 9s`},
		{in: "198.18.0.1,asn=1,hold=2s", wantErr: "hold 2s: must be at least 3s"},
		{in: "198.18.0.1,asn=1,hold=0s", wantErr: "hold 0s: must be at least 3s"},
		{in: "198.18.0.1,asn=1,hold=3500ms", wantErr: "hold 3.5s: must be whole seconds"},
		{in: "198.18.0.1,asn=1,hold=20h", wantErr: "hold 20h0m0s: must be at most 65535s"},
		{in: "198.18.0.1,asn=1,password=", wantErr: `option "password=": want KEY=VALUE`},
		{in: "198.18.0.1,asn=1,password=" + strings.Repeat("x", 81), wantErr: "password longer than 80 bytes"},
		{in: "198.18.0.1,asn=1,multihop=2", wantErr: `unknown option "multihop" (want asn, port, hold or password)`},
		{in: "198.18.0.1,asn", wantErr: `option "asn": want KEY=VALUE`},
	} {
		got, err := ParsePeer(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParsePeer(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParsePeer(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("ParsePeer(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestDefaultRouterID(t *testing.T) {
	addrs := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, a := range s {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}
	for _, tc := range []struct {
		in     []netip.Addr
		want   string
		wantOK bool
	}{
		{in: addrs("127.0.0.1", "::1", "fe80::1", "169.254.1.1", "2001:db8::1", "198.18.0.11", "198.18.0.12"), want: "198.18.0.11", wantOK: true},
		{in: addrs("127.0.0.1", "::1", "2001:db8::1")},
		{in: nil},
	} {
		got, ok := DefaultRouterID(tc.in)
		if ok != tc.wantOK || (ok && got.String() != tc.want) {
			t.Errorf("DefaultRouterID(%v) = %v, %v; want %s, %v", tc.in, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestPlan(t *testing.T) {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	announced := map[netip.Addr]bool{a("198.19.1.1"): true, a("198.19.1.2"): true}
	add, withdraw := Plan([]netip.Addr{a("198.19.1.3"), a("198.19.1.2"), a("198.19.1.3")}, announced)
	if diff := cmp.Diff([]netip.Addr{a("198.19.1.3")}, add, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("add (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]netip.Addr{a("198.19.1.1")}, withdraw, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("withdraw (-want +got):\n%s", diff)
	}
	add, withdraw = Plan(nil, announced)
	if len(add) != 0 || len(withdraw) != 2 {
		t.Errorf("Plan(nil) = %v, %v; want nothing to add, both withdrawn", add, withdraw)
	}
}
