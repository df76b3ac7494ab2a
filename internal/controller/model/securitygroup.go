package model

import (
	"slices"
	"strings"
)

// ResourceManagedSecurityGroup is the resource tag value of the frontend
// security group kelb controller makes for a load balancer, the AWS Load
// Balancer Controller's.
const ResourceManagedSecurityGroup = "ManagedLBSecurityGroup"

// ManagedSecurityGroupDescription is the description the AWS Load Balancer
// Controller gives the frontend security groups it makes.
const ManagedSecurityGroupDescription = "[k8s] Managed SecurityGroup for LoadBalancer"

// ManagedSecurityGroup is the frontend security group kelb controller makes
// for a load balancer whose object names no security group, as the AWS
// Load Balancer Controller does: its ingress rules admit the source ranges
// to each listener port, and kelb server enforces them on the listeners.
type ManagedSecurityGroup struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Tags        map[string]string `json:"tags"`
	Ingress     []IngressRule     `json:"ingress"`
}

// IngressRule admits one network to one port over one protocol.
type IngressRule struct {
	// Protocol is "tcp" or "udp".
	Protocol string `json:"protocol"`
	Port     int32  `json:"port"`
	CIDR     string `json:"cidr"`
}

// IngressRules admits each of cidrs to port over protocol (TCP, UDP,
// TCP_UDP; TLS, HTTP and HTTPS are TCP).
func IngressRules(protocol string, port int32, cidrs []string) []IngressRule {
	protos := []string{"tcp"}
	switch strings.ToUpper(protocol) {
	case "UDP":
		protos = []string{"udp"}
	case "TCP_UDP":
		protos = []string{"tcp", "udp"}
	}
	var out []IngressRule
	for _, p := range protos {
		for _, c := range cidrs {
			out = append(out, IngressRule{Protocol: p, Port: port, CIDR: c})
		}
	}
	return out
}

// SourceRangesAttribute is the value of the kelb.source_ranges.cidrs
// listener attribute that admits what g admits to port, for a load
// balancer that cannot carry g (an NLB made without security groups, or
// kelb controller without an EC2 API): the networks of g's rules for the
// port, or "" when they admit every source of the load balancer's address
// family (ipType).
func (g *ManagedSecurityGroup) SourceRangesAttribute(port int32, ipType string) string {
	if g == nil {
		return ""
	}
	var cidrs []string
	for _, r := range g.Ingress {
		if r.Port == port && !slices.Contains(cidrs, r.CIDR) {
			cidrs = append(cidrs, r.CIDR)
		}
	}
	if slices.Contains(cidrs, "0.0.0.0/0") && (ipType != "dualstack" || slices.Contains(cidrs, "::/0")) {
		return ""
	}
	return strings.Join(cidrs, ",")
}
