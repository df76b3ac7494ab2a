package service

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/kelb-io/kelb/internal/controller/model"
)

// loadBalancerName is the annotation's name, or the AWS Load Balancer
// Controller's generated one: k8s-<namespace>-<name>-<hash>, namespace and
// name stripped of non-alphanumerics and cut to 8 characters, and 10 hex
// digits of sha256(cluster name, Service UID, scheme).
func (b *builder) loadBalancerName(scheme string) (string, error) {
	if name, ok := b.ann.Str(AnnotationName); ok {
		if name == "" || len(name) > 32 {
			return "", &AnnotationError{Key: AnnotationName, Value: b.ann[AnnotationName], Reason: "must be 1 to 32 characters"}
		}
		if !model.ValidLoadBalancerName(name) {
			return "", &AnnotationError{Key: AnnotationName, Value: b.ann[AnnotationName], Reason: "must be letters, digits and hyphens, not starting or ending with a hyphen, without two hyphens in a row, nor starting with internal-"}
		}
		return name, nil
	}
	h := sha256.New()
	h.Write([]byte(b.opts.ClusterName))
	h.Write([]byte(b.svc.UID))
	h.Write([]byte(scheme))
	return model.GeneratedName(b.svc.Namespace, b.svc.Name, hex.EncodeToString(h.Sum(nil))), nil
}

func (b *builder) loadBalancer(stackID, scheme string) (LoadBalancer, error) {
	name, err := b.loadBalancerName(scheme)
	if err != nil {
		return LoadBalancer{}, err
	}
	ipType := "ipv4"
	if raw, ok := b.ann.Str(AnnotationIPAddressType); ok {
		if raw != "ipv4" && raw != "dualstack" {
			return LoadBalancer{}, &AnnotationError{Key: AnnotationIPAddressType, Value: b.ann[AnnotationIPAddressType], Reason: `must be "ipv4" or "dualstack"`}
		}
		ipType = raw
	}
	subnets, err := b.ann.List(AnnotationSubnets)
	if err != nil {
		return LoadBalancer{}, err
	}
	natSetting, natPrefixes, err := b.sourceNat(ipType, subnets)
	if err != nil {
		return LoadBalancer{}, err
	}
	attrs, err := b.ann.StringMap(AnnotationAttributes)
	if err != nil {
		return LoadBalancer{}, err
	}
	// The deprecated annotation wins over the attributes annotation, as it
	// does in the AWS Load Balancer Controller.
	crossZone, ok, err := b.ann.Bool(AnnotationCrossZone)
	if err != nil {
		return LoadBalancer{}, err
	}
	if ok {
		if attrs == nil {
			attrs = map[string]string{}
		}
		attrs[attrCrossZone] = strconv.FormatBool(crossZone)
	}
	tags, err := b.resourceTags(stackID, ResourceLoadBalancer)
	if err != nil {
		return LoadBalancer{}, err
	}
	groups, err := b.securityGroups()
	if err != nil {
		return LoadBalancer{}, err
	}
	return LoadBalancer{
		Name:           name,
		Type:           loadBalancerTypeNetwork,
		Scheme:         scheme,
		IPAddressType:  ipType,
		Subnets:        subnets,
		Attributes:     attrs,
		Tags:           tags,
		SecurityGroups: groups,

		EnablePrefixForIPv6SourceNat: natSetting,
		SourceNatIPv6Prefixes:        natPrefixes,
	}, nil
}

// resourceTags are the default tags, the Service's additional tags, then
// the tracking tags, which nothing overrides.
func (b *builder) resourceTags(stackID, resource string) (map[string]string, error) {
	extra, err := b.ann.StringMap(AnnotationAdditionalTags)
	if err != nil {
		return nil, err
	}
	return b.tags(stackID, resource, extra), nil
}

func (b *builder) tags(stackID, resource string, extra map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range b.opts.DefaultTags {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	if b.opts.ClusterName != "" {
		out[TagCluster] = b.opts.ClusterName
	}
	out[TagStack] = stackID
	out[TagResource] = resource
	return out
}

// fieldSourceRanges is the Service field of the source ranges.
const fieldSourceRanges = "spec.loadBalancerSourceRanges"

// sourceRanges are spec.loadBalancerSourceRanges (items may hold several
// comma-separated ranges) or, when it is empty, the source-ranges
// annotation, as written; field names the one they came from.
func (b *builder) sourceRanges() (field string, ranges []string, err error) {
	if len(b.svc.Spec.LoadBalancerSourceRanges) > 0 {
		for _, r := range b.svc.Spec.LoadBalancerSourceRanges {
			for _, item := range strings.Split(r, ",") {
				ranges = append(ranges, strings.TrimSpace(item))
			}
		}
		return fieldSourceRanges, ranges, nil
	}
	ranges, err = b.ann.CIDRs(AnnotationSourceRanges)
	return "annotation " + AnnotationSourceRanges, ranges, err
}
