package elbv2deploy

import (
	"slices"
	"sort"
)

// ListenerAttributeSourceRanges is the kelb listener attribute that carries
// the networks allowed to reach a listener, comma-separated. kelb server
// refuses connections to the listener from any other source. It is absent
// or empty when every source is allowed.
const ListenerAttributeSourceRanges = "kelb.source_ranges.cidrs"

// ChangedAttributes returns the desired attributes whose actual value
// differs, nil when none does. Attributes the stack does not set are left
// alone.
func ChangedAttributes(want, have map[string]string) map[string]string {
	var out map[string]string
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// ChangedListenerAttributes is ChangedAttributes, and it clears the source
// ranges attribute when the stack no longer restricts sources.
func ChangedListenerAttributes(want, have map[string]string) map[string]string {
	out := ChangedAttributes(want, have)
	if _, wanted := want[ListenerAttributeSourceRanges]; !wanted && have[ListenerAttributeSourceRanges] != "" {
		if out == nil {
			out = map[string]string{}
		}
		out[ListenerAttributeSourceRanges] = ""
	}
	return out
}

// DiffTags returns the tags to add or change and the keys to remove, in
// order, so that have becomes want.
func DiffTags(want, have map[string]string) (set map[string]string, remove []string) {
	set = ChangedAttributes(want, have)
	for k := range have {
		if _, ok := want[k]; !ok {
			remove = append(remove, k)
		}
	}
	sort.Strings(remove)
	return set, remove
}

// SameZones reports whether the subnets a stack asks for (subnet ids or
// zone names) are exactly the load balancer's zones.
func SameZones(want []string, lb *ActualLoadBalancer) bool {
	if len(want) != len(lb.Subnets) {
		return false
	}
	for _, w := range want {
		if !slices.Contains(lb.Subnets, w) && !slices.Contains(lb.Zones, w) {
			return false
		}
	}
	return true
}
