package secgroup

import (
	"context"
	"slices"
	"strings"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// checkTag accepts what EC2 accepts: a key of 1 to 127 characters not
// starting with aws:, a value of at most 255.
func checkTag(t Tag) error {
	switch {
	case t.Key == "":
		return errorf(CodeInvalidParameterValue, "Tag key must not be empty")
	case len([]rune(t.Key)) > 127:
		return errorf(CodeInvalidParameterValue, "Tag key exceeds the maximum length of 127 characters")
	case len([]rune(t.Value)) > 255:
		return errorf(CodeInvalidParameterValue, "Tag value exceeds the maximum length of 255 characters")
	case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
		return errorf(CodeInvalidParameterValue, "Tag keys starting with 'aws:' are reserved for internal use")
	}
	return nil
}

// mergeTags sets tags on have (a key present keeps its place and takes the
// new value) and checks the limit.
func mergeTags(have, tags []Tag) ([]Tag, error) {
	out := slices.Clone(have)
	for _, t := range tags {
		if err := checkTag(t); err != nil {
			return nil, err
		}
		if i := slices.IndexFunc(out, func(o Tag) bool { return o.Key == t.Key }); i >= 0 {
			out[i].Value = t.Value
			continue
		}
		out = append(out, t)
	}
	if len(out) > MaxTagsPerResource {
		return nil, errorf(CodeTagLimitExceeded, "The maximum number of tags (%d) per resource has been reached.", MaxTagsPerResource)
	}
	return out, nil
}

// TagRemoval names a tag to delete: by key, and when Value is not nil only
// if the tag has that value.
type TagRemoval struct {
	Key   string
	Value *string
}

// CreateTags sets tags on every group of ids, all or none.
func (g *Groups) CreateTags(ctx context.Context, ids []string, tags []Tag) error {
	return g.cfg.Store.Update(ctx, func(tx store.Tx) error {
		for _, id := range ids {
			sg, err := g.find(tx, Ref{ID: id})
			if err != nil {
				return err
			}
			if sg.Tags, err = mergeTags(sg.Tags, tags); err != nil {
				return err
			}
			if err := put(tx, sg); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteTags removes tags from every group of ids; with no tags given,
// every tag. Removing a tag a group does not have is not an error.
func (g *Groups) DeleteTags(ctx context.Context, ids []string, tags []TagRemoval) error {
	return g.cfg.Store.Update(ctx, func(tx store.Tx) error {
		for _, id := range ids {
			sg, err := g.find(tx, Ref{ID: id})
			if err != nil {
				return err
			}
			sg.Tags = slices.DeleteFunc(sg.Tags, func(t Tag) bool {
				if len(tags) == 0 {
					return true
				}
				return slices.ContainsFunc(tags, func(r TagRemoval) bool {
					return r.Key == t.Key && (r.Value == nil || *r.Value == t.Value)
				})
			})
			if err := put(tx, sg); err != nil {
				return err
			}
		}
		return nil
	})
}
