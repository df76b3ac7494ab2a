package ec2api

import (
	"encoding/base64"
	"slices"
	"strings"

	"github.com/kelb-io/kelb/internal/elbapi"
)

// filter is one Filter.N of a Describe request: a resource matches when
// one of its values for Name matches one of Values (* and ? are
// wildcards).
type filter struct {
	Name   string
	Values []string
}

// fields are a resource's values by filter name; tags are given apart.
type fields map[string][]string

// parseFilters reads Filter.N.Name and Filter.N.Value.M, refusing a name
// the resource does not know (known, or tag:KEY, tag-key, tag-value).
func parseFilters(p elbapi.Params, known ...string) ([]filter, error) {
	var out []filter
	for _, fp := range p.FlatStructList("Filter") {
		f := filter{Name: fp.String("Name"), Values: fp.FlatList("Value")}
		if f.Name == "" {
			return nil, errorf("InvalidParameterValue", "The filter 'null' is invalid")
		}
		if !slices.Contains(known, f.Name) && f.Name != "tag-key" && f.Name != "tag-value" && !strings.HasPrefix(f.Name, "tag:") {
			return nil, errorf("InvalidParameterValue", "The filter '%s' is invalid", f.Name)
		}
		out = append(out, f)
	}
	return out, nil
}

// tag is a resource's tag, as filters see it.
type tag struct{ Key, Value string }

// match reports whether a resource with fields f and tags passes every
// filter.
func match(filters []filter, f fields, tags []tag) bool {
	for _, flt := range filters {
		var have []string
		switch {
		case flt.Name == "tag-key":
			for _, t := range tags {
				have = append(have, t.Key)
			}
		case flt.Name == "tag-value":
			for _, t := range tags {
				have = append(have, t.Value)
			}
		case strings.HasPrefix(flt.Name, "tag:"):
			key := strings.TrimPrefix(flt.Name, "tag:")
			for _, t := range tags {
				if t.Key == key {
					have = append(have, t.Value)
				}
			}
		default:
			have = f[flt.Name]
		}
		if !slices.ContainsFunc(have, func(v string) bool {
			return slices.ContainsFunc(flt.Values, func(pattern string) bool { return glob(pattern, v) })
		}) {
			return false
		}
	}
	return true
}

// glob matches s against pattern, where * is any run of characters and ?
// any one character; \* and \? are the characters themselves.
func glob(pattern, s string) bool {
	p, str := []rune(pattern), []rune(s)
	// Iterative matching with one backtrack point for the last *.
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(str) {
		switch {
		case pi < len(p) && p[pi] == '\\' && pi+1 < len(p) && p[pi+1] == str[si]:
			pi, si = pi+2, si+1
		case pi < len(p) && (p[pi] == '?' || (p[pi] != '*' && p[pi] != '\\' && p[pi] == str[si])):
			pi, si = pi+1, si+1
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi, mark = star+1, mark+1
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// paginate returns the page of items (sorted by key) that NextToken and
// MaxResults (min to 1000; absent: everything) select, and the token of
// the next page.
func paginate[T any](items []T, p elbapi.Params, min int, key func(T) string) ([]T, string, error) {
	start := 0
	if tok := p.String("NextToken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			return nil, "", errorf("InvalidPaginationToken", "Invalid pagination token '%s'", tok)
		}
		start = len(items)
		for i, it := range items {
			if key(it) >= string(b) {
				start = i
				break
			}
		}
	}
	n, ok, err := p.Int32("MaxResults")
	if err != nil {
		return nil, "", errorf("InvalidParameterValue", "Invalid value '%s' for MaxResults", p.String("MaxResults"))
	}
	if !ok {
		return items[start:], "", nil
	}
	if int(n) < min || n > 1000 {
		return nil, "", errorf("InvalidParameterValue", "Value ( %d ) for parameter maxResults is invalid. Expecting a value between %d and 1000.", n, min)
	}
	end := start + int(n)
	if end >= len(items) {
		return items[start:], "", nil
	}
	return items[start:end], base64.RawURLEncoding.EncodeToString([]byte(key(items[end]))), nil
}
