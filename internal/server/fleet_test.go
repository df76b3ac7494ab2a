package server

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/confview"
	"github.com/kelb-io/kelb/internal/elb"
)

func TestCheckedState(t *testing.T) {
	zone := func(name string) elb.ZoneAddress {
		return elb.ZoneAddress{Zone: name, Address: netip.MustParseAddr("198.19.0.1")}
	}
	st := elb.State{
		Revision: 3,
		LoadBalancers: []elb.LoadBalancer{
			{ARN: "lb-a", Zones: []elb.ZoneAddress{zone("a")}},
			{ARN: "lb-ab", Zones: []elb.ZoneAddress{zone("a"), zone("b")}},
			{ARN: "lb-b", Zones: []elb.ZoneAddress{zone("b")}},
		},
		Listeners:    []elb.Listener{{ARN: "l-a", LoadBalancerARN: "lb-a"}, {ARN: "l-ab", LoadBalancerARN: "lb-ab"}, {ARN: "l-b", LoadBalancerARN: "lb-b"}},
		Rules:        []elb.Rule{{ARN: "r-a", ListenerARN: "l-a"}, {ARN: "r-b", ListenerARN: "l-b"}},
		TargetGroups: []elb.TargetGroup{{ARN: "tg"}},
	}
	for _, tc := range []struct {
		name  string
		zones []string
		want  elb.State
	}{
		{name: "every zone", zones: []string{"a", "b"}, want: st},
		{name: "zone a", zones: []string{"a"}, want: elb.State{
			Revision:      3,
			LoadBalancers: st.LoadBalancers[:2],
			Listeners:     st.Listeners[:2],
			Rules:         st.Rules[:1],
			TargetGroups:  st.TargetGroups,
		}},
		{name: "zone b", zones: []string{"b"}, want: elb.State{
			Revision:      3,
			LoadBalancers: st.LoadBalancers[1:],
			Listeners:     st.Listeners[1:],
			Rules:         st.Rules[1:],
			TargetGroups:  st.TargetGroups,
		}},
		{name: "a zone no load balancer is in", zones: []string{"c"}, want: elb.State{Revision: 3, TargetGroups: st.TargetGroups}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, checkedState(confview.New(st), tc.zones).State(), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("checkedState (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateNodeZones(t *testing.T) {
	zones := []elb.Zone{{Name: "a"}, {Name: "b"}}
	for _, tc := range []struct {
		nodeZones []string
		wantErr   bool
	}{
		{nil, false},
		{[]string{"a"}, false},
		{[]string{"b", "a"}, false},
		{[]string{"c"}, true},
		{[]string{"a", "a"}, true},
	} {
		if err := ValidateNodeZones(zones, tc.nodeZones); (err != nil) != tc.wantErr {
			t.Errorf("ValidateNodeZones(%v) = %v, want error %v", tc.nodeZones, err, tc.wantErr)
		}
	}
}

func TestServedZones(t *testing.T) {
	a := elb.Zone{Name: "a", Pool: netip.MustParsePrefix("198.19.1.0/24")}
	b := elb.Zone{Name: "b", Pool: netip.MustParsePrefix("198.19.2.0/24")}
	for _, tc := range []struct {
		nodeZones []string
		want      []elb.Zone
	}{
		{nil, []elb.Zone{a, b}},
		{[]string{"b"}, []elb.Zone{b}},
		{[]string{"b", "a"}, []elb.Zone{a, b}},
	} {
		got := servedZones(Config{Zones: []elb.Zone{a, b}, Node: NodeConfig{Zones: tc.nodeZones}})
		if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })); diff != "" {
			t.Errorf("servedZones with node zones %v (-want +got):\n%s", tc.nodeZones, diff)
		}
	}
}
