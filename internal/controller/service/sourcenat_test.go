package service

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/kelb-io/kelb/internal/controller/deploy"
)

// sourceNatService is a dualstack Service in two subnets with the source
// NAT annotations ann (a "" value removes the annotation).
func sourceNatService(ann map[string]string) *corev1.Service {
	return planService(func(s *corev1.Service) {
		s.Annotations[AnnotationIPAddressType] = "dualstack"
		s.Annotations[AnnotationSubnets] = "subnet-a, subnet-b"
		for k, v := range ann {
			if v == "" {
				delete(s.Annotations, k)
				continue
			}
			s.Annotations[k] = v
		}
	})
}

func TestBuildSourceNat(t *testing.T) {
	for _, tc := range []struct {
		name         string
		ann          map[string]string
		wantSetting  string
		wantPrefixes []string
	}{
		{name: "not set"},
		{name: "off", ann: map[string]string{AnnotationEnablePrefixForIPv6SourceNat: "off"}, wantSetting: "off"},
		{name: "off on an IPv4 load balancer", ann: map[string]string{AnnotationEnablePrefixForIPv6SourceNat: "off", AnnotationIPAddressType: "ipv4"}, wantSetting: "off"},
		{name: "on, prefixes assigned", ann: map[string]string{AnnotationEnablePrefixForIPv6SourceNat: " on "}, wantSetting: "on"},
		{name: "on, a prefix per subnet", ann: map[string]string{
			AnnotationEnablePrefixForIPv6SourceNat: "on",
			AnnotationSourceNatIPv6Prefixes:        "2001:db8:1:0:1::/80, auto_assigned",
		}, wantSetting: "on", wantPrefixes: []string{"2001:db8:1:0:1::/80", "auto_assigned"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := Build(sourceNatService(tc.ann), testOptions)
			if err != nil {
				t.Fatal(err)
			}
			lb := st.LoadBalancer
			if lb.EnablePrefixForIPv6SourceNat != tc.wantSetting || !slices.Equal(lb.SourceNatIPv6Prefixes, tc.wantPrefixes) {
				t.Errorf("source NAT %q %q, want %q %q", lb.EnablePrefixForIPv6SourceNat, lb.SourceNatIPv6Prefixes, tc.wantSetting, tc.wantPrefixes)
			}
			for _, w := range st.Warnings {
				if strings.Contains(w, "source-nat") {
					t.Errorf("warning %q: the annotations are read, not ignored", w)
				}
			}
		})
	}
}

// A malformed source NAT annotation fails the build with an error naming
// it and what is wrong, as the AWS Load Balancer Controller checks them.
func TestBuildSourceNatErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ann    map[string]string
		key    string
		reason string
	}{
		{"not on or off", map[string]string{AnnotationEnablePrefixForIPv6SourceNat: "true"}, AnnotationEnablePrefixForIPv6SourceNat, `must be "on" or "off"`},
		{"on without dualstack", map[string]string{AnnotationEnablePrefixForIPv6SourceNat: "on", AnnotationIPAddressType: ""}, AnnotationEnablePrefixForIPv6SourceNat, "dualstack load balancers only"},
		{"prefixes without dualstack", map[string]string{AnnotationSourceNatIPv6Prefixes: "auto_assigned,auto_assigned", AnnotationIPAddressType: "ipv4"}, AnnotationSourceNatIPv6Prefixes, "dualstack load balancers only"},
		{"prefixes without on", map[string]string{AnnotationEnablePrefixForIPv6SourceNat: "off", AnnotationSourceNatIPv6Prefixes: "auto_assigned,auto_assigned"}, AnnotationSourceNatIPv6Prefixes, `set to "on"`},
		{"prefixes without subnets", map[string]string{AnnotationEnablePrefixForIPv6SourceNat: "on", AnnotationSourceNatIPv6Prefixes: "auto_assigned", AnnotationSubnets: ""}, AnnotationSourceNatIPv6Prefixes, "which is not set"},
		{"fewer prefixes than subnets", map[string]string{AnnotationEnablePrefixForIPv6SourceNat: "on", AnnotationSourceNatIPv6Prefixes: "auto_assigned"}, AnnotationSourceNatIPv6Prefixes, "has 1 prefixes for the 2 subnets"},
		{"empty item", map[string]string{AnnotationEnablePrefixForIPv6SourceNat: "on", AnnotationSourceNatIPv6Prefixes: "auto_assigned,,auto_assigned"}, AnnotationSourceNatIPv6Prefixes, "empty item"},
		{"a /64", map[string]string{AnnotationEnablePrefixForIPv6SourceNat: "on", AnnotationSourceNatIPv6Prefixes: "2001:db8:1::/64,auto_assigned"}, AnnotationSourceNatIPv6Prefixes, `"2001:db8:1::/64" is not a /80 IPv6 network`},
		{"an IPv4 network", map[string]string{AnnotationEnablePrefixForIPv6SourceNat: "on", AnnotationSourceNatIPv6Prefixes: "auto_assigned,10.0.0.0/8"}, AnnotationSourceNatIPv6Prefixes, `"10.0.0.0/8" is not`},
		{"host bits set", map[string]string{AnnotationEnablePrefixForIPv6SourceNat: "on", AnnotationSourceNatIPv6Prefixes: "2001:db8:1:0:1::1/80,auto_assigned"}, AnnotationSourceNatIPv6Prefixes, "is not a /80"},
		{"an address", map[string]string{AnnotationEnablePrefixForIPv6SourceNat: "on", AnnotationSourceNatIPv6Prefixes: "2001:db8::1,auto_assigned"}, AnnotationSourceNatIPv6Prefixes, "is not a /80"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(sourceNatService(tc.ann), testOptions)
			var aerr *AnnotationError
			if !errors.As(err, &aerr) || aerr.Key != tc.key || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("error %v, want an annotation error for %s saying %q", err, tc.key, tc.reason)
			}
		})
	}
}

// The plan changes the source NAT through SetSubnets only where kelb
// server holds something else than the Service asks.
func TestDiffSourceNat(t *testing.T) {
	on := map[string]string{AnnotationEnablePrefixForIPv6SourceNat: "on"}
	for _, tc := range []struct {
		name       string
		ann        map[string]string
		setting    string   // the load balancer's
		prefixes   []string // its subnets'
		wantSubnet []string
		want       *deploy.SourceNatChange
	}{
		{name: "not set", setting: "on", prefixes: []string{"2001:db8:1:0:1::/80", "2001:db8:2:0:1::/80"}},
		{name: "turned on", ann: on, setting: "off", prefixes: []string{"", ""},
			wantSubnet: []string{"subnet-a", "subnet-b"}, want: &deploy.SourceNatChange{Setting: "on"}},
		{name: "on already", ann: on, setting: "on", prefixes: []string{"2001:db8:1:0:1::/80", "2001:db8:2:0:1::/80"}},
		{name: "turned off", ann: map[string]string{AnnotationEnablePrefixForIPv6SourceNat: "off"}, setting: "on", prefixes: []string{"2001:db8:1:0:1::/80", "2001:db8:2:0:1::/80"},
			wantSubnet: []string{"subnet-a", "subnet-b"}, want: &deploy.SourceNatChange{Setting: "off"}},
		{name: "prefixes held", ann: map[string]string{AnnotationEnablePrefixForIPv6SourceNat: "on", AnnotationSourceNatIPv6Prefixes: "auto_assigned,2001:db8:2:0:1::/80"},
			setting: "on", prefixes: []string{"2001:db8:1:0:9::/80", "2001:db8:2:0:1::/80"}},
		{name: "a prefix to set", ann: map[string]string{AnnotationEnablePrefixForIPv6SourceNat: "on", AnnotationSourceNatIPv6Prefixes: "auto_assigned,2001:db8:2:0:1::/80"},
			setting: "off", prefixes: []string{"", ""},
			wantSubnet: []string{"subnet-a", "subnet-b"}, want: &deploy.SourceNatChange{Setting: "on", Prefixes: []string{"auto_assigned", "2001:db8:2:0:1::/80"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := mustBuild(t, sourceNatService(tc.ann))
			actual := deployed(st)
			actual.LoadBalancer.EnablePrefixForIPv6SourceNat = tc.setting
			actual.LoadBalancer.SourceNatIPv6Prefixes = tc.prefixes
			p := deploy.Diff(st, actual)
			if diff := cmp.Diff(tc.want, p.SetSourceNat); diff != "" {
				t.Errorf("source NAT change (-want +got):\n%s", diff)
			}
			if !slices.Equal(p.SetSubnets, tc.wantSubnet) {
				t.Errorf("SetSubnets %v, want %v", p.SetSubnets, tc.wantSubnet)
			}
			if p.Empty() != (tc.want == nil) {
				t.Errorf("plan empty %v, want %v", p.Empty(), tc.want == nil)
			}
		})
	}
}
