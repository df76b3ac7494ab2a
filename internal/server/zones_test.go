package server

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kelb-io/kelb/internal/elb"
)

func TestParseZone(t *testing.T) {
	tests := []struct {
		in      string
		want    elb.Zone
		wantErr string
	}{
		{in: "us-west-2a=198.19.1.0/24", want: elb.Zone{Name: "us-west-2a", SubnetID: SubnetID("us-west-2a"), Pool: netip.MustParsePrefix("198.19.1.0/24")}},
		{in: "us-west-2b=198.19.2.7/24,subnet=subnet-0abc", want: elb.Zone{Name: "us-west-2b", SubnetID: "subnet-0abc", Pool: netip.MustParsePrefix("198.19.2.0/24")}},
		{in: "us-west-2a", wantErr: "want NAME=CIDR"},
		{in: "=198.19.1.0/24", wantErr: "want NAME=CIDR"},
		{in: "a=198.19.1.0", wantErr: "address pool"},
		{in: "a=198.19.1.1/32", wantErr: "too small"},
		{in: "a=198.19.1.0/24,subnet=sn-1", wantErr: "must start with subnet-"},
		{in: "a=198.19.1.0/24,vpc=1", wantErr: "unknown option"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseZone(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseZone(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("ParseZone(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestSubnetIDIsStableAndAWSShaped(t *testing.T) {
	a, b := SubnetID("us-west-2a"), SubnetID("us-west-2a")
	if a != b {
		t.Fatalf("SubnetID not stable: %s != %s", a, b)
	}
	if len(a) != len("subnet-")+17 || !strings.HasPrefix(a, "subnet-") {
		t.Fatalf("SubnetID = %q, want subnet- and 17 hex digits", a)
	}
	if a == SubnetID("us-west-2b") {
		t.Fatalf("two zones share subnet id %s", a)
	}
}

func TestZoneTargetsAndValidation(t *testing.T) {
	a, _ := ParseZone("us-west-2a=198.19.1.0/24")
	b, _ := ParseZone("us-west-2b=198.19.2.0/24")
	zones := []elb.Zone{a, b}
	if err := ParseZoneTargets(zones, "us-west-2b=198.18.2.0/24"); err != nil {
		t.Fatal(err)
	}
	if got := zones[1].TargetCIDRs; len(got) != 1 || got[0] != netip.MustParsePrefix("198.18.2.0/24") {
		t.Fatalf("TargetCIDRs = %v", got)
	}
	if err := ParseZoneTargets(zones, "us-west-2c=198.18.3.0/24"); err == nil {
		t.Fatal("targets for an unknown zone accepted")
	}
	if err := ValidateZones(zones); err != nil {
		t.Fatal(err)
	}
	c, _ := ParseZone("us-west-2c=198.19.1.128/25")
	if err := ValidateZones(append(zones, c)); err == nil || !strings.Contains(err.Error(), "overlapping") {
		t.Fatalf("overlapping pools: err = %v", err)
	}
	if err := ValidateZones(nil); err == nil {
		t.Fatal("no zones accepted")
	}
}
