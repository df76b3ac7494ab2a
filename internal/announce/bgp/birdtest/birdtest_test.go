package birdtest

import (
	"slices"
	"testing"
)

func TestParseNextHops(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want []string
	}{
		{out: "", want: nil},
		{out: "198.19.1.10 via 198.18.0.12 dev rtr0 proto bird metric 32 \n", want: []string{"198.18.0.12"}},
		{out: "198.19.1.10 proto bird metric 32 \n\tnexthop via 198.18.0.12 dev rtr0 weight 1 \n\tnexthop via 198.18.0.11 dev rtr0 weight 1 \n",
			want: []string{"198.18.0.11", "198.18.0.12"}},
	} {
		if got := ParseNextHops(tc.out); !slices.Equal(got, tc.want) {
			t.Errorf("ParseNextHops(%q) = %v, want %v", tc.out, got, tc.want)
		}
	}
}
