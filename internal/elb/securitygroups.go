package elb

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/secgroup"
)

// checkSecurityGroupsExist fails with InvalidSecurityGroup for a group id
// the store does not hold.
func checkSecurityGroupsExist(tx store.ReadTx, ids []string) error {
	for _, id := range ids {
		ok, err := secgroup.Exists(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			return errorf(CodeInvalidSecurityGroup, "One or more security groups are invalid: '%s' does not exist", id)
		}
	}
	return nil
}

// SecurityGroupUsers returns the ARNs of the load balancers that use
// security group id, sorted, read within tx. The security groups ask it
// before deleting a group.
func SecurityGroupUsers(tx store.ReadTx, id string) ([]string, error) {
	lbs, err := listJSON[LoadBalancer](tx, kindLoadBalancer)
	if err != nil {
		return nil, err
	}
	var out []string
	for arn, lb := range lbs {
		if slices.Contains(lb.SecurityGroups, id) {
			out = append(out, arn)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Admission decides which clients a listener admits: those the ingress
// rules of its load balancer's security groups allow for its protocol and
// port, and, when the listener has the kelb.source_ranges.cidrs attribute
// (the older way to say the same), within those ranges too.
type Admission struct {
	groups map[string]*secgroup.SecurityGroup
}

// NewAdmission indexes the security groups of st.
func NewAdmission(st State) Admission {
	a := Admission{groups: make(map[string]*secgroup.SecurityGroup, len(st.SecurityGroups))}
	for i := range st.SecurityGroups {
		a.groups[st.SecurityGroups[i].ID] = &st.SecurityGroups[i]
	}
	return a
}

// Sources returns the client networks listener ls of lb admits over
// protocol (TCP or UDP; HTTP, HTTPS and TLS are TCP). limited is false
// when every client is admitted: the load balancer has no security group
// kelb holds (ids given before kelb kept security groups are not
// enforced) and the listener no source ranges. When limited, an empty
// list admits no client.
func (a Admission) Sources(lb *LoadBalancer, ls *Listener, protocol string) (ranges []netip.Prefix, limited bool) {
	var groups []secgroup.SecurityGroup
	for _, id := range lb.SecurityGroups {
		if g, ok := a.groups[id]; ok {
			groups = append(groups, *g)
		}
	}
	proto := secgroup.ProtocolTCP
	if strings.EqualFold(protocol, "UDP") {
		proto = secgroup.ProtocolUDP
	}
	attr, _ := ParseSourceRanges(ls.Attributes[AttrSourceRanges])
	switch {
	case len(groups) > 0 && len(attr) > 0:
		return secgroup.Intersect(secgroup.Admitted(groups, proto, int(ls.Port)), attr), true
	case len(groups) > 0:
		return secgroup.Admitted(groups, proto, int(ls.Port)), true
	case len(attr) > 0:
		return secgroup.Minimal(attr), true
	}
	return nil, false
}
