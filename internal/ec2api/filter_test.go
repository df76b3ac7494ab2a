package ec2api

import "testing"

func TestGlob(t *testing.T) {
	for _, tt := range []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything", true},
		{"10.*", "10.0.0.0/8", true},
		{"10.*", "110.0.0.0/8", false},
		{"k8s-*-web", "k8s-default-web", true},
		{"k8s-*-web", "k8s-default-web2", false},
		{"us-west-2?", "us-west-2a", true},
		{"us-west-2?", "us-west-2", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{`a\*`, "a*", true},
		{`a\*`, "ab", false},
		{`a\?`, "a?", true},
		{"é?", "éé", true},
	} {
		if got := glob(tt.pattern, tt.s); got != tt.want {
			t.Errorf("glob(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestZoneID(t *testing.T) {
	for _, tt := range []struct {
		region string
		i      int
		want   string
	}{
		{"us-west-2", 0, "usw2-az1"},
		{"eu-central-1", 2, "euc1-az3"},
	} {
		if got := zoneID(tt.region, tt.i); got != tt.want {
			t.Errorf("zoneID(%s, %d) = %s, want %s", tt.region, tt.i, got, tt.want)
		}
	}
}
