package kubelet

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPlan(t *testing.T) {
	got, err := Plan(4, []string{"us-west-2a", "us-west-2b", "us-west-2c"})
	if err != nil {
		t.Fatal(err)
	}
	want := []NodeSpec{
		{1, "ip-198-18-0-11.us-west-2.compute.internal", netip.MustParseAddr("198.18.0.11"), netip.MustParsePrefix("198.18.1.0/24"), "us-west-2a", "us-west-2"},
		{2, "ip-198-18-0-12.us-west-2.compute.internal", netip.MustParseAddr("198.18.0.12"), netip.MustParsePrefix("198.18.2.0/24"), "us-west-2b", "us-west-2"},
		{3, "ip-198-18-0-13.us-west-2.compute.internal", netip.MustParseAddr("198.18.0.13"), netip.MustParsePrefix("198.18.3.0/24"), "us-west-2c", "us-west-2"},
		{4, "ip-198-18-0-14.us-west-2.compute.internal", netip.MustParseAddr("198.18.0.14"), netip.MustParsePrefix("198.18.4.0/24"), "us-west-2a", "us-west-2"},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("Plan mismatch (-want +got):\n%s", diff)
	}
	if p := got[0].ProviderID(); p != "aws:///us-west-2a/i-e65a0bb4bbcd7f477" {
		t.Errorf("ProviderID = %q", p)
	}
}

func TestPlanRejects(t *testing.T) {
	tests := []struct {
		name  string
		count int
		zones []string
	}{
		{"zero nodes", 0, []string{"us-west-2a"}},
		{"too many nodes", MaxNodes + 1, []string{"us-west-2a"}},
		{"no zones", 3, nil},
		{"zone without letter", 1, []string{"us-west-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Plan(tt.count, tt.zones); err == nil {
				t.Errorf("Plan(%d, %q) succeeded, want an error", tt.count, tt.zones)
			}
		})
	}
}

func TestAllocateIP(t *testing.T) {
	prefix := netip.MustParsePrefix("198.18.1.0/24")
	addrs := func(ss ...string) map[netip.Addr]bool {
		m := map[netip.Addr]bool{}
		for _, s := range ss {
			m[netip.MustParseAddr(s)] = true
		}
		return m
	}
	full := map[netip.Addr]bool{}
	for i := 2; i <= 254; i++ {
		full[netip.AddrFrom4([4]byte{198, 18, 1, byte(i)})] = true
	}
	tests := []struct {
		name   string
		used   map[netip.Addr]bool
		want   string
		wantOK bool
	}{
		{"empty range starts at .2", nil, "198.18.1.2", true},
		{"next after used", addrs("198.18.1.2", "198.18.1.3"), "198.18.1.4", true},
		{"lowest hole", addrs("198.18.1.2", "198.18.1.4"), "198.18.1.3", true},
		{"addresses outside the range do not matter", addrs("198.18.2.2"), "198.18.1.2", true},
		{"full range", full, "invalid IP", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := allocateIP(prefix, tt.used)
			if got.String() != tt.want || ok != tt.wantOK {
				t.Errorf("allocateIP = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
