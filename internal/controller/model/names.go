package model

import (
	"fmt"
	"regexp"
	"strings"
)

var nonAlnum = regexp.MustCompile("[[:^alnum:]]")

// Alnum returns s without its characters that are not letters or digits.
func Alnum(s string) string { return nonAlnum.ReplaceAllString(s, "") }

// GeneratedName is k8s-<namespace>-<name>-<hash>, as the AWS Load Balancer
// Controller names the load balancers and target groups it generates:
// namespace and name stripped of non-alphanumerics and cut to 8
// characters, hash cut to 10.
func GeneratedName(namespace, name, hash string) string {
	return fmt.Sprintf("k8s-%.8s-%.8s-%.10s", Alnum(namespace), Alnum(name), hash)
}

// ValidLoadBalancerName reports whether a load balancer name a user gives
// (an annotation, IngressClassParams) is made of letters, digits and
// single hyphens, neither first nor last, and does not start with
// "internal-". Its length is the caller's to check.
func ValidLoadBalancerName(name string) bool {
	if strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-") || strings.HasPrefix(name, "internal-") || strings.Contains(name, "--") {
		return false
	}
	for _, r := range name {
		if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}
