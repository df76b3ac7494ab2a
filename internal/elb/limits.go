package elb

import (
	"context"
	"slices"
	"strconv"
)

// Limit is an account limit as DescribeAccountLimits reports it.
type Limit struct {
	Name string
	Max  string
}

// AccountLimits are the limits kelb enforces (quotas.go), with AWS's
// default quota values, named as DescribeAccountLimits names them.
var AccountLimits = []Limit{
	{Name: "application-load-balancers", Max: strconv.Itoa(MaxLoadBalancersPerType)},
	{Name: "network-load-balancers", Max: strconv.Itoa(MaxLoadBalancersPerType)},
	{Name: "target-groups", Max: strconv.Itoa(MaxTargetGroups)},
	{Name: "targets-per-application-load-balancer", Max: strconv.Itoa(MaxTargetsPerApplicationLoadBalancer)},
	{Name: "targets-per-network-load-balancer", Max: strconv.Itoa(MaxTargetsPerNetworkLoadBalancer)},
	{Name: "targets-per-availability-zone-per-network-load-balancer", Max: strconv.Itoa(MaxTargetsPerZonePerNetworkLoadBalancer)},
	{Name: "target-groups-per-application-load-balancer", Max: strconv.Itoa(MaxTargetGroupsPerApplicationLoadBalancer)},
	{Name: "listeners-per-application-load-balancer", Max: strconv.Itoa(MaxListenersPerLoadBalancer)},
	{Name: "listeners-per-network-load-balancer", Max: strconv.Itoa(MaxListenersPerLoadBalancer)},
	{Name: "rules-per-application-load-balancer", Max: strconv.Itoa(MaxRulesPerLoadBalancer)},
	{Name: "condition-values-per-alb-rule", Max: strconv.Itoa(MaxConditionValuesPerRule)},
	{Name: "condition-wildcards-per-alb-rule", Max: strconv.Itoa(MaxConditionWildcardsPerRule)},
	{Name: "target-groups-per-action-on-application-load-balancer", Max: strconv.Itoa(maxForwardTargetGroups)},
	{Name: "target-groups-per-action-on-network-load-balancer", Max: "1"},
	{Name: "certificates-per-application-load-balancer", Max: strconv.Itoa(MaxCertificatesPerLoadBalancer)},
	{Name: "certificates-per-network-load-balancer", Max: strconv.Itoa(MaxCertificatesPerLoadBalancer)},
}

// DescribeAccountLimits returns the account limits, with the load
// balancer quota the service was configured with.
func (s *Service) DescribeAccountLimits(ctx context.Context) ([]Limit, error) {
	out := slices.Clone(AccountLimits)
	for i := range out {
		if out[i].Name == "application-load-balancers" || out[i].Name == "network-load-balancers" {
			out[i].Max = strconv.Itoa(s.cfg.MaxLoadBalancersPerType)
		}
	}
	return out, nil
}

// SSLPolicy is a TLS security policy of TLS and HTTPS listeners.
type SSLPolicy struct {
	Name                       string
	Protocols                  []string
	Ciphers                    []string
	SupportedLoadBalancerTypes []string
}

var bothTypes = []string{TypeApplication, TypeNetwork}

var tls12Ciphers = []string{
	"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
	"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
}

var tls13Ciphers = []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}

// SSLPolicies are the security policies kelb offers, named as ELBv2 names
// them; the data plane maps them to Go TLS configurations.
var SSLPolicies = []SSLPolicy{
	{Name: "ELBSecurityPolicy-TLS13-1-2-2021-06", Protocols: []string{"TLSv1.2", "TLSv1.3"},
		Ciphers: append(slices.Clone(tls13Ciphers), tls12Ciphers...), SupportedLoadBalancerTypes: bothTypes},
	{Name: "ELBSecurityPolicy-TLS13-1-3-2021-06", Protocols: []string{"TLSv1.3"},
		Ciphers: tls13Ciphers, SupportedLoadBalancerTypes: bothTypes},
	{Name: "ELBSecurityPolicy-TLS13-1-2-Res-2021-06", Protocols: []string{"TLSv1.2", "TLSv1.3"},
		Ciphers: append(slices.Clone(tls13Ciphers), tls12Ciphers[2:]...), SupportedLoadBalancerTypes: bothTypes},
	{Name: "ELBSecurityPolicy-TLS-1-2-2017-01", Protocols: []string{"TLSv1.2"},
		Ciphers: tls12Ciphers, SupportedLoadBalancerTypes: bothTypes},
	{Name: "ELBSecurityPolicy-2016-08", Protocols: []string{"TLSv1", "TLSv1.1", "TLSv1.2"},
		Ciphers: append(slices.Clone(tls12Ciphers), "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA"), SupportedLoadBalancerTypes: bothTypes},
}

// DescribeSSLPolicies returns the named policies (all when names is empty)
// that support lbType (any type when empty).
func (s *Service) DescribeSSLPolicies(ctx context.Context, names []string, lbType string) ([]SSLPolicy, error) {
	var out []SSLPolicy
	for _, name := range names {
		i := slices.IndexFunc(SSLPolicies, func(p SSLPolicy) bool { return p.Name == name })
		if i < 0 {
			return nil, errorf(CodeSSLPolicyNotFound, "SSL policy '%s' not found", name)
		}
		out = append(out, SSLPolicies[i])
	}
	if len(names) == 0 {
		out = slices.Clone(SSLPolicies)
	}
	if lbType != "" {
		out = slices.DeleteFunc(out, func(p SSLPolicy) bool { return !slices.Contains(p.SupportedLoadBalancerTypes, lbType) })
	}
	return out, nil
}
