package elb

import (
	"encoding/json"
	"fmt"
)

// TaggedKind is a store kind whose records carry ELBv2 tags, and how to
// read them: what a tag index (the Resource Groups Tagging API, package
// taggingapi) needs without knowing the records' shapes.
type TaggedKind struct {
	// Kind is the store kind; its keys are the resources' ARNs.
	Kind string
	// Tags returns the resources one record holds with their tags: the
	// record's own resource, and for a listener its default rule too.
	// A resource without tags is left out.
	Tags func(key string, value []byte) ([]TagDescription, error)
}

// TaggedKinds returns the kinds of every taggable ELBv2 resource: load
// balancers, listeners (with their default rules), rules, target groups
// and trust stores.
func TaggedKinds() []TaggedKind {
	return []TaggedKind{
		{Kind: kindLoadBalancer, Tags: recordTags},
		{Kind: kindListener, Tags: listenerTags},
		{Kind: kindRule, Tags: recordTags},
		{Kind: kindTargetGroup, Tags: recordTags},
		{Kind: kindTrustStore, Tags: recordTags},
	}
}

// recordTags reads the Tags of any record; decoding into this small
// struct skips the rest of the record.
func recordTags(key string, value []byte) ([]TagDescription, error) {
	var r struct{ Tags []Tag }
	if err := json.Unmarshal(value, &r); err != nil {
		return nil, fmt.Errorf("decode tags of %s: %w", key, err)
	}
	if len(r.Tags) == 0 {
		return nil, nil
	}
	return []TagDescription{{ResourceARN: key, Tags: r.Tags}}, nil
}

func listenerTags(key string, value []byte) ([]TagDescription, error) {
	var l struct{ Tags, DefaultRuleTags []Tag }
	if err := json.Unmarshal(value, &l); err != nil {
		return nil, fmt.Errorf("decode tags of %s: %w", key, err)
	}
	var out []TagDescription
	if len(l.Tags) > 0 {
		out = append(out, TagDescription{ResourceARN: key, Tags: l.Tags})
	}
	if len(l.DefaultRuleTags) > 0 {
		out = append(out, TagDescription{ResourceARN: defaultRuleARN(key), Tags: l.DefaultRuleTags})
	}
	return out, nil
}
