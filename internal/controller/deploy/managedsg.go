package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/kelb-io/kelb/internal/controller/model"
)

// ResourceManagedSecurityGroup and ManagedSecurityGroupDescription are
// the model's.
const (
	ResourceManagedSecurityGroup    = model.ResourceManagedSecurityGroup
	ManagedSecurityGroupDescription = model.ManagedSecurityGroupDescription
)

// ManagedSecurityGroup and IngressRule are the model's.
type (
	ManagedSecurityGroup = model.ManagedSecurityGroup
	IngressRule          = model.IngressRule
)

var notAlnum = regexp.MustCompile("[[:^alnum:]]")

// ManagedSecurityGroupName is the AWS Load Balancer Controller's name for a
// managed group: "k8s-" then, for two labels (namespace and name), 8
// characters of each, for one label (an explicit IngressGroup), 17 of it,
// labels stripped of non-alphanumerics; then 10 hex digits of the sha256
// of hashed, concatenated.
func ManagedSecurityGroupName(labels []string, hashed ...string) string {
	h := sha256.New()
	for _, s := range hashed {
		h.Write([]byte(s))
	}
	sum := hex.EncodeToString(h.Sum(nil))[:10]
	if len(labels) == 1 {
		return fmt.Sprintf("k8s-%.17s-%s", notAlnum.ReplaceAllString(labels[0], ""), sum)
	}
	return fmt.Sprintf("k8s-%.8s-%.8s-%s", notAlnum.ReplaceAllString(labels[0], ""), notAlnum.ReplaceAllString(labels[1], ""), sum)
}

// SourceCIDRs are the networks a managed group admits: ranges, masked,
// IPv4 first, each once; with none, every source: 0.0.0.0/0, and ::/0 too
// on a dualstack load balancer. An IPv6 range on a load balancer that is
// not dualstack is an error, as in the AWS Load Balancer Controller; the
// caller names the field the ranges came from.
func SourceCIDRs(ranges []string, dualstack bool) ([]string, error) {
	if len(ranges) == 0 {
		if dualstack {
			return []string{"0.0.0.0/0", "::/0"}, nil
		}
		return []string{"0.0.0.0/0"}, nil
	}
	var v4, v6 []string
	for _, r := range ranges {
		p, err := netip.ParsePrefix(strings.TrimSpace(r))
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR", r)
		}
		c := p.Masked().String()
		switch {
		case p.Addr().Is4():
			if !slices.Contains(v4, c) {
				v4 = append(v4, c)
			}
		case !dualstack:
			return nil, fmt.Errorf("IPv6 range %s needs a dualstack load balancer", c)
		case !slices.Contains(v6, c):
			v6 = append(v6, c)
		}
	}
	return append(v4, v6...), nil
}

// CarriesGroups reports whether a load balancer can be given security
// groups: ELBv2 refuses them on a network load balancer made without any
// (a nil lb is yet to be made, with them).
func CarriesGroups(lb *ActualLoadBalancer) bool {
	return lb == nil || lb.Type != "network" || len(lb.SecurityGroups) > 0
}
