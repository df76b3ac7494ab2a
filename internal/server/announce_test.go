package server

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/kelb-io/kelb/internal/elb"
)

func TestAnnouncedZones(t *testing.T) {
	zones := []elb.Zone{
		{Name: "us-west-2a", Pool: netip.MustParsePrefix("198.19.1.0/24")},
		{Name: "us-west-2b", Pool: netip.MustParsePrefix("198.19.2.0/24")},
		{Name: "us-west-2c", Pool: netip.MustParsePrefix("198.19.3.0/24")},
	}
	names := func(zs []elb.Zone) []string {
		var out []string
		for _, z := range zs {
			out = append(out, z.Name)
		}
		return out
	}
	if got := names(announcedZones(Config{Zones: zones})); !slices.Equal(got, []string{"us-west-2a", "us-west-2b", "us-west-2c"}) {
		t.Errorf("without --node-zones: %v, want every zone", got)
	}
	if got := names(announcedZones(Config{Zones: zones, Node: NodeConfig{Zones: []string{"us-west-2c", "us-west-2a"}}})); !slices.Equal(got, []string{"us-west-2a", "us-west-2c"}) {
		t.Errorf("--node-zones us-west-2c,us-west-2a: %v", got)
	}
}
