package elbapi

import (
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func pageMarker(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

func TestPaginate(t *testing.T) {
	var many []string
	for i := range 450 {
		many = append(many, fmt.Sprintf("k%03d", i))
	}
	sorted := []string{"a", "b", "c", "d", "e"}
	unsorted := []string{"d", "a", "e", "b", "c"}
	tests := []struct {
		name     string
		items    []string
		form     string
		wantPage []string
		wantNext string
		wantErr  bool
	}{
		{name: "all fits", items: sorted, wantPage: sorted},
		{name: "empty", items: nil, wantPage: nil},
		{name: "first page", items: sorted, form: "PageSize=2", wantPage: []string{"a", "b"}, wantNext: pageMarker("c")},
		{name: "middle page", items: sorted, form: "PageSize=2&Marker=" + pageMarker("c"), wantPage: []string{"c", "d"}, wantNext: pageMarker("e")},
		{name: "last page", items: sorted, form: "PageSize=2&Marker=" + pageMarker("e"), wantPage: []string{"e"}},
		{name: "exact fit has no marker", items: sorted, form: "PageSize=5", wantPage: sorted},
		{name: "default page size is 400", items: many, wantPage: many[:400], wantNext: pageMarker("k400")},
		{name: "unsorted items page in their order", items: unsorted, form: "PageSize=2&Marker=" + pageMarker("e"), wantPage: []string{"e", "b"}, wantNext: pageMarker("c")},
		{name: "vanished marker resumes after it when sorted", items: []string{"a", "b", "d", "e"}, form: "PageSize=2&Marker=" + pageMarker("c"), wantPage: []string{"d", "e"}},
		{name: "vanished marker in unsorted items", items: unsorted, form: "Marker=" + pageMarker("zz"), wantErr: true},
		{name: "undecodable marker", items: sorted, form: "Marker=%25%25", wantErr: true},
		{name: "page size 0", items: sorted, form: "PageSize=0", wantErr: true},
		{name: "page size 401", items: sorted, form: "PageSize=401", wantErr: true},
		{name: "page size not a number", items: sorted, form: "PageSize=ten", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, next, err := Paginate(tt.items, mustParseForm(t, tt.form), func(s string) string { return s })
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				if e, ok := err.(*Error); !ok || e.Code != "ValidationError" {
					t.Errorf("error %v is not a ValidationError", err)
				}
				return
			}
			if diff := cmp.Diff(tt.wantPage, page); diff != "" {
				t.Errorf("page (-want +got):\n%s", diff)
			}
			if next != tt.wantNext {
				t.Errorf("next marker %q, want %q", next, tt.wantNext)
			}
		})
	}
}

// TestPaginateWalk checks that following NextMarker visits every item once.
func TestPaginateWalk(t *testing.T) {
	var items []int
	for i := range 23 {
		items = append(items, i*7%23)
	}
	key := func(i int) string { return fmt.Sprint(i) }
	for size := 1; size <= 24; size++ {
		var got []int
		marker := ""
		for pages := 0; ; pages++ {
			if pages > len(items) {
				t.Fatalf("page size %d: pagination does not end", size)
			}
			page, next, err := Paginate(items, mustParseForm(t, fmt.Sprintf("PageSize=%d&Marker=%s", size, marker)), key)
			if err != nil {
				t.Fatalf("page size %d: %v", size, err)
			}
			got = append(got, page...)
			if next == "" {
				break
			}
			marker = next
		}
		if diff := cmp.Diff(items, got); diff != "" {
			t.Errorf("page size %d (-want +got):\n%s", size, diff)
		}
	}
}
