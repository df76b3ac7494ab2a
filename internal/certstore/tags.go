package certstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// MaxTags is how many tags a certificate may have.
const MaxTags = 50

var tagPattern = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

// validateTags checks tags as ACM does: keys of 1 to 128 characters,
// values of at most 256, both of letters, digits, spaces and _.:/=+-@,
// no key starting with the reserved aws: prefix, at most MaxTags.
func validateTags(tags []Tag) error {
	if len(tags) > MaxTags {
		return errorf(CodeTooManyTag, "the number of tags (%d) exceeds the limit of %d tags per certificate", len(tags), MaxTags)
	}
	for _, t := range tags {
		switch n := utf8.RuneCountInString(t.Key); {
		case n < 1 || n > 128:
			return errorf(CodeInvalidTag, "tag key %q must be 1 to 128 characters long", t.Key)
		case !tagPattern.MatchString(t.Key):
			return errorf(CodeInvalidTag, "tag key %q contains characters other than letters, digits, spaces and _.:/=+-@", t.Key)
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return errorf(CodeInvalidTag, "tag key %q uses the reserved prefix aws:", t.Key)
		case utf8.RuneCountInString(t.Value) > 256:
			return errorf(CodeInvalidTag, "the value of tag %q is longer than 256 characters", t.Key)
		case !tagPattern.MatchString(t.Value):
			return errorf(CodeInvalidTag, "the value of tag %q contains characters other than letters, digits, spaces and _.:/=+-@", t.Key)
		}
	}
	return nil
}

// Tags returns the tags of certificate arn.
func (s *Store) Tags(ctx context.Context, arn string) ([]Tag, error) {
	var c Certificate
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		var err error
		c, err = getMeta(tx, arn)
		return err
	})
	return c.Tags, err
}

// AddTags adds tags to certificate arn; a tag whose key it has already
// takes the new value.
func (s *Store) AddTags(ctx context.Context, arn string, tags []Tag) error {
	if err := validateTags(tags); err != nil {
		return err
	}
	return s.updateTags(ctx, arn, func(have []Tag) ([]Tag, error) {
		for _, t := range tags {
			if i := slices.IndexFunc(have, func(h Tag) bool { return h.Key == t.Key }); i >= 0 {
				have[i].Value = t.Value
			} else {
				have = append(have, t)
			}
		}
		if len(have) > MaxTags {
			return nil, errorf(CodeTooManyTag, "the certificate would have %d tags, more than the limit of %d", len(have), MaxTags)
		}
		return have, nil
	})
}

// RemoveTags removes tags from certificate arn: a tag with a value only
// when the certificate's tag has that value, a tag without one whatever
// its value. Tags the certificate does not have are ignored.
func (s *Store) RemoveTags(ctx context.Context, arn string, tags []Tag, valueGiven []bool) error {
	return s.updateTags(ctx, arn, func(have []Tag) ([]Tag, error) {
		return slices.DeleteFunc(have, func(h Tag) bool {
			for i, t := range tags {
				if t.Key == h.Key && (!valueGiven[i] || t.Value == h.Value) {
					return true
				}
			}
			return false
		}), nil
	})
}

// updateTags rewrites the tags of certificate arn with edit, keeping its
// sealed private key as it is.
func (s *Store) updateTags(ctx context.Context, arn string, edit func([]Tag) ([]Tag, error)) error {
	return s.update(ctx, arn, func(c *Certificate) error {
		tags, err := edit(slices.Clone(c.Tags))
		if err != nil {
			return err
		}
		c.Tags = tags
		return nil
	})
}

// update rewrites the record of certificate arn with edit, in one
// transaction. The sealed private key is kept as stored, so a record whose
// key does not open can still be edited.
func (s *Store) update(ctx context.Context, arn string, edit func(*Certificate) error) error {
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		b, err := tx.Get(Kind, arn)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(CodeNotFound, "Could not find certificate %s", arn)
		}
		if err != nil {
			return err
		}
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("decode certificate %s: %w", arn, err)
		}
		if err := edit(&r.Certificate); err != nil {
			return err
		}
		nb, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode certificate %s: %w", arn, err)
		}
		return tx.Put(Kind, arn, nb)
	})
	if err != nil {
		return fmt.Errorf("update certificate %s: %w", arn, err)
	}
	return nil
}
