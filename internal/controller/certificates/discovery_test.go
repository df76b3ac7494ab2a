package certificates

import (
	"slices"
	"testing"
)

func TestNameCoversHost(t *testing.T) {
	tests := []struct {
		name, host string
		want       bool
	}{
		{"app.example.test", "app.example.test", true},
		{"App.Example.test", "app.example.TEST", true},
		{"app.example.test", "www.example.test", false},
		{"*.example.test", "app.example.test", true},
		{"*.example.test", "example.test", false},
		{"*.example.test", "a.b.example.test", false}, // one level only
		{"*.example.test", "app.example.testx", false},
		{"*.example.test", "*.example.test", true},
		{"example.test", "*.example.test", false},
	}
	for _, tt := range tests {
		if got := NameCoversHost(tt.name, tt.host); got != tt.want {
			t.Errorf("NameCoversHost(%q, %q) = %v, want %v", tt.name, tt.host, got, tt.want)
		}
	}
}

func TestCovering(t *testing.T) {
	names := map[string][]string{
		"arn:c": {"*.example.test"},
		"arn:a": {"shop.example.test", "www.example.test"},
		"arn:b": {"other.test"},
	}
	arns, uncovered := Covering(names, []string{"www.example.test", "shop.example.test"})
	if !slices.Equal(arns, []string{"arn:a", "arn:c"}) || uncovered != "" {
		t.Errorf("Covering = %v, %q; want every covering certificate, sorted", arns, uncovered)
	}
	if _, uncovered := Covering(names, []string{"other.test", "a.b.example.test", "nope.test"}); uncovered != "a.b.example.test" {
		t.Errorf("uncovered = %q, want the first host none covers", uncovered)
	}
}
