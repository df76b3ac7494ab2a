package deploy_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/model"
)

func TestChangedListenerAttributes(t *testing.T) {
	const src = model.ListenerAttributeSourceRanges
	tests := []struct {
		name       string
		want, have map[string]string
		changed    map[string]string
	}{
		{"same", map[string]string{src: "10.0.0.0/8"}, map[string]string{src: "10.0.0.0/8", "other": "x"}, nil},
		{"changed", map[string]string{src: "10.0.0.0/8"}, map[string]string{src: "192.0.2.0/24"}, map[string]string{src: "10.0.0.0/8"}},
		{"missing", map[string]string{"a": "1"}, map[string]string{}, map[string]string{"a": "1"}},
		{"no longer restricted", nil, map[string]string{src: "10.0.0.0/8", "other": "x"}, map[string]string{src: ""}},
		{"never restricted", nil, map[string]string{src: ""}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := deploy.ChangedListenerAttributes(tt.want, tt.have)
			if diff := cmp.Diff(tt.changed, got); diff != "" {
				t.Errorf("changed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDiffTags(t *testing.T) {
	tests := []struct {
		name       string
		want, have map[string]string
		set        map[string]string
		remove     []string
	}{
		{"same", map[string]string{"a": "1"}, map[string]string{"a": "1"}, nil, nil},
		{"set and remove", map[string]string{"a": "2", "b": "1"}, map[string]string{"a": "1", "d": "x", "c": "y"}, map[string]string{"a": "2", "b": "1"}, []string{"c", "d"}},
		{"remove all", nil, map[string]string{"a": "1"}, nil, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, remove := deploy.DiffTags(tt.want, tt.have)
			if diff := cmp.Diff(tt.set, set); diff != "" {
				t.Errorf("set (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.remove, remove); diff != "" {
				t.Errorf("remove (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSameZones(t *testing.T) {
	lb := &deploy.ActualLoadBalancer{Subnets: []string{"subnet-a", "subnet-b"}, Zones: []string{"us-west-2a", "us-west-2b"}}
	tests := []struct {
		want []string
		same bool
	}{
		{[]string{"subnet-a", "subnet-b"}, true},
		{[]string{"us-west-2b", "subnet-a"}, true},
		{[]string{"subnet-a"}, false},
		{[]string{"subnet-a", "subnet-c"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := deploy.SameZones(tt.want, lb); got != tt.same {
			t.Errorf("SameZones(%v) = %v, want %v", tt.want, got, tt.same)
		}
	}
}
