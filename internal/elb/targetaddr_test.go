package elb

import (
	"net/netip"
	"testing"
)

func TestCheckTargetAddress(t *testing.T) {
	vpc := []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("fd00:18::/48")}
	loopbackVPC := DefaultVPCCIDRs
	tests := []struct {
		name       string
		addr       string
		vpc        []netip.Prefix
		targetType string
		az         string
		wantCode   string
	}{
		{name: "in the VPC", addr: "198.18.1.10"},
		{name: "in the VPC, named zone", addr: "198.18.1.10", az: "us-west-2b"},
		{name: "in the VPC, zone all", addr: "198.18.1.10", az: AvailabilityZoneAll, wantCode: CodeValidationError},
		{name: "IPv6 in the VPC", addr: "fd00:18::7"},
		{name: "instance in the VPC", addr: "198.18.0.11", targetType: TargetTypeInstance},
		{name: "loopback VPC", addr: "127.0.0.1", vpc: loopbackVPC},
		{name: "RFC 1918 outside the VPC, zone all", addr: "10.1.2.3", az: AvailabilityZoneAll},
		{name: "RFC 6598 outside the VPC, named zone", addr: "100.64.0.9", az: "us-west-2a"},
		{name: "172.16/12 outside the VPC", addr: "172.31.255.254", az: AvailabilityZoneAll},
		{name: "192.168/16 outside the VPC", addr: "192.168.0.1", az: AvailabilityZoneAll},

		{name: "outside the VPC without a zone", addr: "10.1.2.3", wantCode: CodeValidationError},
		{name: "instance outside the VPC", addr: "10.1.2.3", targetType: TargetTypeInstance, az: "us-west-2a", wantCode: CodeInvalidTarget},
		{name: "public", addr: "8.8.8.8", az: AvailabilityZoneAll, wantCode: CodeInvalidTarget},
		{name: "public without a zone", addr: "8.8.8.8", wantCode: CodeInvalidTarget},
		{name: "just outside 172.16/12", addr: "172.32.0.1", az: AvailabilityZoneAll, wantCode: CodeInvalidTarget},
		{name: "public IPv6", addr: "2001:4860:4860::8888", az: AvailabilityZoneAll, wantCode: CodeInvalidTarget},
		{name: "ULA outside the VPC", addr: "fd99::1", az: AvailabilityZoneAll, wantCode: CodeInvalidTarget},
		{name: "metadata service", addr: "169.254.169.254", az: AvailabilityZoneAll, wantCode: CodeInvalidTarget},
		{name: "IPv6 link-local", addr: "fe80::1", az: AvailabilityZoneAll, wantCode: CodeInvalidTarget},
		{name: "unspecified", addr: "0.0.0.0", az: AvailabilityZoneAll, wantCode: CodeInvalidTarget},
		{name: "this network", addr: "0.1.2.3", az: AvailabilityZoneAll, wantCode: CodeInvalidTarget},
		{name: "IPv6 unspecified", addr: "::", az: AvailabilityZoneAll, wantCode: CodeInvalidTarget},
		{name: "multicast", addr: "224.0.0.1", az: AvailabilityZoneAll, wantCode: CodeInvalidTarget},
		{name: "IPv6 multicast", addr: "ff02::1", az: AvailabilityZoneAll, wantCode: CodeInvalidTarget},
		{name: "broadcast", addr: "255.255.255.255", az: AvailabilityZoneAll, wantCode: CodeInvalidTarget},
		{name: "reserved", addr: "240.0.0.1", az: AvailabilityZoneAll, wantCode: CodeInvalidTarget},
		{name: "loopback outside the VPC", addr: "127.0.0.1", az: AvailabilityZoneAll, wantCode: CodeInvalidTarget},
		{name: "IPv6 loopback outside the VPC", addr: "::1", az: AvailabilityZoneAll, wantCode: CodeInvalidTarget},
		{name: "IPv4-mapped", addr: "::ffff:10.1.2.3", az: AvailabilityZoneAll, wantCode: CodeInvalidTarget},
		{name: "IPv4-mapped link-local", addr: "::ffff:169.254.169.254", az: AvailabilityZoneAll, wantCode: CodeInvalidTarget},
		{name: "link-local even in a VPC that claims it", addr: "169.254.169.254", vpc: []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16")}, wantCode: CodeInvalidTarget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.vpc
			if v == nil {
				v = vpc
			}
			typ := tt.targetType
			if typ == "" {
				typ = TargetTypeIP
			}
			err := checkTargetAddress(netip.MustParseAddr(tt.addr), v, typ, tt.az)
			switch {
			case tt.wantCode == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.wantCode != "" && (err == nil || err.Code != tt.wantCode):
				t.Errorf("got %v, want %s", err, tt.wantCode)
			}
		})
	}
}

func TestCheckVPC(t *testing.T) {
	zone := func(targets ...string) []Zone {
		z := Zone{Name: "us-west-2a"}
		for _, s := range targets {
			z.TargetCIDRs = append(z.TargetCIDRs, netip.MustParsePrefix(s))
		}
		return []Zone{z}
	}
	tests := []struct {
		name  string
		vpc   []string
		zones []Zone
		ok    bool
	}{
		{name: "loopback", vpc: []string{"127.0.0.0/8"}, zones: zone("127.0.0.0/25"), ok: true},
		{name: "kelb up", vpc: []string{"198.18.0.0/15"}, zones: zone("198.18.1.0/24", "198.18.0.11/32"), ok: true},
		{name: "zone targets outside", vpc: []string{"198.18.0.0/15"}, zones: zone("10.0.0.0/24")},
		{name: "zone targets larger than the VPC", vpc: []string{"198.18.0.0/16"}, zones: zone("198.18.0.0/15")},
		{name: "everything", vpc: []string{"0.0.0.0/0"}},
		{name: "link-local", vpc: []string{"169.254.0.0/16"}},
		{name: "IPv6 everything", vpc: []string{"::/0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var vpc []netip.Prefix
			for _, s := range tt.vpc {
				vpc = append(vpc, netip.MustParsePrefix(s))
			}
			if err := checkVPC(vpc, tt.zones); (err == nil) != tt.ok {
				t.Errorf("checkVPC = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
