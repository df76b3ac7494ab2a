package ingress

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
	"github.com/kelb-io/kelb/internal/controller/model"
)

func (b *builder) loadBalancer() (LoadBalancer, error) {
	scheme, ok, err := b.fromParams("IngressClassParams scheme", func(p *elbv2api.IngressClassParams) string {
		if p.Spec.Scheme == nil {
			return ""
		}
		return string(*p.Spec.Scheme)
	})
	if err != nil {
		return LoadBalancer{}, err
	}
	if !ok {
		scheme, ok, err = b.exclusive(AnnotationScheme, func(ann annotations) (string, error) {
			v, _, err := ann.OneOf(AnnotationScheme, SchemeInternal, SchemeInternetFacing)
			return v, err
		})
		if err != nil {
			return LoadBalancer{}, err
		}
	}
	if !ok {
		switch b.opts.DefaultScheme {
		case "":
			scheme = SchemeInternal
		case SchemeInternal, SchemeInternetFacing:
			scheme = b.opts.DefaultScheme
		default:
			return LoadBalancer{}, fmt.Errorf("default scheme %q: must be internal or internet-facing", b.opts.DefaultScheme)
		}
	}

	ipType, ok, err := b.fromParams("IngressClassParams ipAddressType", func(p *elbv2api.IngressClassParams) string {
		if p.Spec.IPAddressType == nil {
			return ""
		}
		return string(*p.Spec.IPAddressType)
	})
	if err != nil {
		return LoadBalancer{}, err
	}
	if !ok {
		ipType, ok, err = b.exclusive(AnnotationIPAddressType, func(ann annotations) (string, error) {
			v, _, err := ann.OneOf(AnnotationIPAddressType, "ipv4", "dualstack", "dualstack-without-public-ipv4")
			return v, err
		})
		if err != nil {
			return LoadBalancer{}, err
		}
	}
	if !ok {
		ipType = "ipv4"
	}
	b.ipType = ipType

	name, err := b.loadBalancerName(scheme)
	if err != nil {
		return LoadBalancer{}, err
	}

	subnets, ok, err := b.fromParams("IngressClassParams subnets", func(p *elbv2api.IngressClassParams) string {
		if p.Spec.Subnets == nil {
			return ""
		}
		ids := make([]string, len(p.Spec.Subnets.IDs))
		for i, id := range p.Spec.Subnets.IDs {
			ids[i] = string(id)
		}
		return strings.Join(ids, ",")
	})
	if err != nil {
		return LoadBalancer{}, err
	}
	if !ok {
		subnets, _, err = b.exclusive(AnnotationSubnets, func(ann annotations) (string, error) {
			items, err := ann.List(AnnotationSubnets)
			return strings.Join(items, ","), err
		})
		if err != nil {
			return LoadBalancer{}, err
		}
	}
	var subnetList []string
	if subnets != "" {
		subnetList = strings.Split(subnets, ",")
	}

	for _, m := range b.members {
		if _, err := attributes(annotations(m.Ingress.Annotations), AnnotationLoadBalancerAttributes, loadBalancerAttributes); err != nil {
			return LoadBalancer{}, memberError(m.Ingress, err)
		}
	}
	attrs, err := b.mergedMap(AnnotationLoadBalancerAttributes)
	if err != nil {
		return LoadBalancer{}, err
	}
	for _, p := range b.params() {
		for _, a := range p.Spec.LoadBalancerAttributes {
			attrs[a.Key] = a.Value
		}
	}
	if len(attrs) == 0 {
		attrs = nil
	}

	if b.userTags, err = b.mergedMap(AnnotationTags); err != nil {
		return LoadBalancer{}, err
	}
	for _, p := range b.params() {
		for _, t := range p.Spec.Tags {
			b.userTags[t.Key] = t.Value
		}
	}
	groups, err := b.securityGroups()
	if err != nil {
		return LoadBalancer{}, err
	}
	return LoadBalancer{
		Name:           name,
		Type:           loadBalancerTypeApplication,
		Scheme:         scheme,
		IPAddressType:  ipType,
		Subnets:        subnetList,
		Attributes:     attrs,
		Tags:           b.tags(ResourceLoadBalancer),
		SecurityGroups: groups,
	}, nil
}

// loadBalancerName is the load-balancer-name annotation (one value across
// the group), or the AWS Load Balancer Controller's generated name:
// k8s-<group>-<hash> for an explicit group (17 characters of its name),
// k8s-<namespace>-<name>-<hash> for an implicit one (8 characters each),
// names stripped of non-alphanumerics, and 10 hex digits of
// sha256(cluster name, group ID, scheme).
func (b *builder) loadBalancerName(scheme string) (string, error) {
	name, ok, err := b.exclusive(AnnotationLoadBalancerName, func(ann annotations) (string, error) {
		v, _ := ann.Str(AnnotationLoadBalancerName)
		if v == "" || len(v) > 32 {
			return "", ann.Fail(AnnotationLoadBalancerName, "must be 1 to 32 characters")
		}
		if !model.ValidLoadBalancerName(v) {
			return "", ann.Fail(AnnotationLoadBalancerName, "must be letters, digits and hyphens, not starting or ending with a hyphen, without two hyphens in a row, nor starting with internal-")
		}
		return v, nil
	})
	if err != nil || ok {
		return name, err
	}
	h := sha256.New()
	h.Write([]byte(b.opts.ClusterName))
	h.Write([]byte(b.stackID))
	h.Write([]byte(scheme))
	sum := hex.EncodeToString(h.Sum(nil))
	if b.in.Group.Explicit() {
		return fmt.Sprintf("k8s-%.17s-%.10s", model.Alnum(b.in.Group.Name), sum), nil
	}
	return model.GeneratedName(b.in.Group.Namespace, b.in.Group.Name, sum), nil
}

// tags are the group's user tags, the controller's default tags, then the
// tracking tags, which nothing overrides.
func (b *builder) tags(resource string) map[string]string {
	out := map[string]string{}
	for k, v := range b.userTags {
		out[k] = v
	}
	for k, v := range b.opts.DefaultTags {
		out[k] = v
	}
	if b.opts.ClusterName != "" {
		out[TagCluster] = b.opts.ClusterName
	}
	out[TagStack] = b.stackID
	out[TagResource] = resource
	return out
}

// ipv6Capable reports whether load balancers of address type t have IPv6
// addresses: dualstack and dualstack-without-public-ipv4, as the AWS Load
// Balancer Controller decides.
func ipv6Capable(t string) bool {
	return t == "dualstack" || t == "dualstack-without-public-ipv4"
}
