package tlspolicy

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/elb"
)

func TestLookup(t *testing.T) {
	tls12 := []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	}
	for _, tc := range []struct {
		name string
		want Policy
	}{
		{"", Policy{Name: elb.DefaultSSLPolicy, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13, CipherSuites: tls12}},
		{"ELBSecurityPolicy-TLS13-1-2-2021-06", Policy{Name: "ELBSecurityPolicy-TLS13-1-2-2021-06", MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13, CipherSuites: tls12}},
		{"ELBSecurityPolicy-TLS13-1-3-2021-06", Policy{Name: "ELBSecurityPolicy-TLS13-1-3-2021-06", MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13}},
		{"ELBSecurityPolicy-TLS13-1-2-Res-2021-06", Policy{Name: "ELBSecurityPolicy-TLS13-1-2-Res-2021-06", MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13, CipherSuites: tls12[2:]}},
		{"ELBSecurityPolicy-TLS-1-2-2017-01", Policy{Name: "ELBSecurityPolicy-TLS-1-2-2017-01", MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: tls12}},
		{"ELBSecurityPolicy-2016-08", Policy{Name: "ELBSecurityPolicy-2016-08", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS12,
			CipherSuites: append(tls12[:4:4], tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA)}},
	} {
		got, err := Lookup(tc.name)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", tc.name, err)
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("Lookup(%q) (-want +got):\n%s", tc.name, d)
		}
	}
	if _, err := Lookup("ELBSecurityPolicy-Nope"); err == nil {
		t.Error("Lookup of an unknown policy: no error")
	}
}

// Every policy kelb offers maps whole: each of its protocols to a Go
// version and each TLS 1.0-1.2 cipher to a Go suite, so that no policy
// silently serves less (or more) than DescribeSSLPolicies says.
func TestEveryPolicyMapsWhole(t *testing.T) {
	for _, p := range elb.SSLPolicies {
		for _, v := range p.Protocols {
			if _, ok := tlsVersions[v]; !ok {
				t.Errorf("%s: protocol %s has no Go version", p.Name, v)
			}
		}
		for _, c := range p.Ciphers {
			if _, ok := cipherSuites[c]; !ok && !strings.HasPrefix(c, "TLS_") {
				t.Errorf("%s: cipher %s has no Go suite", p.Name, c)
			}
		}
		if _, err := Lookup(p.Name); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
	}
}
