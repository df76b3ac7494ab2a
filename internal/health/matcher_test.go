package health

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMatcher(t *testing.T) {
	tests := []struct {
		matcher string
		match   []int
		noMatch []int
		wantErr bool
	}{
		{matcher: "200", match: []int{200}, noMatch: []int{199, 201, 503}},
		{matcher: "200,202", match: []int{200, 202}, noMatch: []int{201, 204}},
		{matcher: "200-399", match: []int{200, 301, 399}, noMatch: []int{199, 400, 503}},
		{matcher: "200, 300-302,404", match: []int{200, 300, 302, 404}, noMatch: []int{303, 403}},
		{matcher: "", wantErr: true},
		{matcher: "ok", wantErr: true},
		{matcher: "399-200", wantErr: true},
		{matcher: "200-", wantErr: true},
		{matcher: "99", wantErr: true},
		{matcher: "600", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.matcher, func(t *testing.T) {
			m, err := parseMatcher(tt.matcher)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseMatcher(%q) error = %v, want error %v", tt.matcher, err, tt.wantErr)
			}
			var gotMatch, gotNoMatch []int
			for _, c := range tt.match {
				if m.matches(c) {
					gotMatch = append(gotMatch, c)
				}
			}
			for _, c := range tt.noMatch {
				if !m.matches(c) {
					gotNoMatch = append(gotNoMatch, c)
				}
			}
			if diff := cmp.Diff(tt.match, gotMatch); diff != "" {
				t.Errorf("codes matched (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.noMatch, gotNoMatch); diff != "" {
				t.Errorf("codes not matched (-want +got):\n%s", diff)
			}
		})
	}
}
