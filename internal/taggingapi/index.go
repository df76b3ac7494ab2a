package taggingapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/kelb-io/kelb/internal/certstore"
	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/secgroup"
)

// Tag is a resource tag.
type Tag struct {
	Key   string
	Value string
}

// Resource is one tagged resource.
type Resource struct {
	ARN string
	// Type is service:resource-type as the ARN spells them, such as
	// elasticloadbalancing:loadbalancer or ec2:security-group: what
	// ResourceTypeFilters match.
	Type string
	Tags []Tag
}

// Source is a store kind whose records carry tags.
type Source struct {
	Kind string
	// Tags returns the tagged resources one record holds (none when it
	// has no tags).
	Tags func(key string, value []byte) ([]Resource, error)
}

// Sources returns the sources of kelb server's store: the ELBv2 resources
// (elb.TaggedKinds), security groups (ec2:security-group, whose ARNs
// carry region and account) and ACM certificates.
func Sources(region, account string) []Source {
	var out []Source
	for _, k := range elb.TaggedKinds() {
		out = append(out, Source{Kind: k.Kind, Tags: func(key string, value []byte) ([]Resource, error) {
			descs, err := k.Tags(key, value)
			if err != nil {
				return nil, err
			}
			res := make([]Resource, 0, len(descs))
			for _, d := range descs {
				r := Resource{ARN: d.ResourceARN, Type: ResourceType(d.ResourceARN)}
				for _, t := range d.Tags {
					r.Tags = append(r.Tags, Tag{Key: t.Key, Value: t.Value})
				}
				res = append(res, r)
			}
			return res, nil
		}})
	}
	sgPrefix := "arn:aws:ec2:" + region + ":" + account + ":security-group/"
	out = append(out,
		Source{Kind: secgroup.Kind, Tags: recordTags(func(key string) string { return sgPrefix + key })},
		Source{Kind: certstore.Kind, Tags: recordTags(func(key string) string { return key })},
	)
	return out
}

// recordTags reads the Tags of a record whose ARN arn derives from its key.
func recordTags(arn func(key string) string) func(key string, value []byte) ([]Resource, error) {
	return func(key string, value []byte) ([]Resource, error) {
		var rec struct{ Tags []Tag }
		if err := json.Unmarshal(value, &rec); err != nil {
			return nil, fmt.Errorf("decode tags of %s: %w", key, err)
		}
		if len(rec.Tags) == 0 {
			return nil, nil
		}
		a := arn(key)
		return []Resource{{ARN: a, Type: ResourceType(a), Tags: rec.Tags}}, nil
	}
}

// ResourceType returns the service:resource-type of an ARN
// (arn:partition:service:region:account:type/id or type:id), or "" for
// a string that is not an ARN.
func ResourceType(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] == "" {
		return ""
	}
	res := parts[5]
	if i := strings.IndexAny(res, "/:"); i >= 0 {
		res = res[:i]
	}
	return parts[2] + ":" + res
}

// Index is an inverted index of the tags of the store's resources: tag
// key -> value -> resources. It follows the store lazily: a query first
// reads the store's revision inside a read transaction and, when it moved,
// lists the tagged kinds again and re-decodes only the records whose
// stored bytes changed. A query after a change therefore costs one read
// of the tagged kinds' stored bytes (a copy and a comparison per record,
// no decoding of unchanged records); a query with no change in between
// costs one revision read. Matching then touches only the resources of
// the most selective tag filter, not every resource.
type Index struct {
	store   store.Store
	sources []Source

	mu        sync.Mutex
	built     bool
	rev       int64
	records   map[recordKey]record
	resources map[string]*Resource
	byTag     map[string]map[string]map[string]bool // key -> value -> ARN set
}

type recordKey struct{ kind, key string }

type record struct {
	raw  []byte
	arns []string
}

// NewIndex returns an index of st's records of sources.
func NewIndex(st store.Store, sources []Source) *Index {
	return &Index{store: st, sources: sources, records: map[recordKey]record{},
		resources: map[string]*Resource{}, byTag: map[string]map[string]map[string]bool{}}
}

// view brings the index up to date with the store and runs fn on it,
// holding the index's lock: fn must not keep what it reads.
func (x *Index) view(ctx context.Context, fn func() error) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	err := x.store.View(ctx, func(tx store.ReadTx) error {
		if x.built && tx.Revision() == x.rev {
			return nil
		}
		return x.refresh(tx)
	})
	if err != nil {
		// The index may be half updated: the next query rebuilds it.
		x.built = false
		return fmt.Errorf("read tags: %w", err)
	}
	return fn()
}

func (x *Index) refresh(tx store.ReadTx) error {
	seen := make(map[recordKey]bool, len(x.records))
	for _, src := range x.sources {
		kvs, err := tx.List(src.Kind)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			rk := recordKey{src.Kind, kv.Key}
			seen[rk] = true
			old, ok := x.records[rk]
			if ok && bytes.Equal(old.raw, kv.Value) {
				continue
			}
			res, err := src.Tags(kv.Key, kv.Value)
			if err != nil {
				return err
			}
			x.drop(old.arns)
			rec := record{raw: kv.Value}
			for i := range res {
				x.add(&res[i])
				rec.arns = append(rec.arns, res[i].ARN)
			}
			x.records[rk] = rec
		}
	}
	for rk, rec := range x.records {
		if !seen[rk] {
			x.drop(rec.arns)
			delete(x.records, rk)
		}
	}
	x.rev, x.built = tx.Revision(), true
	return nil
}

func (x *Index) add(r *Resource) {
	x.resources[r.ARN] = r
	for _, t := range r.Tags {
		values := x.byTag[t.Key]
		if values == nil {
			values = map[string]map[string]bool{}
			x.byTag[t.Key] = values
		}
		arns := values[t.Value]
		if arns == nil {
			arns = map[string]bool{}
			values[t.Value] = arns
		}
		arns[r.ARN] = true
	}
}

func (x *Index) drop(arns []string) {
	for _, arn := range arns {
		r := x.resources[arn]
		if r == nil {
			continue
		}
		delete(x.resources, arn)
		for _, t := range r.Tags {
			values := x.byTag[t.Key]
			delete(values[t.Value], arn)
			if len(values[t.Value]) == 0 {
				delete(values, t.Value)
			}
			if len(values) == 0 {
				delete(x.byTag, t.Key)
			}
		}
	}
}

// TagFilter selects resources with tag Key and, when Values is not
// empty, one of Values.
type TagFilter struct {
	Key    string
	Values []string
}

// Query selects resources: those named by ARNs, or those matching every
// TagFilter and any of Types (service or service:resource-type; none:
// every type).
type Query struct {
	ARNs       []string
	TagFilters []TagFilter
	Types      []string
}

// Find returns the resources q selects, sorted by ARN (in the order asked
// for q.ARNs, each once), copied out of the index.
func (x *Index) Find(ctx context.Context, q Query) ([]Resource, error) {
	var out []Resource
	err := x.view(ctx, func() error {
		out = x.find(q)
		return nil
	})
	return out, err
}

func (x *Index) find(q Query) []Resource {
	if q.ARNs != nil {
		var out []Resource
		seen := map[string]bool{}
		for _, arn := range q.ARNs {
			if r := x.resources[arn]; r != nil && !seen[arn] {
				seen[arn] = true
				out = append(out, clone(r))
			}
		}
		return out
	}
	var candidates map[string]bool
	if len(q.TagFilters) > 0 {
		// The most selective filter gives the candidates; the others are
		// checked on each candidate's tags.
		best := -1
		for _, f := range q.TagFilters {
			n := 0
			for _, arns := range x.filterSets(f) {
				n += len(arns)
			}
			if best < 0 || n < best {
				best = n
				candidates = map[string]bool{}
				for _, arns := range x.filterSets(f) {
					for arn := range arns {
						candidates[arn] = true
					}
				}
			}
		}
	}
	var out []Resource
	add := func(r *Resource) {
		if matchesTypes(r.Type, q.Types) && matchesFilters(r.Tags, q.TagFilters) {
			out = append(out, clone(r))
		}
	}
	if candidates != nil {
		for arn := range candidates {
			add(x.resources[arn])
		}
	} else {
		for _, r := range x.resources {
			add(r)
		}
	}
	slices.SortFunc(out, func(a, b Resource) int { return strings.Compare(a.ARN, b.ARN) })
	return out
}

// filterSets returns the ARN sets of the tag values f accepts.
func (x *Index) filterSets(f TagFilter) []map[string]bool {
	values := x.byTag[f.Key]
	var sets []map[string]bool
	if len(f.Values) == 0 {
		for _, arns := range values {
			sets = append(sets, arns)
		}
		return sets
	}
	for _, v := range uniq(f.Values) {
		if arns := values[v]; arns != nil {
			sets = append(sets, arns)
		}
	}
	return sets
}

// uniq returns s sorted, without repeats; nil when empty.
func uniq(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func matchesFilters(tags []Tag, filters []TagFilter) bool {
	for _, f := range filters {
		i := slices.IndexFunc(tags, func(t Tag) bool { return t.Key == f.Key })
		if i < 0 || (len(f.Values) > 0 && !slices.Contains(f.Values, tags[i].Value)) {
			return false
		}
	}
	return true
}

// matchesTypes reports whether a resource of type typ (service:type)
// passes the type filters: a filter names a service, or a service and
// a resource type.
func matchesTypes(typ string, filters []string) bool {
	if len(filters) == 0 {
		return true
	}
	service, _, _ := strings.Cut(typ, ":")
	for _, f := range filters {
		if f == typ || f == service {
			return true
		}
	}
	return false
}

// TagKeys returns every tag key in use, sorted.
func (x *Index) TagKeys(ctx context.Context) ([]string, error) {
	var out []string
	err := x.view(ctx, func() error {
		for k := range x.byTag {
			out = append(out, k)
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

// TagValues returns every value of tag key in use, sorted.
func (x *Index) TagValues(ctx context.Context, key string) ([]string, error) {
	var out []string
	err := x.view(ctx, func() error {
		for v := range x.byTag[key] {
			out = append(out, v)
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

func clone(r *Resource) Resource {
	c := *r
	c.Tags = slices.Clone(r.Tags)
	return c
}
