package service

import (
	"fmt"
	"net/netip"

	"github.com/kelb-io/kelb/internal/controller/model"
)

// The annotations of a dualstack load balancer's IPv6 source NAT
// prefixes, which UDP listeners forwarding to IPv6 targets need.
const (
	AnnotationEnablePrefixForIPv6SourceNat = AnnotationPrefix + "aws-load-balancer-enable-prefix-for-ipv6-source-nat"
	AnnotationSourceNatIPv6Prefixes        = AnnotationPrefix + "aws-load-balancer-source-nat-ipv6-prefixes"
)

// sourceNatPrefixBits is the length of a source NAT prefix, as in ELBv2.
const sourceNatPrefixBits = 80

// sourceNat reads the source NAT annotations of a load balancer of address
// type ipType in subnets, as the AWS Load Balancer Controller checks them:
// the setting is "on" or "off", "on" for a dualstack load balancer only;
// prefixes need it "on" and the subnets annotation, one prefix per subnet
// in its order, each a /80 IPv6 network or auto_assigned. Whether a prefix
// lies in its subnet's IPv6 network is kelb server's to check.
func (b *builder) sourceNat(ipType string, subnets []string) (setting string, prefixes []string, err error) {
	setting, set := b.ann.Str(AnnotationEnablePrefixForIPv6SourceNat)
	if set {
		if setting != "on" && setting != "off" {
			return "", nil, b.ann.Fail(AnnotationEnablePrefixForIPv6SourceNat, `must be "on" or "off"`)
		}
		if setting == "on" && ipType != "dualstack" {
			return "", nil, b.ann.Fail(AnnotationEnablePrefixForIPv6SourceNat, fmt.Sprintf("applies to dualstack load balancers only; set annotation %s to dualstack", AnnotationIPAddressType))
		}
	}
	prefixes, err = b.ann.List(AnnotationSourceNatIPv6Prefixes)
	if err != nil || prefixes == nil {
		return setting, nil, err
	}
	switch {
	case ipType != "dualstack":
		return "", nil, b.ann.Fail(AnnotationSourceNatIPv6Prefixes, fmt.Sprintf("applies to dualstack load balancers only; set annotation %s to dualstack", AnnotationIPAddressType))
	case setting != "on":
		return "", nil, b.ann.Fail(AnnotationSourceNatIPv6Prefixes, fmt.Sprintf(`applies only with annotation %s set to "on"`, AnnotationEnablePrefixForIPv6SourceNat))
	case len(subnets) == 0:
		return "", nil, b.ann.Fail(AnnotationSourceNatIPv6Prefixes, fmt.Sprintf("names one prefix per subnet of annotation %s, which is not set", AnnotationSubnets))
	case len(prefixes) != len(subnets):
		return "", nil, b.ann.Fail(AnnotationSourceNatIPv6Prefixes, fmt.Sprintf("has %d prefixes for the %d subnets of annotation %s; give one per subnet, in their order", len(prefixes), len(subnets), AnnotationSubnets))
	}
	for _, p := range prefixes {
		if p == model.SourceNatAutoAssigned {
			continue
		}
		if !validSourceNatPrefix(p) {
			return "", nil, b.ann.Fail(AnnotationSourceNatIPv6Prefixes, fmt.Sprintf("%q is not a /%d IPv6 network nor %s", p, sourceNatPrefixBits, model.SourceNatAutoAssigned))
		}
	}
	return setting, prefixes, nil
}

func validSourceNatPrefix(s string) bool {
	p, err := netip.ParsePrefix(s)
	return err == nil && p.Addr().Is6() && !p.Addr().Is4In6() && p.Bits() == sourceNatPrefixBits && p.Masked() == p
}
