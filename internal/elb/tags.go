package elb

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// MaxTags is the number of tags a resource may have.
const MaxTags = 50

// TagDescription is the tags of one resource.
type TagDescription struct {
	ResourceARN string
	Tags        []Tag
}

// checkNewTags validates the tags of a create request.
func checkNewTags(tags []Tag) error {
	seen := map[string]bool{}
	for _, t := range tags {
		if t.Key == "" {
			return validationf("A tag key cannot be empty")
		}
		if seen[t.Key] {
			return errorf(CodeDuplicateTagKeys, "Tag key '%s' is duplicated", t.Key)
		}
		seen[t.Key] = true
	}
	if len(tags) > MaxTags {
		return errorf(CodeTooManyTags, "A resource can have at most %d tags", MaxTags)
	}
	return nil
}

// mergeTags sets tags on current: existing keys keep their position and
// take the new value, new keys are appended.
func mergeTags(current, tags []Tag) []Tag {
	out := append([]Tag(nil), current...)
	for _, t := range tags {
		found := false
		for i := range out {
			if out[i].Key == t.Key {
				out[i].Value = t.Value
				found = true
				break
			}
		}
		if !found {
			out = append(out, t)
		}
	}
	return out
}

// taggable reads and writes the tags of any resource kind.
type taggable struct {
	kind string
	tags *[]Tag
	save func(tx store.Tx) error
}

func loadTaggable(tx store.ReadTx, arn string) (*taggable, error) {
	switch kindOfARN(arn) {
	case kindLoadBalancer:
		lb, err := getLoadBalancer(tx, arn)
		if err != nil {
			return nil, err
		}
		return &taggable{kind: kindLoadBalancer, tags: &lb.Tags, save: func(tx store.Tx) error { return putJSON(tx, kindLoadBalancer, arn, lb) }}, nil
	case kindTargetGroup:
		tg, err := getTargetGroup(tx, arn)
		if err != nil {
			return nil, err
		}
		return &taggable{kind: kindTargetGroup, tags: &tg.Tags, save: func(tx store.Tx) error { return putJSON(tx, kindTargetGroup, arn, tg) }}, nil
	case kindListener:
		l, err := getListener(tx, arn)
		if err != nil {
			return nil, err
		}
		return &taggable{kind: kindListener, tags: &l.Tags, save: func(tx store.Tx) error { return putJSON(tx, kindListener, arn, l) }}, nil
	case kindRule:
		notFound := errorf(CodeRuleNotFound, "Rule '%s' not found", arn)
		r, err := getJSON[Rule](tx, kindRule, arn, notFound)
		if errors.Is(err, notFound) {
			// A listener's default rule (DescribeRules lists it, of
			// every listener, as AWS does) keeps its tags in the
			// listener.
			if l, ok := defaultRuleListener(tx, arn); ok {
				return &taggable{kind: kindRule, tags: &l.DefaultRuleTags, save: func(tx store.Tx) error { return putJSON(tx, kindListener, l.ARN, l) }}, nil
			}
			return nil, notFound
		}
		if err != nil {
			return nil, err
		}
		return &taggable{kind: kindRule, tags: &r.Tags, save: func(tx store.Tx) error { return putJSON(tx, kindRule, arn, r) }}, nil
	case kindTrustStore:
		ts, err := getTrustStore(tx, arn)
		if err != nil {
			return nil, err
		}
		return &taggable{kind: kindTrustStore, tags: &ts.Tags, save: func(tx store.Tx) error { return putJSON(tx, kindTrustStore, arn, ts) }}, nil
	}
	return nil, validationf("'%s' is not a valid resource ARN", arn)
}

// AddTags adds or overwrites tags on every resource; all resources are
// checked before any is changed.
func (s *Service) AddTags(ctx context.Context, arns []string, tags []Tag) error {
	if len(arns) == 0 {
		return validationf("At least one resource ARN must be specified")
	}
	if err := checkNewTags(tags); err != nil {
		return err
	}
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		var res []*taggable
		for _, arn := range arns {
			t, err := loadTaggable(tx, arn)
			if err != nil {
				return err
			}
			*t.tags = mergeTags(*t.tags, tags)
			if len(*t.tags) > MaxTags {
				return errorf(CodeTooManyTags, "Resource '%s' would have more than %d tags", arn, MaxTags)
			}
			res = append(res, t)
		}
		for _, t := range res {
			if err := t.save(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add tags: %w", err)
	}
	return nil
}

// RemoveTags removes tag keys from every resource; missing keys are ignored.
func (s *Service) RemoveTags(ctx context.Context, arns []string, keys []string) error {
	if len(arns) == 0 {
		return validationf("At least one resource ARN must be specified")
	}
	drop := map[string]bool{}
	for _, k := range keys {
		drop[k] = true
	}
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		var res []*taggable
		for _, arn := range arns {
			t, err := loadTaggable(tx, arn)
			if err != nil {
				return err
			}
			var kept []Tag
			for _, tag := range *t.tags {
				if !drop[tag.Key] {
					kept = append(kept, tag)
				}
			}
			*t.tags = kept
			res = append(res, t)
		}
		for _, t := range res {
			if err := t.save(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove tags: %w", err)
	}
	return nil
}

// DescribeTags returns the tags of every resource, in the order asked.
func (s *Service) DescribeTags(ctx context.Context, arns []string) ([]TagDescription, error) {
	var out []TagDescription
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		for _, arn := range arns {
			t, err := loadTaggable(tx, arn)
			if err != nil {
				return err
			}
			out = append(out, TagDescription{ResourceARN: arn, Tags: *t.tags})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe tags: %w", err)
	}
	return out, nil
}

// defaultRuleListener returns the listener whose default rule is arn.
func defaultRuleListener(tx store.ReadTx, arn string) (*Listener, bool) {
	i := strings.LastIndexByte(arn, '/')
	if i < 0 {
		return nil, false
	}
	l, err := getListener(tx, strings.Replace(arn[:i], ":listener-rule/", ":listener/", 1))
	if err != nil || defaultRuleARN(l.ARN) != arn {
		return nil, false
	}
	return l, true
}
