package server

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/elb"
)

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

var addrComparer = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func TestLBAddresses(t *testing.T) {
	pools := []netip.Prefix{netip.MustParsePrefix("198.19.1.0/24"), netip.MustParsePrefix("198.19.2.0/24")}
	lb := func(as ...string) elb.LoadBalancer {
		var lb elb.LoadBalancer
		for _, a := range as {
			lb.Zones = append(lb.Zones, elb.ZoneAddress{Address: netip.MustParseAddr(a)})
		}
		return lb
	}
	st := elb.State{LoadBalancers: []elb.LoadBalancer{
		lb("198.19.2.1", "198.19.1.1"),
		lb("198.19.1.2", "10.0.0.1"), // 10.0.0.1 is in no pool
		lb(),
		lb("::ffff:198.19.1.3"),
	}}
	got := lbAddresses(st, pools)
	want := addrs("198.19.1.1", "198.19.1.2", "198.19.1.3", "198.19.2.1")
	if diff := cmp.Diff(want, got, addrComparer); diff != "" {
		t.Errorf("lbAddresses (-want +got):\n%s", diff)
	}
}

func TestPlanAddresses(t *testing.T) {
	tests := []struct {
		name        string
		want        []netip.Addr
		present     []netip.Addr
		owned       []netip.Addr
		add, remove []netip.Addr
	}{
		{name: "nothing", add: nil, remove: nil},
		{name: "new load balancer", want: addrs("198.19.1.1", "198.19.2.1"), present: addrs("198.19.2.1"), add: addrs("198.19.1.1")},
		{name: "deleted load balancer", want: addrs("198.19.1.2"), present: addrs("198.19.1.1", "198.19.1.2"), owned: addrs("198.19.1.1", "198.19.1.2"), remove: addrs("198.19.1.1")},
		{name: "someone else's address stays", want: nil, present: addrs("198.19.1.9"), owned: nil},
		{name: "owned but already gone", want: nil, present: nil, owned: addrs("198.19.1.1")},
		{name: "wanted but removed by someone", want: addrs("198.19.1.1"), present: nil, owned: addrs("198.19.1.1"), add: addrs("198.19.1.1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			present := map[netip.Addr]string{}
			for _, a := range tt.present {
				present[a] = ""
			}
			owned := map[netip.Addr]bool{}
			for _, a := range tt.owned {
				owned[a] = true
			}
			add, remove := planAddresses(tt.want, present, owned)
			if diff := cmp.Diff(tt.add, add, addrComparer); diff != "" {
				t.Errorf("add (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.remove, remove, addrComparer); diff != "" {
				t.Errorf("remove (-want +got):\n%s", diff)
			}
		})
	}
}
