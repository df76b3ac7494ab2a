package elbapi

import (
	"encoding/base64"
	"sort"
)

// Pagination of Describe* results by Marker and PageSize, as ELBv2 does it.
//
// The marker handed to the client is an opaque encoding of the key of the
// first item of the next page. The next request resumes at the item with that
// key; when that item has gone in the meantime and the items are sorted by
// key, it resumes at the first key after it, so a deletion between two pages
// skips nothing that remains. Otherwise a vanished marker is a
// ValidationError, as a marker AWS cannot decode is.

const (
	defaultPageSize = 400
	maxPageSize     = 400
)

// Paginate returns the page of items the request's Marker and PageSize
// select (PageSize 1..400, default 400) and the NextMarker to send back, ""
// on the last page. markerOf returns the stable key of an item (its ARN, or
// its name). items must be in the same order on every call.
func Paginate[T any](items []T, p Params, markerOf func(T) string) (page []T, nextMarker string, err error) {
	size := defaultPageSize
	if n, ok, err := p.Int32("PageSize"); err != nil {
		return nil, "", err
	} else if ok {
		if n < 1 || n > maxPageSize {
			return nil, "", ValidationError("1 validation error detected: Value '%d' at 'pageSize' failed to satisfy constraint: Member must have value between 1 and %d", n, maxPageSize)
		}
		size = int(n)
	}
	start := 0
	if m := p.StringPtr("Marker"); m != nil && *m != "" {
		key, derr := base64.RawURLEncoding.DecodeString(*m)
		if derr != nil {
			return nil, "", ValidationError("Invalid value for Marker: '%s'", *m)
		}
		start = -1
		for i, it := range items {
			if markerOf(it) == string(key) {
				start = i
				break
			}
		}
		if start < 0 {
			sorted := sort.SliceIsSorted(items, func(i, j int) bool { return markerOf(items[i]) < markerOf(items[j]) })
			if !sorted {
				return nil, "", ValidationError("Invalid value for Marker: '%s'", *m)
			}
			start = sort.Search(len(items), func(i int) bool { return markerOf(items[i]) > string(key) })
		}
	}
	end := min(start+size, len(items))
	page = items[start:end]
	if end < len(items) {
		nextMarker = base64.RawURLEncoding.EncodeToString([]byte(markerOf(items[end])))
	}
	return page, nextMarker, nil
}
